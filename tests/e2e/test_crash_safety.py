"""``reconcile apply`` killed with SIGKILL in the middle of a recreate and of a prune: the next
apply must converge to exactly the desired state, with no leftover.

The old containers ignore SIGTERM and have a 3 s stop grace period, so the Engine's stop (and
with it the apply) is slow enough to be interrupted at a known point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from reconciler.manifests import constants
from reconciler.manifests.constants import REPLACEMENT_SUFFIX
from reconciler.state.database import State
from tests.docker.scenario import LOOP, STUBBORN, Scenario, wait_until
from tests.e2e.conftest import RunReconcile

CONTAINER = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-$name}
    spec:
      image: $image
      command: [sh, -c, '$command']
      env: {GENERATION: "$gen"}
      stopGracePeriod: $grace
    """


def _declare(sc: Scenario, name: str, *, stubborn: bool = False, gen: int = 1) -> None:
    sc.write(
        CONTAINER,
        f"{name}.yaml",
        name=name,
        command=STUBBORN if stubborn else LOOP,
        grace="3s" if stubborn else "1s",
        gen=gen,
    )


def _args(sc: Scenario, command: str, *extra: str) -> list[str]:
    return [
        command,
        "-f",
        str(sc.directory),
        "--project",
        sc.project,
        "--state-dir",
        str(sc.state_dir),
        *extra,
    ]


def _start(reconcile_bin: Path, sc: Scenario, *args: str) -> subprocess.Popen[str]:
    """``reconcile ARGS`` on the scenario's project, in the background."""
    return subprocess.Popen(
        [str(reconcile_bin), *_args(sc, *args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)


def _exists(sc: Scenario, name: str) -> bool:
    # One list call (the high-level list inspects every match): cheap enough to poll.
    listed = sc.client.api.containers(all=True, filters={"name": name})
    return any(f"/{name}" in c.get("Names", ()) for c in listed)


def _stop_signalled(sc: Scenario, since: int, names: set[str]) -> bool:
    """True once the Engine has sent the stop signal (SIGTERM) to one of ``names``."""
    events = sc.client.events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "kill"},
    )
    return any(e.get("Actor", {}).get("Attributes", {}).get("name") in names for e in events)


def _kill_when(process: subprocess.Popen[str], condition: bool, what: str) -> None:
    try:
        assert condition, f"never saw {what}: {process.communicate(timeout=30)}"
        assert process.poll() is None, f"apply finished before {what}: {process.communicate()}"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigkill_in_the_middle_of_a_recreate_then_apply_converges(
    sc: Scenario, reconcile_bin: Path, run_reconcile: RunReconcile
) -> None:
    _declare(sc, "app", stubborn=True)
    _ok(run_reconcile(*_args(sc, "apply")))
    old_id = sc.container("app").id
    _declare(sc, "app", stubborn=True, gen=2)

    replacement = f"{sc.project}-app{REPLACEMENT_SUFFIX}"
    process = _start(reconcile_bin, sc, "apply")
    _kill_when(process, wait_until(lambda: _exists(sc, replacement), timeout=30), "the replacement")
    # Half-way: the old container (still stopping) and its replacement both exist.
    assert sc.container_names() == sorted([f"{sc.project}-app", replacement])
    assert sc.container("app").id == old_id

    result = run_reconcile(*_args(sc, "apply"))
    _ok(result)
    assert "interrupted-recreate" in result.stdout
    assert sc.container_names() == [f"{sc.project}-app"]
    app = sc.container("app")
    assert app.id != old_id and app.status == "running"
    assert "GENERATION=2" in app.attrs["Config"]["Env"]
    assert app.labels[constants.LABEL_NAME] == f"{sc.project}-app"
    diff = run_reconcile(*_args(sc, "diff"))
    assert diff.returncode == 0, diff.stdout


def test_sigkill_in_the_middle_of_a_prune_then_apply_prune_converges(
    sc: Scenario, reconcile_bin: Path, run_reconcile: RunReconcile
) -> None:
    keep = ["keep1", "keep2", "keep3"]
    gone = ["gone1", "gone2"]
    for name in keep:
        _declare(sc, name)
    for name in gone:
        _declare(sc, name, stubborn=True)
    _ok(run_reconcile(*_args(sc, "apply")))
    for name in gone:
        (sc.directory / f"{name}.yaml").unlink()

    since = int(time.time()) - 1
    process = subprocess.Popen(
        [str(reconcile_bin), *_args(sc, "apply", "--prune")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    names = {f"{sc.project}-{n}" for n in gone}
    _kill_when(
        process,
        wait_until(lambda: _stop_signalled(sc, since, names), timeout=30, interval=0.1),
        "a pruned container being stopped",
    )
    assert names & set(sc.container_names()), "killed before any pruned container was removed"

    result = run_reconcile(*_args(sc, "apply", "--prune"))
    _ok(result)
    assert sc.container_names() == [f"{sc.project}-{n}" for n in keep]
    for name in keep:
        assert sc.container(name).status == "running"
    state = State.open(sc.state_dir)
    try:
        inventory = state.inventory(sc.project)
    finally:
        state.close()
    assert inventory == frozenset(("Container", f"{sc.project}-{n}") for n in keep)
    diff = run_reconcile(*_args(sc, "diff", "--prune"))
    assert diff.returncode == 0, diff.stdout


def test_sigterm_during_apply_finishes_the_step_in_progress_and_starts_no_other(
    sc: Scenario, reconcile_bin: Path, run_reconcile: RunReconcile
) -> None:
    _declare(sc, "app", stubborn=True)
    _declare(sc, "late")
    late = sc.directory / "late.yaml"
    late.write_text(late.read_text() + f"  dependsOn: [{{name: {sc.project}-app}}]\n")
    _ok(run_reconcile(*_args(sc, "apply")))
    late_id = sc.container("late").id
    _declare(sc, "app", stubborn=True, gen=2)
    late.write_text(late.read_text().replace('GENERATION: "1"', 'GENERATION: "2"'))

    replacement = f"{sc.project}-app{REPLACEMENT_SUFFIX}"
    process = _start(reconcile_bin, sc, "apply")
    try:
        assert wait_until(lambda: _exists(sc, replacement), timeout=30), process.communicate()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The recreate in progress completed (no leftover, one running container with the new
    # config); the step waiting on it never started; the exit status says SIGTERM.
    assert process.returncode == 128 + signal.SIGTERM, (process.returncode, out, err)
    assert "interrupted (SIGTERM): finishing the steps in progress" in err, err
    assert f"Container/{sc.project}-late: skipped: shutting down" in err or "1 skipped" in out
    assert sc.container_names() == sorted([f"{sc.project}-app", f"{sc.project}-late"])
    app = sc.container("app")
    assert app.status == "running" and "GENERATION=2" in app.attrs["Config"]["Env"]
    assert sc.container("late").id == late_id, "the late step never started"

    result = run_reconcile(*_args(sc, "apply"))
    _ok(result)
    assert "GENERATION=2" in sc.container("late").attrs["Config"]["Env"]
    _ok(run_reconcile(*_args(sc, "diff")))
