"""``reconcile run`` driven by its manifest directory: drop, edit, delete, invalid edits, editor
saves, a file written slowly, a refused mass prune and a vanished directory, each observed on
the real Engine, in the status document, the events journal and the JSON log."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.docker.scenario import LOOP
from tests.e2e.loop_helpers import CONTAINER, LoopProcess, LoopRig

# A quiet period long enough for any trigger of the loop to have fired: three debounces
# (500 ms each) plus the Engine's event settling. Used only to assert that nothing MORE happens.
QUIET = 2.0
# The rig's container, off the network (for the tests that do not need one).
OFFLINE = CONTAINER.rstrip(" ") + "      networkMode: none\n"
# The loop's quiet period for a file written moments ago (loop.settings.PRUNE_QUIET).
PRUNE_QUIET = 3.0


def settle(loop: LoopProcess, quiet: float = QUIET, timeout: float = 30.0) -> None:
    """Wait until the loop has run no pass for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    count, since = len(loop.passes()), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now_count = len(loop.passes())
        if now_count != count:
            count, since = now_count, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    pytest.fail(f"the loop never went quiet for {quiet}s\n{loop.tail()}")


def test_drop_edit_and_delete_files_converge_with_reasons(rig: LoopRig) -> None:
    for name in ("a", "b", "c"):
        rig.declare(name)
    loop = rig.start()
    rig.eventually(lambda: all(rig.running(n, gen=1) for n in "abc"), "a, b and c run")
    rig.eventually(
        lambda: {r["status"] for r in rig.status().get("resources", [])} == {"synced"},
        "every resource is reported synced",
    )
    a_before = rig.started_at("a")

    rig.declare("b", gen=2)
    rig.eventually(lambda: rig.running("b", gen=2), "b is recreated with GENERATION=2")
    (rig.directory / "c.yaml").unlink()
    rig.eventually(lambda: rig.container("c") is None, "c is pruned")
    rig.declare("d")
    rig.eventually(lambda: rig.running("d"), "a dropped file d.yaml runs")
    rig.eventually(lambda: rig.resource("d").get("status") == "synced", "d is reported synced")
    assert rig.started_at("a") == a_before, "a was not touched"
    assert rig.names() == ["a", "b", "d"]

    done = {(e["name"], e["action"], e["reason"], e["outcome"]) for e in rig.events()}
    p = rig.project
    assert {
        (f"{p}-a", "create", "missing", "done"),
        (f"{p}-b", "recreate", "config-changed", "done"),
        (f"{p}-c", "remove", "not-declared", "done"),
        (f"{p}-d", "create", "missing", "done"),
    } <= done
    assert not any(e["outcome"] != "done" for e in rig.events()), rig.events()

    # The same through the CLI, as text and as JSON.
    text = rig.cli("events")
    assert text.returncode == 0, text.stderr
    assert f"Container/{p}-b  recreate (config-changed) done: env.GENERATION" in text.stdout
    assert f"Container/{p}-c  remove (not-declared) done" in text.stdout
    as_json = json.loads(rig.cli("events", "-o", "json").stdout)
    assert {(e["name"], e["action"], e["reason"]) for e in as_json} == {
        (n, a, r) for n, a, r, _ in done
    }

    # The JSON log says the same with a reason on every action line.
    actions = {(line["resource"], line["action"], line["reason"]) for line in loop.actions()}
    assert {
        (f"Container/{p}-b", "recreate", "config-changed"),
        (f"Container/{p}-c", "remove", "not-declared"),
    } <= actions
    b_line = next(line for line in loop.actions() if line["action"] == "recreate")
    assert b_line["fields"] == "env.GENERATION"


