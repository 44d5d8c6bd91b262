"""Finding, reading and resolving ``notifications.yaml``: ``--notify-config``, else
``$RECONCILE_NOTIFY_CONFIG``, else ``STATE_DIR/notifications.yaml`` when it exists.

Like the policy file, the file may not be writable by others (whoever writes it chooses where
events go). A secret file must be private (no permission for group or others) and belong to
root or to this user; an inline Apprise URL needs the same of the file itself. Every problem
names the file, the line and the field; none prints a secret.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from reconciler.errors import Location, ManifestError, Problem
from reconciler.notify.config import (
    DefaultsSpec,
    NotificationsFile,
    NotifyConfig,
    Secret,
    SinkConfig,
    SinkSpec,
    duration,
)
from reconciler.notify.events import Severity

NOTIFY_ENV = "RECONCILE_NOTIFY_CONFIG"
DEFAULT_NAME = "notifications.yaml"
MAX_SECRET_BYTES = 64 * 1024

Found = list[tuple[tuple[str, ...], str]]


def config_path(
    path: Path | None, state_dir: Path, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The file in force: ``path``, else ``$RECONCILE_NOTIFY_CONFIG``, else
    ``STATE_DIR/notifications.yaml`` if it exists; None means no notifications."""
    env = os.environ if environ is None else environ
    if path is not None:
        return path
    if env.get(NOTIFY_ENV):
        return Path(env[NOTIFY_ENV])
    default = state_dir / DEFAULT_NAME
    return default if default.exists() else None


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> NotifyConfig:
    """Read and resolve ``path``; any problem raises ``ManifestError`` (file:line:col, field)."""
    env = os.environ if environ is None else environ
    where = Location(str(path))
    if not path.is_file():
        raise ManifestError([Problem(where, "", "notifications file does not exist")])
    unsafe = unsafe_file(path, private=False)
    if unsafe:
        raise ManifestError([Problem(where, "", f"notifications file {unsafe}")])
    from reconciler.loading.yamldoc import read_yaml, validate_yaml

    doc = read_yaml(path)
    model, problems = validate_yaml(NotificationsFile, doc)
    if problems or model is None:
        raise ManifestError(problems)
    private = unsafe_file(path, private=True) is None
    sinks = []
    seen: set[str] = set()
    for index, spec in enumerate(model.sinks):
        if spec.name in seen:
            message = f"another sink is called {spec.name!r}; names must differ"
            where = doc.locate("sinks", index, "name")
            problems.append(Problem(where, f"sinks[{index}].name", message))
        seen.add(spec.name)
        sink, found = resolve(spec, model.defaults, env, private)
        for field, message in found:
            dotted = ".".join([f"sinks[{index}]", *field])
            problems.append(Problem(doc.locate("sinks", index, *field), dotted, message))
        if sink is not None:
            sinks.append(sink)
    if problems:
        raise ManifestError(problems)
    return NotifyConfig(str(path), tuple(sinks))


def resolve(
    spec: SinkSpec, defaults: DefaultsSpec, env: Mapping[str, str], private: bool
) -> tuple[SinkConfig | None, Found]:
    """One sink with its secrets read and the defaults merged, or the problems (field path
    under the sink, message)."""
    found: Found = []
    kind: Literal["webhook", "apprise"]
    key: Secret | None = None
    if spec.webhook is not None:
        kind = "webhook"
        hook = spec.webhook
        target: Secret | None = Secret(hook.url, "webhook url")
        key = _secret(("webhook",), hook.secret_env, hook.secret_file, env, found, "secret")
    else:
        assert spec.apprise is not None
        kind = "apprise"
        push = spec.apprise
        if push.url is not None:
            target = Secret(push.url, "inline url")
            if not private:
                found.append(
                    (
                        ("apprise", "url"),
                        "an Apprise URL holds its service's token: keep it in urlEnv or urlFile, "
                        "or make this file readable by its owner only (chmod 600)",
                    )
                )
        else:
            target = _secret(("apprise",), push.url_env, push.url_file, env, found, "url")
        if target is not None and not found:
            from reconciler.notify import push as push_sink

            why = push_sink.check_url(target.reveal())
            if why:
                found.append((("apprise",), f"{target.origin}: {why}"))
    if found or target is None:
        return None, found
    limits = spec.rate_limit or defaults.rate_limit
    return (
        SinkConfig(
            name=spec.name,
            type=kind,
            target=target,
            key=key,
            events=None if spec.events is None else frozenset(spec.events),
            min_severity=Severity.named(spec.min_severity),
            resolved=spec.resolved,
            per_event=duration(limits.per_event),
            burst=limits.burst,
            period=duration(limits.per),
            timeout=duration(spec.timeout if spec.timeout is not None else defaults.timeout),
            retries=spec.retries if spec.retries is not None else defaults.retries,
            queue_size=defaults.queue_size,
        ),
        found,
    )


def _secret(
    at: tuple[str, ...],
    env_name: str | None,
    file: str | None,
    env: Mapping[str, str],
    found: Found,
    what: str,
) -> Secret | None:
    """The secret named by an env var or a file, or None with a problem in ``found``."""
    if env_name is not None:
        field = (*at, f"{what}Env")
        value = env.get(env_name, "").strip()
        if not value:
            found.append((field, f"environment variable {env_name} is unset or empty"))
            return None
        return Secret(value, f"${env_name}")
    assert file is not None
    field = (*at, f"{what}File")
    text, why = read_secret_file(Path(file))
    if why:
        found.append((field, why))
        return None
    return Secret(text, file)


def read_secret_file(path: Path) -> tuple[str, str]:
    """(the file's text, stripped; "") or ("", why it cannot be used). Checked on the open
    descriptor, so what is checked is what is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        return "", f"cannot open {path}: {exc.strerror}"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "", f"{path} is not a regular file"
        mode = stat.S_IMODE(info.st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            return "", f"{path} could be read by other users (mode {mode:04o}): chmod 600 {path}"
        if info.st_uid not in (0, os.geteuid()):
            return "", f"{path} is owned by uid {info.st_uid}, neither root nor this user"
        if info.st_size > MAX_SECRET_BYTES:
            return "", f"{path} is larger than {MAX_SECRET_BYTES} bytes"
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "", f"{path} is not UTF-8 text"
    if not text:
        return "", f"{path} is empty"
    return text, ""


def unsafe_file(path: Path, *, private: bool) -> str | None:
    """Why ``path`` may not be trusted, or None: others may write it, or with ``private``
    have any permission on it; or it belongs to someone else."""
    info = path.stat()
    bits = stat.S_IRWXG | stat.S_IRWXO if private else stat.S_IWGRP | stat.S_IWOTH
    if info.st_mode & bits:
        mode = stat.S_IMODE(info.st_mode)
        fix, who = ("chmod 600", "read") if private else ("chmod go-w", "written")
        return f"could be {who} by other users (mode {mode:04o}): {fix} {path}"
    if info.st_uid not in (0, os.geteuid()):
        return f"is owned by uid {info.st_uid}, neither root nor this user: chown it"
    return None
