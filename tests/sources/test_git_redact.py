"""Credentials never reach a message: ``redact`` masks URL userinfo, and every error the git
source reports went through it (the runner is faked: no git, no network)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import SourceUnavailable
from reconciler.sources.git import GitSource, redact

TOKEN = "ghp_s3cr3tT0ken"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"https://user:{TOKEN}@example.com/org/repo.git", "https://***@example.com/org/repo.git"),
        (f"https://{TOKEN}@example.com/repo", "https://***@example.com/repo"),
        (f"https://x-access-token:{TOKEN}@github.com/o/r", "https://***@github.com/o/r"),
        ("ssh://git@example.com:2222/repo.git", "ssh://***@example.com:2222/repo.git"),
        (f"http://u:p%40ss{TOKEN}@host:8080/r", "http://***@host:8080/r"),
        (
            f"fetch https://a:{TOKEN}@h1/x failed; mirror https://b:{TOKEN}@h2/y too",
            "fetch https://***@h1/x failed; mirror https://***@h2/y too",
        ),
        ("https://example.com/org/repo.git", "https://example.com/org/repo.git"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
        # scp-like syntax carries a user name, never a secret: nothing to mask.
        ("git@example.com:org/repo.git", "git@example.com:org/repo.git"),
        ("an @ sign and a :// in prose", "an @ sign and a :// in prose"),
    ],
)
def test_redact_masks_the_userinfo_of_every_url(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(redact(text)) == expected


def test_an_email_address_after_a_url_is_not_swallowed() -> None:
    text = f"https://u:{TOKEN}@host/r (ask ops@example.com)"
    assert redact(text) == "https://***@host/r (ask ops@example.com)"


class FailingFetch:
    """A git runner where init and remote work and fetch fails echoing the URL, as a
    misconfigured helper or an old git might."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        self.commands.append(list(command))
        if "fetch" in command:
            stderr = f"fatal: unable to access '{self.url}/': Could not resolve host\n"
            return subprocess.CompletedProcess(list(command), 128, b"", stderr.encode())
        return subprocess.CompletedProcess(list(command), 0, b"", b"")


def test_a_failed_fetch_is_reported_without_the_credentials(tmp_path: Path) -> None:
    url = f"https://deploy:{TOKEN}@git.example.com/ops/site.git"
    runner = FailingFetch(url)
    source = GitSource(url, "main", "deploy", tmp_path / "git", run=runner)

    with pytest.raises(SourceUnavailable) as caught:
        source.read()

    message = str(caught.value)
    assert TOKEN not in message
    assert "https://***@git.example.com/ops/site.git" in message
    assert "fetch failed" in message
    assert "Could not resolve host" in message
    assert TOKEN not in source.description
    assert source.description == "git:https://***@git.example.com/ops/site.git@(none):deploy"
    # The real URL is handed to git (it is stored in the state directory's git config).
    assert [
        "git",
        "--git-dir",
        str(tmp_path / "git" / "repo.git"),
        "remote",
        "add",
        "origin",
        url,
    ] in runner.commands


def test_a_git_that_cannot_be_started_is_reported_without_the_credentials(tmp_path: Path) -> None:
    url = f"https://deploy:{TOKEN}@git.example.com/ops/site.git"

    def missing(command: Sequence[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        if "remote" in command:  # an OSError whose text names the whole command line
            raise OSError(7, "Argument list too long", " ".join(command))
        return subprocess.CompletedProcess(list(command), 0, b"", b"")

    source = GitSource(url, "main", "deploy", tmp_path / "git", run=missing)
    with pytest.raises(SourceUnavailable) as caught:
        source.read()
    assert TOKEN not in str(caught.value)
    assert "***@git.example.com" in str(caught.value)