def test_invalid_edit_keeps_the_old_container_and_reports_the_error(rig: LoopRig) -> None:
    path = rig.declare("a")
    rig.declare("b")
    loop = rig.start()
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "a is synced")
    before = rig.started_at("a")

    text = rig.container_yaml("a", gen=2).replace("restartPolicy", "restartPolcy")
    path.write_text(text)
    # A pass that another trigger starts mid-write may read the file truncated ("no
    # documents"); that is invalid too, and the pass after the write reports the real error.
    rig.eventually(
        lambda: (
            rig.resource("a").get("status") == "invalid-manifest"
            and f"{path}:8:3" in rig.resource("a").get("detail", "")
        ),
        "a is reported invalid-manifest at its line",
    )
    row = rig.resource("a")
    assert "did you mean restartPolicy?" in row["detail"]
    assert row["detail"].endswith("(last good kept)")
    assert rig.resource("b")["status"] == "synced"
    settle(loop)
    assert rig.started_at("a") == before, "the old container is untouched"
    assert rig.running("a", gen=1)

    # Fixing the file applies the edit it carried.
    rig.declare("a", gen=2)
    rig.eventually(lambda: rig.running("a", gen=2), "the fixed edit is applied")
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "a is synced again")


def test_status_reports_manifest_problems_in_json_and_text(rig: LoopRig) -> None:
    path = rig.declare("a")
    rig.start()
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "a is synced")
    path.write_text(rig.container_yaml("a", gen=2).replace("restartPolicy", "restartPolcy"))
    bad = rig.directory / "bad.yaml"
    bad.write_text("apiVersion: reconcile/v1\nkind: Container\nspec: [\n")

    def both_reported() -> bool:
        # Passes that start mid-write see a truncated file first: wait for both real errors.
        source = rig.status().get("source", {})
        return (
            rig.resource("a").get("status") == "invalid-manifest"
            and source.get("unknownFiles") == [str(bad)]
            and any(f"{path}:8:3" in p for p in source.get("problems", []))
        )

    rig.eventually(both_reported, "a and bad.yaml are reported")
    source = rig.status()["source"]
    assert source["staleFiles"] == [str(path)]
    assert source["unknownFiles"] == [str(bad)]
    assert source["pruneSafe"] is False
    assert any(f"{path}:8:3" in p for p in source["problems"]), source
    shown = rig.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    assert f"invalid manifest: {path}:8:3" in shown.stdout
    assert "invalid-manifest" in shown.stdout


def test_a_never_valid_file_blocks_prune_until_it_is_fixed(rig: LoopRig) -> None:
    for name in ("a", "b", "c"):
        rig.declare(name)
    loop = rig.start()
    rig.eventually(lambda: all(rig.running(n) for n in "abc"), "a, b and c run")

    # bad.yaml might declare anything (c, say): while it is unreadable nothing is pruned.
    bad = rig.directory / "bad.yaml"
    files = len(loop.passes_for("files"))
    bad.write_text(rig.container_yaml("c") + "  bogus: [\n")
    rig.eventually(lambda: len(loop.passes_for("files")) > files, "a pass read bad.yaml")
    (rig.directory / "c.yaml").unlink()
    rig.eventually(lambda: rig.resource("c") == {}, "a pass without c.yaml ran")
    settle(loop)
    assert rig.running("c"), "c is not pruned while bad.yaml is unknown"

    bad.write_text(rig.container_yaml("e"))
    rig.eventually(lambda: rig.running("e"), "the fixed file is applied")
    rig.eventually(lambda: rig.container("c") is None, "c is pruned once the source is whole")


def _vim_save(path: Path, content: str) -> None:
    """What vim does on :w (backupcopy=no): swap file, backup by rename, write anew."""
    swap = path.with_name(f".{path.name}.swp")
    backup = path.with_name(f"{path.name}~")
    swap.write_text("vim swap")
    probe = path.with_name("4913")  # vim checks it may create files in the directory
    probe.write_text("")
    probe.unlink()
    os.replace(path, backup)
    path.write_text(content)
    backup.unlink()
    swap.unlink()


