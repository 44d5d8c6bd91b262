"""The embedded state: an SQLite database per host with the inventory of what each project
created, the events journal, and the key of the config-hash labels.

Every write is one transaction, so a kill at any moment leaves the previous or the next
state, never half of one. A corrupt database is moved aside and started anew (with a
warning); its projects then have no inventory, which makes planning fall back to labels and
never prune more than it could before. Any other failure (another process holding it, a full
disk, a read-only or failing one) is a StateError and leaves it as it is (``sqlitefile``).
The directory and the files are the user's alone (``privatedir``).
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from reconciler.state import privatedir, sealing, sqlitefile
from reconciler.state.records import Event, Pin, Revision
from reconciler.state.statedir import DATABASE_NAME

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS projects (project TEXT PRIMARY KEY, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS inventory (
    project TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '', recorded_at REAL NOT NULL,
    PRIMARY KEY (project, kind, name)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, at REAL NOT NULL,
    kind TEXT NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL,
    outcome TEXT NOT NULL, message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_by_project ON events (project, id);
CREATE TABLE IF NOT EXISTS revisions (
    project TEXT NOT NULL, number INTEGER NOT NULL, created_at REAL NOT NULL,
    source TEXT NOT NULL, digest TEXT NOT NULL, documents TEXT NOT NULL, images TEXT NOT NULL,
    outcome TEXT NOT NULL, message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (project, number)
);
CREATE TABLE IF NOT EXISTS pins (
    project TEXT PRIMARY KEY, revision INTEGER NOT NULL, upstream TEXT NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS status (
    project TEXT PRIMARY KEY, updated_at REAL NOT NULL, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revision_files (
    project TEXT NOT NULL, number INTEGER NOT NULL, files BLOB NOT NULL,
    PRIMARY KEY (project, number)
);
CREATE TABLE IF NOT EXISTS adoptions (
    project TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, engine_id TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (project, kind, name)
);
CREATE TABLE IF NOT EXISTS revision_digests (
    project TEXT NOT NULL, number INTEGER NOT NULL, digests TEXT NOT NULL,
    PRIMARY KEY (project, number)
);
CREATE TABLE IF NOT EXISTS image_updates (
    project TEXT NOT NULL, ref TEXT NOT NULL, digest TEXT NOT NULL, first_seen REAL NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'seen', at REAL NOT NULL, message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (project, ref, digest)
);
CREATE TABLE IF NOT EXISTS fetched_images (
    project TEXT NOT NULL, image_id TEXT NOT NULL, ref TEXT NOT NULL, how TEXT NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (project, image_id, ref)
);
CREATE TABLE IF NOT EXISTS creations (
    project TEXT NOT NULL, nonce TEXT NOT NULL, name TEXT NOT NULL, engine_id TEXT,
    at REAL NOT NULL, PRIMARY KEY (project, nonce)
);
"""


DEFAULT_HISTORY_LIMIT = 20
EVENTS_KEPT = 10_000


