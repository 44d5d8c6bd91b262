"""Credentials in the repository URL never reach output, logs, history, status or events:
the URL is shown as ``https://***@host/...``. The remote is still a local bare repository:
the test's git config rewrites the https URL to it (``url.<base>.insteadOf``), so git
fetches with the credentials in the URL exactly as with a real server."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.e2e.git_helpers import SyncRig

TOKEN = "glpat-e2eS3cr3tT0ken"
URL = f"https://deploy:{TOKEN}@git.example.invalid/ops/site.git"
SHOWN = "https://***@git.example.invalid/ops/site.git"


@pytest.fixture
def sync(sync: SyncRig, tmp_path: Path) -> SyncRig:
    """The shared rig, reaching its remote through an https URL with a token in it (the git
    config rewrites that URL to the local remote)."""
    config = tmp_path / "gitconfig"
    config.write_text(f'[url "{sync.remote.url}"]\n\tinsteadOf = {URL}\n')
    sync.env.update({"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1"})
    sync.repo_url = URL
    return sync


def test_the_token_in_the_url_is_never_shown(sync: SyncRig) -> None:
    first = sync.push("generation 1", a=1)
    done = sync.once("-v")
    assert done.returncode == 0, done.stderr
    assert sync.rig.running("a", gen=1)
    outputs = [done.stdout, done.stderr]

    # A loop started while the remote is gone logs the failed fetch (with the URL), and
    # follows again once it is back.
    aside = sync.remote.remove()
    loop = sync.start("--interval", "1s")
    sync.rig.eventually(
        lambda: any("fetch failed" in str(line.get("msg")) for line in loop.log()),
        "the loop reports the failed fetch",
    )
    sync.remote.restore(aside)
    sync.push("generation 2", a=2)
    sync.rig.eventually(lambda: sync.rig.running("a", gen=2), "the loop follows again")
    assert loop.terminate() == 0
    log = loop.log_path.read_text()
    assert f"following {SHOWN} branch main path deploy" in log
    failed = [line["msg"] for line in loop.log() if "fetch failed" in str(line.get("msg"))]
    assert failed and all(f"git source {SHOWN}: " in msg for msg in failed), failed
    outputs.append(log)

    history = sync.cli("history", "-o", "json")
    shown = sync.cli_show(1)
    status = sync.cli("status", "-o", "json")
    events = sync.cli("events", "-o", "json")
    for done in (history, shown, status, events):
        assert done.returncode == 0, done.stderr
        outputs += [done.stdout, done.stderr]
    assert json.loads(history.stdout)[-1]["source"] == f"git:{SHOWN}@{first}:deploy"
    assert json.loads(status.stdout)["origin"].startswith(f"git:{SHOWN}@")

    for text in outputs:
        assert TOKEN not in text
    # The state database, too (history sources, status, events are read from it).
    assert TOKEN.encode() not in (sync.rig.state_dir / "state.db").read_bytes()

    # git itself keeps the URL, credentials included, in the clone's config: in a 0700 dir.
    work = sync.rig.state_dir / "git" / sync.project
    assert TOKEN in (work / "repo.git" / "config").read_text()
    assert stat.S_IMODE(work.stat().st_mode) == 0o700


def test_an_unreachable_https_remote_is_reported_without_the_token(sync: SyncRig) -> None:
    sync.repo_url = f"https://deploy:{TOKEN}@127.0.0.1:9/ops/site.git"
    done = sync.once("-v")
    assert done.returncode == 1
    assert "fetch failed" in done.stderr
    assert "https://***@127.0.0.1:9/ops/site.git" in done.stderr
    assert TOKEN not in done.stdout + done.stderr
