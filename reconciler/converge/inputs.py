"""What a container takes from host files besides its manifest: env files (plain or
encrypted), secret files, and the content of its configuration binds.

Read after admission (the policy judged every path), before the desired state is built: the
values go into the desired config (env values masked in every output; secret files written
to a root-only store and bind-mounted read-only; configuration content as digests). Nothing
here is kept in the load cache, the state database or a revision: revisions keep the
manifests, which name the files, never their content. A file that cannot be read whole
stops the pass before anything changes (``ManifestError`` at the manifest line).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.converge import buildcontext
from reconciler.errors import ManifestError, Problem
from reconciler.loading import LoadedManifest
from reconciler.manifests import ContainerManifest
from reconciler.manifests.container import BindMount
from reconciler.secrets.decrypt import Decryptor, read_capped
from reconciler.secrets.envfile import parse_env_bytes
from reconciler.secrets.errors import SecretError
from reconciler.secrets.store import SecretStore
from reconciler.values.desired import DesiredState, HostInputs, image_build

# A configuration bind is hashed whole on every pass: bounded so that a mistaken bind of a
# data directory fails clearly instead of reading gigabytes.
MAX_CONTENT_BYTES = 64 * 1024 * 1024
MAX_CONTENT_FILES = 10_000


@dataclass(frozen=True)
class SecretFile:
    """A secret's content and where the container sees it (the content stays in memory)."""

    name: str
    target: str
    content: bytes = field(repr=False)
    owner: tuple[int, int] | None = None  # who may read it in the container
    mode: int = 0o400

    @property
    def digest(self) -> str:
        """A short digest of the content (names the file in the store)."""
        return hashlib.sha256(self.content).hexdigest()[:32]


@dataclass(frozen=True)
class Inputs:
    """One container's inputs from host files."""

    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # env files, in order
    secret_files: tuple[SecretFile, ...] = ()
    content: str | None = None  # target=digest;... of its configuration binds
    watched: tuple[str, ...] = ()  # host paths whose change the loop acts on
    # The env and secret files as read (an encrypted one still encrypted), for the revision.
    files: tuple[tuple[str, bytes], ...] = field(default=(), repr=False)
    build_digest: str = ""  # of its build context and settings (spec.build)


class ContentTooLarge(Exception):
    """A configuration bind's content is over the bounds."""


def content_digest(path: str) -> str:
    """A digest of a file's bytes, or of a directory's tree (names, file bytes, symlink
    targets as written: a link is not followed, so it cannot lead the hash outside)."""
    h = hashlib.sha256()
    total, files = 0, 0
    info = os.lstat(path)
    if stat.S_ISREG(info.st_mode):
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                total += len(chunk)
                if total > MAX_CONTENT_BYTES:
                    raise ContentTooLarge(f"{path} is larger than {MAX_CONTENT_BYTES} bytes")
                h.update(chunk)
        return h.hexdigest()[:16]
    for root, dirs, names in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            files += 1
            if files > MAX_CONTENT_FILES:
                raise ContentTooLarge(f"{path} holds more than {MAX_CONTENT_FILES} files")
            entry = os.lstat(full)
            if stat.S_ISLNK(entry.st_mode):
                h.update(f"L {rel} -> {os.readlink(full)}\n".encode())
            elif stat.S_ISREG(entry.st_mode):
                h.update(f"F {rel}\n".encode())
                with open(full, "rb") as handle:
                    for chunk in iter(lambda: handle.read(1 << 20), b""):
                        total += len(chunk)
                        if total > MAX_CONTENT_BYTES:
                            raise ContentTooLarge(
                                f"{path} holds more than {MAX_CONTENT_BYTES} bytes"
                            )
                        h.update(chunk)
    return h.hexdigest()[:16]


# Where the host's age key is looked for when no variable names one (docs/decisions/secrets.md).
SYSTEM_KEY = Path("/etc/reconcile/age.key")


def decryptor(state_dir: Path) -> Decryptor:
    """What decrypts SOPS and age files with this host's key: the variables, else
    ``STATE_DIR/age.key``, else /etc/reconcile/age.key (found only when a file needs it)."""
    return Decryptor(default_key_paths=(state_dir / "age.key", SYSTEM_KEY))


def store_for(state_dir: Path) -> SecretStore:
    """The secret files of every project of a state directory (``STATE_DIR/secrets``)."""
    return SecretStore(state_dir / "secrets")


