"""A loop's pass hands its desired state to the next (``pipeline.Carry``): reused while the
directory gives back the same snapshot and every host input is equal, built again when a
manifest or a file a container takes in (an env file) changed."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.converge.carry import Carry
from reconciler.loop.runner import Loop
from reconciler.loop.settings import LoopSettings
from reconciler.policy import Policy
from reconciler.state.database import State
from reconciler.values.desired import DesiredState, HostInputs
from reconciler.values.observed import ImageInfo
from tests.converge.recording_runtime import RecordingRuntime

IMAGE_REF = "plain:test"
IMAGE = ImageInfo(id="sha256:" + "b" * 64)
MANIFEST = """apiVersion: reconcile/v1
kind: Container
metadata: {{name: web}}
spec:
  image: {image}
  env: {{A: "{a}"}}
  envFiles: [{{path: {env}}}]
"""


def test_the_desired_state_is_built_again_only_when_its_inputs_change(tmp_path: Path) -> None:
    directory, env = tmp_path / "m", tmp_path / "web.env"
    directory.mkdir()
    env.write_text("B=1\n")
    manifest = directory / "web.yaml"
    manifest.write_text(MANIFEST.format(a="1", env=env, image=IMAGE_REF))
    state = State.open(tmp_path / "state")
    runtime = RecordingRuntime(images={IMAGE_REF: IMAGE})
    loop = Loop(LoopSettings(directory, "shop", Policy()), runtime, state)
    loop.watcher = None
    try:
        assert loop.run_pass(["start"]).outcome == "ok"
        first = loop.carry.desired
        assert first is not None and first.containers["web"].config.env == (("A", "1"), ("B", "1"))
        assert loop.run_pass(["quiet"]).outcome == "ok"
        assert loop.carry.desired is first, "a quiet pass builds nothing again"

        env.write_text("B=2\n")  # the manifest is unchanged; what the container takes in is not
        assert loop.run_pass(["inputs"]).outcome == "ok"
        second = loop.carry.desired
        assert second is not first and second.containers["web"].config.env[-1] == ("B", "2")

        manifest.write_text(MANIFEST.format(a="2", env=env, image=IMAGE_REF))
        os.utime(manifest, (1, 1))  # a new stat, whatever the clock's resolution
        assert loop.run_pass(["files"]).outcome == "ok"
        third = loop.carry.desired
        assert third is not second and third.containers["web"].config.env[0] == ("A", "2")
    finally:
        state.close()


def test_carry_compares_the_admission_by_identity_and_the_inputs_by_value() -> None:
    built: list[DesiredState] = []

    def build() -> DesiredState:
        built.append(DesiredState("shop", {}, {}, {}))
        return built[-1]

    carry, admission, other = Carry(), object(), object()
    inputs = {"web": HostInputs((("B", "1"),))}
    one = carry.desired_for("shop", admission, inputs, build)  # type: ignore[arg-type]
    same = {"web": HostInputs((("B", "1"),))}
    assert carry.desired_for("shop", admission, same, build) is one  # type: ignore[arg-type]
    assert carry.desired_for("shop", other, same, build) is not one  # type: ignore[arg-type]
    changed = {"web": HostInputs((("B", "2"),))}
    carry.desired_for("shop", other, changed, build)  # type: ignore[arg-type]
    carry.desired_for("other", other, changed, build)  # type: ignore[arg-type]
    assert len(built) == 4