class State:
    """The state database of one host. Open with ``State.open(dir)``."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, warnings: list[str], busy_timeout: float
    ) -> None:
        self._conn = conn
        self.path = path
        self.warnings = warnings
        self._busy_timeout = busy_timeout
        self._sealer = sealing.Sealer(path.parent)  # env values in revisions
        self.home = path.parent

    @classmethod
    def open(
        cls,
        state_dir: Path,
        busy_timeout: float = sqlitefile.BUSY_TIMEOUT,
        home: Path | None = None,
    ) -> State:
        """Open (creating if needed) ``state_dir/state.db``, waiting up to ``busy_timeout``
        seconds for another process's writes; a corrupt one is moved aside. ``home`` is the
        state directory the user named, when ``state_dir`` is one Engine's under it
        (``engines``): the user's own files (the age key) are read there."""
        warnings = privatedir.state_directory(state_dir)
        path = state_dir / DATABASE_NAME
        try:
            warnings += cls._private(path)
            conn = cls._connect(path, busy_timeout)
        except sqlitefile.Corrupt as exc:
            warnings.append(
                f"state database {path} was unreadable ({exc.reason}); moved to "
                f"{', '.join(exc.moved)} and started anew: inventories are rebuilt from "
                "labels, and the next prune waits for them"
            )
            cls._private(path)
            conn = cls._connect(path, busy_timeout)
        state = cls(conn, path, warnings, busy_timeout)
        state.home = home or state_dir
        return state

    @staticmethod
    def _private(path: Path) -> list[str]:
        # SQLite creates the -wal and -shm with the database's mode: a 0600 database is
        # enough for new ones, and older ones are tightened here.
        warnings = privatedir.private_file(path, create=True)
        for suffix in sqlitefile.COMPANIONS:
            warnings += privatedir.private_file(path.with_name(path.name + suffix), create=False)
        return warnings

    @staticmethod
    def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
        with sqlitefile.opening(path, busy_timeout):
            conn = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        try:
            with sqlitefile.opening(path, busy_timeout):
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise sqlitefile.Corrupt(path, verdict)
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                conn.executescript(_SCHEMA)
                with sqlitefile.transaction(conn, path, busy_timeout):
                    if "inventory" in tables and "creations" not in tables:
                        # A state of a version that recorded no creations: its projects'
                        # containers are adopted once, by label (``legacy_projects``).
                        conn.execute(
                            "INSERT OR IGNORE INTO meta VALUES ('legacy_creations', ?)",
                            (json.dumps(sorted(_projects(conn))),),
                        )
                    conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                        (SCHEMA_VERSION,),
                    )
                    conn.execute(
                        "INSERT OR IGNORE INTO meta VALUES ('hash_key', ?)",
                        (secrets.token_bytes(32),),
                    )
        except sqlitefile.Corrupt as exc:
            # Closing the last connection would write the WAL into the damaged file and
            # delete it: the files are moved aside first, and so kept as they were found.
            try:
                exc.moved = sqlitefile.move_aside(path)
            finally:
                conn.close()
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _write(self) -> AbstractContextManager[None]:
        """One write transaction (see ``sqlitefile.transaction``)."""
        return sqlitefile.transaction(self._conn, self.path, self._busy_timeout)

    def _rows(self, sql: str, *params: Any) -> list[Any]:
        with sqlitefile.reported(self.path, self._busy_timeout):
            return self._conn.execute(sql, params).fetchall()

    def _row(self, sql: str, *params: Any) -> Any:
        with sqlitefile.reported(self.path, self._busy_timeout):
            return self._conn.execute(sql, params).fetchone()

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    @property
    def hash_key(self) -> bytes:
        """The host's secret key for config-hash labels."""
        row = self._row("SELECT value FROM meta WHERE key = 'hash_key'")
        return bytes(row[0])

    def inventory(self, project: str) -> frozenset[tuple[str, str]] | None:
        """(kind, name) pairs recorded for ``project``; None when the project is unknown here."""
        if self._row("SELECT 1 FROM projects WHERE project = ?", project) is None:
            return None
        rows = self._rows("SELECT kind, name FROM inventory WHERE project = ?", project)
        return frozenset((k, n) for k, n in rows)

    def record(self, project: str, entries: Iterable[tuple[str, str, str]]) -> None:
        """Add (kind, name, source) entries to the inventory, before they are created, so that a
        kill between create and record cannot leave something prune would never find."""
        now = time.time()
        with self._write():
            self._conn.execute("INSERT OR IGNORE INTO projects VALUES (?, ?)", (project, now))
            self._conn.executemany(
                "INSERT OR REPLACE INTO inventory VALUES (?, ?, ?, ?, ?)",
                [(project, k, n, s, now) for k, n, s in entries],
            )

    def forget(self, project: str, entries: Iterable[tuple[str, str]]) -> None:
        """Drop (kind, name) entries after the resources are gone."""
        with self._write():
            self._conn.executemany(
                "DELETE FROM inventory WHERE project = ? AND kind = ? AND name = ?",
                [(project, k, n) for k, n in entries],
            )

    def adopt_labels(self, project: str, entries: Iterable[tuple[str, str, str]]) -> None:
        """Rebuild a lost inventory from what the Engine's labels say this project owns."""
        self.record(project, entries)

    def expect_creation(self, project: str, name: str) -> str:
        """A new creation nonce for a container about to be created as ``name``, recorded
        first: with its label on the container it proves reconcile created that very one."""
        nonce = secrets.token_hex(16)
        with self._write():
            self._conn.execute(
                "INSERT INTO creations VALUES (?, ?, ?, NULL, ?)",
                (project, nonce, name, time.time()),
            )
        return nonce

    def created(self, project: str, nonce: str, engine_id: str) -> None:
        """Record the Engine id of the container created under ``nonce``."""
        with self._write():
            self._conn.execute(
                "UPDATE creations SET engine_id = ? WHERE project = ? AND nonce = ?",
                (engine_id, project, nonce),
            )

    def creations(self, project: str) -> dict[str, str | None]:
        """nonce -> Engine id (None while the create is not known to have finished)."""
        rows = self._rows("SELECT nonce, engine_id FROM creations WHERE project = ?", project)
        return {nonce: engine_id for nonce, engine_id in rows}

    def forget_creations(self, project: str, engine_ids: Iterable[str]) -> None:
        """Drop the records of removed containers."""
        with self._write():
            self._conn.executemany(
                "DELETE FROM creations WHERE project = ? AND engine_id = ?",
                [(project, i) for i in engine_ids],
            )

    def legacy_projects(self) -> frozenset[str]:
        """Projects of an older state that recorded no creations, not yet adopted."""
        row = self._row("SELECT value FROM meta WHERE key = 'legacy_creations'")
        return frozenset(json.loads(row[0])) if row is not None else frozenset()

    def adopt_creations(self, project: str, engine_ids: Iterable[tuple[str, str]]) -> None:
        """Record (name, Engine id) of containers an older version created, once per
        project (see ``legacy_projects``)."""
        now = time.time()
        with self._write():
            self._conn.executemany(
                "INSERT OR IGNORE INTO creations VALUES (?, ?, ?, ?, ?)",
                [(project, f"adopted:{i}", n, i, now) for n, i in engine_ids],
            )
            left = sorted(self.legacy_projects() - {project})
            self._conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'legacy_creations'", (json.dumps(left),)
            )

    def adopt(self, project: str, entries: Iterable[tuple[str, str, str]]) -> None:
        """Record (kind, name, Engine id) of resources ``reconcile adopt`` took over from a
        compose project; a container's id also counts as its creation (prune may remove it)."""
        now = time.time()
        rows = list(entries)
        with self._write():
            self._conn.execute("INSERT OR IGNORE INTO projects VALUES (?, ?)", (project, now))
            self._conn.executemany(
                "INSERT OR REPLACE INTO adoptions VALUES (?, ?, ?, ?, ?)",
                [(project, k, n, i, now) for k, n, i in rows],
            )
            self._conn.executemany(
                "INSERT OR IGNORE INTO creations VALUES (?, ?, ?, ?, ?)",
                [(project, f"adopted:{i}", n, i, now) for k, n, i in rows if k == "Container"],
            )

    def adoptions(self, project: str) -> frozenset[tuple[str, str, str]]:
        """(kind, name, Engine id) of what ``adopt`` took over for ``project``."""
        rows = self._rows("SELECT kind, name, engine_id FROM adoptions WHERE project = ?", project)
        return frozenset((k, n, i) for k, n, i in rows)

    def projects(self) -> list[str]:
        """Projects this state knows."""
        return [r[0] for r in self._rows("SELECT project FROM projects ORDER BY project")]

    def add_events(self, events: Iterable[Event]) -> None:
        """Append events to the journal (the newest ``EVENTS_KEPT`` per project are kept)."""
        events = list(events)
        if not events:
            return
        with self._write():
            self._conn.executemany(
                "INSERT INTO events (project, at, kind, name, action, reason, outcome, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (e.project, e.at, e.kind, e.name, e.action, e.reason, e.outcome, e.message)
                    for e in events
                ],
            )
            for project in {e.project for e in events}:
                self._conn.execute(
                    "DELETE FROM events WHERE project = ? AND id <= "
                    "(SELECT MAX(id) FROM events WHERE project = ?) - ?",
                    (project, project, EVENTS_KEPT),
                )

    def add_revision(
        self,
        project: str,
        source: str,
        digest: str,
        documents: list[dict[str, Any]],
        images: dict[str, str],
        outcome: str,
        message: str = "",
        keep: int = DEFAULT_HISTORY_LIMIT,
        files: Mapping[str, bytes] | None = None,
        digests: Mapping[str, str] | None = None,
    ) -> int:
        """Record a revision (numbered from 1 per project); keep only the newest ``keep``.
        ``files``: the env and secret files its containers read (kept sealed); ``digests``:
        image ref -> ``repository@sha256:...`` of what ran (for a rollback by digest)."""
        with self._write():
            row = self._conn.execute(
                "SELECT COALESCE(MAX(number), 0) FROM revisions WHERE project = ?", (project,)
            ).fetchone()
            number = int(row[0]) + 1
            self._conn.execute(
                "INSERT INTO revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    project,
                    number,
                    time.time(),
                    source,
                    digest,
                    json.dumps(self._sealer.seal(documents)),
                    json.dumps(images, sort_keys=True),
                    outcome,
                    message,
                ),
            )
            self._conn.execute(
                "DELETE FROM revisions WHERE project = ? AND number <= ?",
                (project, number - max(1, keep)),
            )
            self._conn.execute(
                "DELETE FROM revision_files WHERE project = ? AND number <= ?",
                (project, number - max(1, keep)),
            )
            self._conn.execute(
                "DELETE FROM revision_digests WHERE project = ? AND number <= ?",
                (project, number - max(1, keep)),
            )
            if digests:
                self._conn.execute(
                    "INSERT OR REPLACE INTO revision_digests VALUES (?, ?, ?)",
                    (project, number, json.dumps(dict(digests), sort_keys=True)),
                )
            if files:
                body = json.dumps({p: base64.b64encode(b).decode() for p, b in files.items()})
                self._conn.execute(
                    "INSERT OR REPLACE INTO revision_files VALUES (?, ?, ?)",
                    (project, number, self._sealer.seal_bytes(body.encode())),
                )
        return number

    def revision_files(self, project: str, number: int) -> dict[str, bytes]:
        """The env and secret files a revision's containers read, as they were on disk
        (sealed here: an encrypted file stays encrypted inside the seal)."""
        row = self._row(
            "SELECT files FROM revision_files WHERE project = ? AND number = ?", project, number
        )
        if row is None:
            return {}
        body = json.loads(self._sealer.open_bytes(bytes(row[0])))
        return {path: base64.b64decode(data) for path, data in body.items()}

    def set_outcome(self, project: str, number: int, outcome: str, message: str = "") -> None:
        """Update how applying a revision went (a later pass may succeed or fail)."""
        with self._write():
            self._conn.execute(
                "UPDATE revisions SET outcome = ?, message = ? WHERE project = ? AND number = ?",
                (outcome, message, project, number),
            )

    def revisions(self, project: str) -> list[Revision]:
        """Every kept revision of ``project``, newest first."""
        rows = self._rows(f"{_REVISIONS} WHERE project = ? ORDER BY number DESC", project)
        return [_revision(r, self._sealer) for r in rows]

    def latest_revision(self, project: str, *, documents: bool = True) -> Revision | None:
        """The newest kept revision of ``project`` (one row read: every apply asks for it).
        ``documents=False``: without its manifests (left empty), for a caller that compares
        digests only: opening the sealed env values costs the cryptography import (~20 ms)
        and a decryption per value."""
        row = self._row(f"{_REVISIONS} WHERE project = ? ORDER BY number DESC LIMIT 1", project)
        if row is None:
            return None
        return _revision(row, self._sealer if documents else None)

    def revision(self, project: str, number: int) -> Revision | None:
        """One revision, or None when it does not exist (or was dropped by retention)."""
        row = self._row(f"{_REVISIONS} WHERE project = ? AND number = ?", project, number)
        return None if row is None else _revision(row, self._sealer)

    def image_digest_seen(self, project: str, ref: str, digest: str) -> tuple[float, str]:
        """Note that ``ref``'s tag points at ``digest`` in its registry; return when that was
        first seen and what became of it (``seen``, ``applied`` or ``rejected``)."""
        now = time.time()
        with self._write():
            self._conn.execute(
                "INSERT OR IGNORE INTO image_updates VALUES (?, ?, ?, ?, 'seen', ?, '')",
                (project, ref, digest, now, now),
            )
            row = self._conn.execute(
                "SELECT first_seen, outcome FROM image_updates "
                "WHERE project = ? AND ref = ? AND digest = ?",
                (project, ref, digest),
            ).fetchone()
            # Older digests of the ref are of no more use than to say what was rejected.
            self._conn.execute(
                "DELETE FROM image_updates WHERE project = ? AND ref = ? AND outcome = 'seen' "
                "AND digest != ?",
                (project, ref, digest),
            )
        return float(row[0]), str(row[1])

    def image_digest_outcome(
        self, project: str, ref: str, digest: str, outcome: str, message: str = ""
    ) -> None:
        """Record that ``digest`` of ``ref`` was ``applied`` or ``rejected`` (it failed its
        probation: never applied again automatically)."""
        now = time.time()
        with self._write():
            self._conn.execute(
                "INSERT INTO image_updates VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project, ref, digest) DO UPDATE SET outcome = excluded.outcome, "
                "at = excluded.at, message = excluded.message",
                (project, ref, digest, now, outcome, now, message),
            )

    def record_fetched(self, project: str, entries: Iterable[tuple[str, str, str]]) -> None:
        """Remember images reconcile pulled or built: (image ID, reference, pulled|built)."""
        rows = [(project, ident, ref, how, time.time()) for ident, ref, how in entries]
        if not rows:
            return
        with self._write():
            self._conn.executemany(
                "INSERT OR REPLACE INTO fetched_images VALUES (?, ?, ?, ?, ?)", rows
            )

    def fetched_images(self, project: str | None = None) -> list[tuple[str, str, str, str, float]]:
        """(project, image ID, reference, how, when) of images reconcile pulled or built."""
        if project is None:
            rows = self._rows("SELECT * FROM fetched_images ORDER BY at")
        else:
            rows = self._rows("SELECT * FROM fetched_images WHERE project = ? ORDER BY at", project)
        return [(r[0], r[1], r[2], r[3], float(r[4])) for r in rows]

    def forget_fetched(self, project: str, image_ids: Iterable[str]) -> None:
        """Forget images that were removed."""
        with self._write():
            self._conn.executemany(
                "DELETE FROM fetched_images WHERE project = ? AND image_id = ?",
                [(project, i) for i in image_ids],
            )

    def pin(self, project: str) -> Pin | None:
        """The rollback pin of ``project``, if any."""
        row = self._row("SELECT * FROM pins WHERE project = ?", project)
        return None if row is None else Pin(row[0], int(row[1]), row[2], float(row[3]))

    def set_pin(self, project: str, revision: int, upstream: str) -> None:
        """Pin ``project`` to ``revision`` while its source stays at ``upstream``."""
        with self._write():
            self._conn.execute(
                "INSERT OR REPLACE INTO pins VALUES (?, ?, ?, ?)",
                (project, revision, upstream, time.time()),
            )

    def clear_pin(self, project: str) -> bool:
        """Lift the pin; True when there was one."""
        with self._write():
            cursor = self._conn.execute("DELETE FROM pins WHERE project = ?", (project,))
        return cursor.rowcount > 0

    def save_status(self, project: str, data: dict[str, Any]) -> None:
        """Replace the loop's status report of ``project`` (read by ``reconcile status``)."""
        with self._write():
            self._conn.execute(
                "INSERT OR REPLACE INTO status VALUES (?, ?, ?)",
                (project, time.time(), json.dumps(data, sort_keys=True)),
            )

    def load_status(self, project: str) -> tuple[float, dict[str, Any]] | None:
        """(updated_at, data) of the last status report of ``project``, or None."""
        row = self._row("SELECT updated_at, data FROM status WHERE project = ?", project)
        return None if row is None else (float(row[0]), json.loads(row[1]))

    def events(self, project: str, limit: int = 100) -> list[Event]:
        """The latest ``limit`` events of ``project``, oldest first."""
        rows = self._rows(
            "SELECT project, at, kind, name, action, reason, outcome, message FROM events "
            "WHERE project = ? ORDER BY id DESC LIMIT ?",
            project,
            limit,
        )
        return [Event(*row) for row in reversed(rows)]


# A revision with the image digests it ran (kept apart: older states have no such column).
_REVISIONS = (
    "SELECT * FROM (SELECT r.*, d.digests FROM revisions r "
    "LEFT JOIN revision_digests d USING (project, number))"
)


def _projects(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT project FROM inventory")}


def _revision(row: Any, sealer: sealing.Sealer | None) -> Revision:
    return Revision(
        project=row[0],
        number=int(row[1]),
        created_at=float(row[2]),
        source=row[3],
        digest=row[4],
        documents=sealer.open(json.loads(row[5])) if sealer is not None else [],
        images=json.loads(row[6]),
        outcome=row[7],
        message=row[8],
        digests=json.loads(row[9]) if row[9] else {},
    )