def resolve(
    manifests: Sequence[LoadedManifest],
    keys: Decryptor,
    kept: Mapping[str, bytes] | None = None,
    remembered: buildcontext.Remembered | None = None,
) -> dict[str, Inputs]:
    """Every container's inputs, by name; raises ``ManifestError`` (every problem, at its
    manifest line, naming the file, never its content) when any cannot be read. ``kept``:
    env and secret files as a revision keeps them (a rollback), read instead of the disk."""
    found: dict[str, Inputs] = {}

    def read(path: str) -> tuple[bytes, bytes]:
        raw = (kept or {}).get(path)
        if raw is None:
            raw = read_capped(Path(path))
        return raw, keys.decrypt_bytes(Path(path), raw)

    problems: list[Problem] = []
    contexts: list[str] = []
    for loaded in manifests:
        manifest = loaded.manifest
        if not isinstance(manifest, ContainerManifest):
            continue
        spec = manifest.spec
        if not (spec.env_files or spec.secrets or _configuration(spec.mounts) or spec.build):
            continue
        env: dict[str, str] = {}
        raws: dict[str, bytes] = {}
        for i, env_file in enumerate(spec.env_files):
            where = loaded.locate("spec", "envFiles", i)
            missing = not os.path.exists(env_file.path) and env_file.path not in (kept or {})
            if env_file.required is False and missing:
                continue
            try:
                raws[env_file.path], plain = read(env_file.path)
                env.update(parse_env_bytes(plain, env_file.path))
            except SecretError as exc:
                problems.append(Problem(where, f"spec.envFiles[{i}]", str(exc)))
        files = []
        for i, secret in enumerate(spec.secrets):
            where = loaded.locate("spec", "secrets", i)
            try:
                if secret.content is not None:
                    content = secret.content.encode()
                else:
                    raws[secret.file or ""], content = read(secret.file or "")
            except SecretError as exc:
                problems.append(Problem(where, f"spec.secrets[{i}].file", str(exc)))
                continue
            owner, mode = _reader(spec.user)
            files.append(SecretFile(secret.name, secret.mount_target, content, owner, mode))
        digests = []
        watched = []
        for i, mount in enumerate(spec.mounts):
            if isinstance(mount, BindMount) and mount.configuration:
                try:
                    digests.append(f"{mount.target}={content_digest(mount.source)}")
                except (OSError, ContentTooLarge) as exc:
                    where = loaded.locate("spec", "mounts", i)
                    problems.append(Problem(where, f"spec.mounts[{i}].configuration", _why(exc)))
                watched.append(mount.source)
        build_digest = ""
        if spec.build is not None:
            try:
                build = image_build(spec)
                assert build is not None
                build_digest = buildcontext.digest(build, remembered)
                contexts.append(build.context)
            except (OSError, buildcontext.ContextError) as exc:
                where = loaded.locate("spec", "build", "context")
                problems.append(Problem(where, "spec.build.context", str(exc)))
            watched.append(spec.build.context)
        watched += [f.path for f in spec.env_files]
        watched += [s.file for s in spec.secrets if s.file is not None]
        found[manifest.metadata.name] = Inputs(
            tuple(env.items()),
            tuple(files),
            ";".join(sorted(digests)) or None,
            tuple(watched),
            tuple(sorted(raws.items())),
            build_digest,
        )
    if problems:
        raise ManifestError(problems)
    if remembered is not None:
        remembered.save(contexts)
    return found


def _reader(user: str | None) -> tuple[tuple[int, int] | None, int]:
    """Owner and mode of a secret file, so that the container's user can read it and no one
    else in it: a numeric ``user`` owns it (0400); a user by name is only known inside the
    image, so the file is 0444 — still unreachable from the host through the store's 0700
    directories."""
    if user is None or user in ("root", "0", "0:0"):
        return None, 0o400
    uid, _, gid = user.partition(":")
    if uid.isdigit() and (not gid or gid.isdigit()):
        return (int(uid), int(gid or 0)), 0o400
    return None, 0o444


def _configuration(mounts: Sequence[object]) -> bool:
    return any(isinstance(m, BindMount) and m.configuration for m in mounts)


def _why(exc: Exception) -> str:
    if isinstance(exc, ContentTooLarge):
        return f"configuration {exc}: bind a smaller file or directory, or drop configuration"
    return (
        f"cannot read the configuration: {exc.strerror or exc}"
        if isinstance(exc, OSError)
        else str(exc)
    )


def host_inputs(
    found: Mapping[str, Inputs], store: SecretStore, project: str, *, write: bool
) -> dict[str, HostInputs]:
    """The inputs as the desired state takes them: secret files by their path in the store
    (written there now, unless a dry run: a plan needs only the paths)."""
    out = {}
    for name, item in found.items():
        mounts = []
        for secret in item.secret_files:
            put = store.write if write else store.path_for
            path = put(
                project, name, secret.name, secret.content, owner=secret.owner, mode=secret.mode
            )
            mounts.append((secret.target, str(path)))
        out[name] = HostInputs(item.env, tuple(mounts), item.content, item.build_digest)
    return out


def prune_store(store: SecretStore, project: str, desired: DesiredState | None) -> None:
    """Remove this project's secret files no container is meant to use any more (after a
    pass whose every step succeeded: a container kept by a failed recreate still uses its
    old files); all of them after a delete (``desired`` None)."""
    if not (store.root / project).exists():
        return
    keep = {
        Path(m.source)
        for c in (desired.containers.values() if desired is not None else ())
        for m in c.config.mounts
        if m.target in c.secret_targets
    }
    project_root = store.root / project
    others = {p for p in _files_under(store.root) if project_root not in p.parents}
    store.prune(keep | others)


def _files_under(root: Path) -> set[Path]:
    found = set()
    for dirpath, _, names in os.walk(root, followlinks=False):
        found |= {Path(dirpath) / n for n in names}
    return found


def files_read(inputs: Mapping[str, Inputs]) -> dict[str, bytes]:
    """Every env and secret file the containers read, as read (for the revision)."""
    return {path: raw for item in inputs.values() for path, raw in item.files}


def watched_paths(inputs: Mapping[str, Inputs]) -> set[str]:
    """Every host path the loop should watch for the containers' inputs."""
    return {path for item in inputs.values() for path in item.watched}
