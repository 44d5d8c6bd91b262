"""Which directory holds the state of which Docker Engine, so that one state directory
serving several Engines never prunes one Engine's containers because of another's
manifests (docs/decisions/remote-engines.md).

The state directory itself serves the Engine that first used it at the machine's usual
socket (what every user had before remote Engines: nothing moves); it is claimed for that
Engine in ``engines.json``. Every other Engine gets ``engines/<key>/``, a state directory of
its own (database, locks, secret files, caches), where ``key`` is made of the Engine's
identity as ``/info`` tells it: its ID, its data root and its name. The ID alone is not
enough: Engines before 23.0 take it from ``/etc/docker/key.json``, which a second daemon on
the same machine, or a cloned machine, shares.

``engines.json`` also remembers which key each address last led to, so that commands that
only read the state (``history``, ``status``, ``events``) find it without asking the Engine.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import StateError
from reconciler.state import privatedir

RECORD_NAME = "engines.json"
ENGINES_DIR = "engines"


@dataclass(frozen=True)
class EngineIdentity:
    """Who an Engine is (from its ``/info``) and where it was reached."""

    engine_id: str
    name: str
    root_dir: str
    address: str
    local_default: bool  # reached at the machine's usual socket, with no docker context

    @property
    def key(self) -> str:
        """A short, stable name for this Engine's state directory."""
        digest = hashlib.sha256(f"{self.engine_id}\n{self.root_dir}\n{self.name}".encode())
        return digest.hexdigest()[:16]


def state_dir_for(root: Path, engine: EngineIdentity) -> Path:
    """The state directory of ``engine`` under the state directory ``root``: ``root`` when
    it is claimed for this Engine, else its own ``engines/<key>/`` when that exists, else
    ``root`` claimed now when ``root`` serves no Engine yet and this is the machine's own
    Engine at its usual socket, else a new ``engines/<key>/``. Notes which key the address
    leads to."""
    record = _read(root)
    before = json.dumps(record, sort_keys=True)
    own = root / ENGINES_DIR / engine.key
    claimed = record.get("root")
    if not isinstance(claimed, dict) and engine.local_default and not own.exists():
        claimed = record["root"] = _describe(engine)
    here = isinstance(claimed, dict) and claimed.get("key") == engine.key
    _table(record, "addresses")[engine.address] = engine.key
    if not here:
        _table(record, "engines")[engine.key] = _describe(engine)
        privatedir.state_directory(root / ENGINES_DIR)
        privatedir.state_directory(own)
    if json.dumps(record, sort_keys=True) != before:
        _write(root, record)
    return root if here else own


def known_state_dir(root: Path, address: str, local_default: bool) -> Path | None:
    """The state directory the Engine at ``address`` used last, without asking it; None when
    the record does not say (then only the Engine's identity can tell)."""
    record = _read(root, create=False)
    addresses = record.get("addresses")
    key = addresses.get(address) if isinstance(addresses, dict) else None
    claimed = record.get("root")
    if isinstance(key, str) and key:
        if isinstance(claimed, dict) and claimed.get("key") == key:
            return root
        return root / ENGINES_DIR / key
    if local_default and not isinstance(claimed, dict) and not (root / ENGINES_DIR).exists():
        return root
    return None


def _table(record: dict[str, object], name: str) -> dict[str, object]:
    table = record.get(name)
    if not isinstance(table, dict):
        table = record[name] = {}
    return table


def _describe(engine: EngineIdentity) -> dict[str, str]:
    return {
        "key": engine.key,
        "id": engine.engine_id,
        "name": engine.name,
        "rootDir": engine.root_dir,
    }


def _read(root: Path, create: bool = True) -> dict[str, object]:
    if create:
        privatedir.state_directory(root)
    path = root / RECORD_NAME
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StateError(
            f"cannot read {path} (which Engine each state belongs to): {exc}; "
            "nothing is done until it is readable"
        ) from exc
    if not isinstance(record, dict):
        raise StateError(f"{path} is not a JSON object (which Engine each state belongs to)")
    return record


def _write(root: Path, record: dict[str, object]) -> None:
    """Written whole or not at all (a temporary file renamed over), 0600."""
    path = root / RECORD_NAME
    temporary = root / f".{RECORD_NAME}.{os.getpid()}"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StateError(f"cannot write {path}: {exc.strerror}") from exc