def _rename_save(path: Path, content: str) -> None:
    """What most editors and config tools do: write a temporary file, rename it over."""
    tmp = path.with_name(f".{path.name}.tmp-1234")
    tmp.write_text(content[: len(content) // 2])
    tmp.write_text(content)
    os.replace(tmp, path)


@pytest.mark.parametrize("save", [_vim_save, _rename_save], ids=["vim", "rename"])
def test_an_editor_save_of_the_same_content_is_one_pass_and_no_restart(
    rig: LoopRig, save: Callable[[Path, str], None]
) -> None:
    path = rig.declare("a")
    loop = rig.start()
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "a is synced")
    settle(loop)
    before = rig.started_at("a")
    files_before = len(loop.passes_for("files"))

    started = time.monotonic()
    save(path, path.read_text())
    assert time.monotonic() - started < 0.2, "the save itself must fit in one debounce"
    rig.eventually(lambda: len(loop.passes_for("files")) > files_before, "a files pass ran")
    settle(loop)
    passes = loop.passes_for("files")[files_before:]
    assert len(passes) == 1, passes
    assert passes[0]["steps"] == 0
    assert rig.started_at("a") == before
    assert not [line for line in loop.actions() if line["action"] != "create"]


def test_an_editor_save_of_new_content_is_one_pass_and_one_recreate(rig: LoopRig) -> None:
    path = rig.declare("a")
    loop = rig.start()
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "a is synced")
    settle(loop)
    files_before = len(loop.passes_for("files"))

    _vim_save(path, rig.container_yaml("a", gen=2))
    rig.eventually(lambda: rig.running("a", gen=2), "the saved edit is applied")
    settle(loop)
    passes = loop.passes_for("files")[files_before:]
    assert [p["steps"] for p in passes] == [1], passes
    assert [(a["action"], a["reason"]) for a in loop.actions()] == [
        ("create", "missing"),
        ("recreate", "config-changed"),
    ]


def test_renaming_a_manifest_file_restarts_nothing(rig: LoopRig) -> None:
    path = rig.declare("a")
    loop = rig.start()
    rig.eventually(lambda: rig.resource("a").get("status") == "synced", "a is synced")
    settle(loop)
    before = rig.started_at("a")
    files_before = len(loop.passes_for("files"))

    os.replace(path, rig.directory / "renamed.yaml")
    rig.eventually(lambda: len(loop.passes_for("files")) > files_before, "a files pass ran")
    settle(loop)
    assert len(loop.passes_for("files")) == files_before + 1
    assert rig.started_at("a") == before
    assert [a["action"] for a in loop.actions()] == ["create"]
    assert rig.resource("a")["status"] == "synced"


def test_a_removed_directory_prunes_nothing_and_its_return_converges(rig: LoopRig) -> None:
    rig.declare("a")
    rig.declare("b")
    loop = rig.start()
    rig.eventually(lambda: rig.resource("b").get("status") == "synced", "a and b are synced")
    before = {n: rig.started_at(n) for n in "ab"}
    saved = rig.work / "saved"
    # Gone at once (a rename, as an unmount is): deleting file by file could let a pass that
    # is running read a directory half gone, which is another test's case.
    rig.directory.rename(saved)
    rig.eventually(
        lambda: rig.status()["lastPass"]["outcome"] == "source-unavailable",
        "the status says the source is unavailable",
    )
    status = rig.status()
    assert "missing or not a directory" in status["lastPass"]["error"]
    assert status["lastPass"]["retryIn"] > 0
    # What the last good pass reported stays: the resources are not forgotten.
    assert {r["name"] for r in status["resources"]} == {f"{rig.project}-{n}" for n in "ab"}
    settle(loop, quiet=3.0)
    assert {n: rig.started_at(n) for n in "ab"} == before, "nothing pruned or restarted"
    waits = [e for e in rig.events() if e["reason"] == "source-unavailable"]
    assert [(w["kind"], w["action"], w["outcome"]) for w in waits] == [
        ("Project", "wait", "failed")
    ]
    assert any(
        line.get("level") == "warning" and "nothing is changed or pruned" in line["msg"]
        for line in loop.log()
    )

    # Back again (a new inode): converged without a restart, and watched anew.
    shutil.copytree(saved, rig.directory)
    rig.eventually(lambda: rig.status()["lastPass"]["outcome"] == "ok", "the loop converges again")
    assert {n: rig.started_at(n) for n in "ab"} == before
    rig.declare("b", gen=2)
    rig.eventually(lambda: rig.running("b", gen=2), "an edit in the new directory is applied")
    assert rig.started_at("a") == before["a"]


def _offline(rig: LoopRig, name: str) -> str:
    return rig.render(OFFLINE, name=name, gen=1, command=LOOP)


