"""notifications.yaml: a good file resolved, and each mistake reported with file:line:col and
field, never with a secret value in the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ManifestError
from reconciler.notify.events import Event, Severity
from reconciler.notify.reading import config_path, load_config

ENV = {"HOOK_KEY": "hook-secret", "NTFY_URL": "ntfy://127.0.0.1:8080/oncall"}


def _write(tmp_path: Path, text: str, mode: int = 0o644) -> Path:
    path = tmp_path / "notifications.yaml"
    path.write_text(text)
    path.chmod(mode)
    return path


def _problems(path: Path, env: dict[str, str] = ENV) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_config(path, env)
    return [str(p).replace(f"{path}:", "F:") for p in caught.value.problems]


def test_a_good_file_is_resolved_with_defaults(tmp_path: Path) -> None:
    key = tmp_path / "hook.key"
    key.write_text("file-secret\n")
    key.chmod(0o600)
    path = _write(
        tmp_path,
        f"""\
defaults:
  timeout: 3s
  rateLimit: {{perEvent: 5m, burst: 4, per: 30s}}
sinks:
  - name: oncall
    webhook: {{url: "https://hooks.example.com/r", secretFile: {key}}}
    events: [crash-loop, rollback]
    minSeverity: warning
  - name: phone
    apprise: {{urlEnv: NTFY_URL}}
    retries: 1
    resolved: false
""",
    )
    config = load_config(path, ENV)
    oncall, phone = config.sinks
    assert (oncall.type, oncall.target.reveal(), oncall.key and oncall.key.reveal()) == (
        "webhook",
        "https://hooks.example.com/r",
        "file-secret",
    )
    assert repr(oncall.key) == f"Secret({key})"
    assert (oncall.per_event, oncall.burst, oncall.period, oncall.timeout) == (300, 4, 30, 3)
    assert (oncall.retries, oncall.min_severity) == (4, Severity.WARNING)
    assert (phone.type, phone.key, phone.retries, repr(phone.target)) == (
        "apprise",
        None,
        1,
        "Secret($NTFY_URL)",
    )
    crash = Event("crash-loop", "p", "x", "Container/a")
    drift = Event("drift-repaired", "p", "x", "Container/a")
    over = Event("resolved", "p", "x", "Container/a", {"resolves": "crash-loop"})
    # The end of a crash loop reaches a warning-and-up sink: it got the crash loop.
    assert [oncall.wants(e) for e in (crash, drift, over)] == [True, False, True]
    assert [phone.wants(e) for e in (crash, drift, over)] == [True, True, False]


def test_schema_mistakes_are_located(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
sinks:
  - name: oncall
    webhook: {url: "ftp://x", secretEnv: HOOK_KEY}
    events: [crashloop]
  - name: other
    apprise: {urlEnv: NTFY_URL}
    webhook: {url: "http://x", secretEnv: HOOK_KEY}
    retrys: 3
""",
    )
    assert _problems(path) == [
        "F:3:5: sinks[0].webhook: url must start with http:// or https://",
        "F:4:14: sinks[0].events[0]: 'crashloop' is not an event kind; one of: apply-failed, "
        "pass-failed, source-unavailable, engine-unavailable, crash-loop, rollback, "
        "drift-repaired, update-available, update-applied",
        "F:5:5: sinks[1]: give exactly one of webhook or apprise",
        "F:8:5: sinks[1].retrys: unknown field 'retrys'; did you mean retries?",
    ]


def test_duplicate_names_and_an_empty_list(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "sinks:\n"
        "  - name: x\n"
        "    webhook: {url: 'http://h/', secretEnv: HOOK_KEY}\n"
        "  - name: x\n"
        "    webhook: {url: 'http://h/', secretEnv: HOOK_KEY}\n",
    )
    assert _problems(path) == [
        "F:4:5: sinks[1].name: another sink is called 'x'; names must differ"
    ]
    empty = _write(tmp_path, "sinks: []\n")
    assert _problems(empty) == ["F:1:1: sinks: needs at least 1 item(s)"]


def test_secrets_that_cannot_be_used_are_named_not_shown(tmp_path: Path) -> None:
    loose = tmp_path / "loose.key"
    loose.write_text("visible-secret")
    loose.chmod(0o644)
    path = _write(
        tmp_path,
        f"""\
sinks:
  - name: a
    webhook: {{url: "http://127.0.0.1:1/", secretEnv: UNSET_KEY}}
  - name: b
    webhook: {{url: "http://127.0.0.1:1/", secretFile: {loose}}}
  - name: c
    webhook: {{url: "http://127.0.0.1:1/", secretFile: {tmp_path}/missing.key}}
  - name: d
    apprise: {{url: "ntfy://user:inline-token@ntfy.example.com/t"}}
  - name: e
    apprise: {{urlEnv: BAD_URL}}
""",
    )
    found = _problems(path, {**ENV, "BAD_URL": "nosuchservice://token-xyz@host/"})
    assert found == [
        "F:3:43: sinks[0].webhook.secretEnv: environment variable UNSET_KEY is unset or empty",
        f"F:5:43: sinks[1].webhook.secretFile: {loose} could be read by other users (mode "
        f"0644): chmod 600 {loose}",
        f"F:7:43: sinks[2].webhook.secretFile: cannot open {tmp_path}/missing.key: No such "
        "file or directory",
        "F:9:15: sinks[3].apprise.url: an Apprise URL holds its service's token: keep it in "
        "urlEnv or urlFile, or make this file readable by its owner only (chmod 600)",
        "F:11:5: sinks[4].apprise: $BAD_URL: not a URL Apprise supports or can use (scheme "
        "nosuchservice://)",
    ]
    assert not any("visible-secret" in p or "inline-token" in p or "xyz" in p for p in found)


def test_inline_apprise_url_in_a_private_file_is_accepted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'sinks:\n  - name: d\n    apprise: {url: "json://127.0.0.1:9/"}\n',
        mode=0o600,
    )
    assert load_config(path, {}).sinks[0].target.reveal() == "json://127.0.0.1:9/"


def test_file_others_may_write_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "sinks: []\n", mode=0o666)
    with pytest.raises(ManifestError) as caught:
        load_config(path, ENV)
    assert str(caught.value) == (
        f"{path}: notifications file could be written by other users (mode 0666): chmod go-w {path}"
    )


def test_where_the_file_is_looked_for(tmp_path: Path) -> None:
    given = tmp_path / "given.yaml"
    assert config_path(given, tmp_path, {"RECONCILE_NOTIFY_CONFIG": "/x"}) == given
    assert config_path(None, tmp_path, {"RECONCILE_NOTIFY_CONFIG": "/x"}) == Path("/x")
    assert config_path(None, tmp_path, {}) is None
    (tmp_path / "notifications.yaml").write_text("sinks: []\n")
    assert config_path(None, tmp_path, {}) == tmp_path / "notifications.yaml"
