"""The loop watches the host files containers take their inputs from: a configuration file
bind-mounted from outside the manifest directory is edited, and the container is recreated
within the debounce, once; an unchanged file brings no pass that changes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.loop_helpers import LoopRig

pytestmark = pytest.mark.docker

WITH_CONFIG = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-web}
    spec:
      image: $image
      command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 1; done"]
      restartPolicy: "no"
      stopGracePeriod: 1s
      mounts: [{type: bind, source: $conf, target: /etc/web, readOnly: true, configuration: true}]
    """


def test_editing_a_configuration_file_recreates_its_container(rig: LoopRig, tmp_path: Path) -> None:
    conf = tmp_path / "web-conf"  # outside the watched manifest directory
    conf.mkdir()
    (conf / "web.conf").write_text("workers 1\n")
    rig.write(WITH_CONFIG, "web.yaml", conf=conf)
    loop = rig.start()
    rig.eventually(lambda: rig.running("web"), "the container runs")
    first = rig.started_at("web")[0]

    (conf / "web.conf").write_text("workers 2\n")
    rig.eventually(
        lambda: rig.running("web") and rig.started_at("web")[0] != first,
        "the edited configuration recreates the container",
    )
    container = rig.container("web")
    assert container is not None
    assert container.exec_run(["cat", "/etc/web/web.conf"]).output == b"workers 2\n"
    recreates = [a for a in loop.actions() if a.get("action") == "recreate"]
    assert len(recreates) == 1, recreates
    assert "mounts[/etc/web].content" in recreates[0].get("fields", "")
    made = [a.get("action") for a in loop.actions() if a.get("action") in ("create", "recreate")]
    assert made == ["create", "recreate"]