def test_a_file_written_slowly_with_a_pause_at_a_document_boundary_loses_nothing(
    rig: LoopRig,
) -> None:
    shop = rig.directory / "shop.yaml"
    first, second = _offline(rig, "a") + "---\n", _offline(rig, "b")
    shop.write_text(first + second)
    loop = rig.start("--debounce", "200ms")
    rig.eventually(lambda: rig.resource("b").get("status") == "synced", "a and b are synced")
    settle(loop, quiet=PRUNE_QUIET + 1)
    before = {n: rig.started_at(n) for n in "ab"}

    def held() -> int:
        return sum("possibly half written" in line["msg"] for line in loop.log())

    # The writer rewrites the file and pauses at the `---` for longer than the debounce, so
    # the loop reads a valid file that lacks b: until it has said so (then a little more), or
    # for 2.5 s at most, well within the quiet period.
    seen = held()
    with shop.open("w") as out:
        out.write(first)
        out.flush()
        pause_until = time.monotonic() + 2.5
        while held() == seen and time.monotonic() < pause_until:
            time.sleep(0.05)
        time.sleep(0.3)
        out.write(second)
    settle(loop, quiet=PRUNE_QUIET + 1)
    assert {n: rig.started_at(n) for n in "ab"} == before, "nothing removed or recreated"
    assert sorted((a["action"], a["resource"]) for a in loop.actions()) == [
        ("create", f"Container/{rig.project}-{n}") for n in "ab"
    ]
    assert held() > seen, "the loop did read the first half (and held b)"
    assert rig.status()["source"]["settlingFiles"] == []

    # b really removed: pruned, once the file has been quiet for the quiet period.
    shop.write_text(first)
    rig.eventually(lambda: rig.container("b") is None, "b is pruned after the quiet period")
    assert rig.started_at("a") == before["a"]
    assert [a["action"] for a in loop.actions()].count("remove") == 1


def test_a_refused_mass_prune_is_logged_once_and_shown_by_status(rig: LoopRig) -> None:
    for name in "abc":
        (rig.directory / f"{name}.yaml").write_text(_offline(rig, name))
    loop = rig.start()
    rig.eventually(lambda: all(rig.running(n) for n in "abc"), "a, b and c run")
    settle(loop, quiet=PRUNE_QUIET + 1)

    # Two of the three files vanish (a sync gone wrong, say): the guard refuses the prune.
    for name in "bc":
        (rig.directory / f"{name}.yaml").unlink()
    rig.eventually(lambda: rig.status().get("pruneRefused"), "status says the prune is refused")

    def refusals() -> list[dict[str, object]]:
        return [line for line in loop.log() if "prune refused" in str(line["msg"])]

    rig.eventually(refusals, "the refusal is logged")
    # More passes with the refusal standing: a file touched, a container restarted by hand.
    files = len(loop.passes_for("files"))
    os.utime(rig.directory / "a.yaml")
    rig.eventually(lambda: len(loop.passes_for("files")) > files, "a files pass ran")
    settle(loop)
    assert [(line["level"], line["msg"]) for line in refusals()] == [
        (
            "error",
            f"conflict: Project/{rig.project}: prune refused: it would remove more than half of "
            "the resources of the set (2 of 3); check the manifest source; to prune that much "
            "on purpose, apply once with --prune --force-prune",
        )
    ]
    assert all(rig.running(n) for n in "abc"), "nothing pruned"

    status = rig.status()
    assert "prune refused: it would remove more than half" in status["pruneRefused"]
    shown = rig.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert "prune refused: it would remove more than half of the resources" in shown.stdout
    as_json = json.loads(rig.cli("status", "-o", "json").stdout)
    assert as_json["pruneRefused"] == status["pruneRefused"]

    # The files are back: the refusal is over, and said so once.
    for name in "bc":
        (rig.directory / f"{name}.yaml").write_text(_offline(rig, name))
    rig.eventually(lambda: rig.status().get("pruneRefused") is None, "the refusal is over")
    rig.eventually(
        lambda: any(str(line["msg"]).startswith("conflict resolved: ") for line in loop.log()),
        "the end of the refusal is logged",
    )
    assert len(refusals()) == 2, "the refusal and its end"
