"""What the Engine really has: the ``observe`` stage's types (a leaf module).

Built by a runtime backend from list and inspect calls. Labels are already parsed into
ownership fields so that planning never reads raw label keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from reconciler.manifests import constants
from reconciler.values.configs import (
    ContainerConfig,
    HealthcheckConfig,
    NetworkConfig,
    Pairs,
    VolumeConfig,
)

# The restart policy of a container meant to run to completion (a migration, a model pull):
# exited with code 0, it is completed, and in sync.
ONE_SHOT_POLICY = "no"


@dataclass(frozen=True)
class Ownership:
    """Who created a resource, read from its labels. ``project`` None means not ours."""

    project: str | None = None
    name: str | None = None
    source: str | None = None
    config_hash: str | None = None
    replaces: str | None = None
    deletion_policy: str | None = None
    compose_project: str | None = None  # docker compose's project label, on what it made

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Ownership:
        """Ownership read from an Engine object's labels (not ours: ``project`` None)."""
        if labels.get(constants.LABEL_MANAGED_BY) != constants.MANAGED_BY_VALUE:
            return cls(compose_project=labels.get(constants.COMPOSE_PROJECT_LABEL))
        return cls(
            project=labels.get(constants.LABEL_PROJECT),
            name=labels.get(constants.LABEL_NAME),
            source=labels.get(constants.LABEL_SOURCE),
            config_hash=labels.get(constants.LABEL_CONFIG_HASH),
            replaces=labels.get(constants.LABEL_REPLACES),
            deletion_policy=labels.get(constants.LABEL_DELETION_POLICY),
        )

    @property
    def managed(self) -> bool:
        """True when reconcile created the resource (for some project)."""
        return self.project is not None


def repository_of(ref: str) -> str:
    """A reference's repository: without its tag or digest (a colon before the last slash
    is a registry's port)."""
    name = ref.partition("@")[0]
    repository, colon, rest = name.rpartition(":")
    return repository if colon and "/" not in rest else name


def _canonical_repository(ref: str) -> str:
    """A reference's repository, Docker Hub's prefixes left out."""
    name = repository_of(ref)
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name.removeprefix("library/")


@dataclass(frozen=True)
class ImageInfo:
    """A local image and the defaults it gives containers created from it."""

    id: str
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: Pairs = ()
    user: str = ""
    working_dir: str = ""
    healthcheck: HealthcheckConfig | None = None
    stop_signal: str | None = None
    labels: Pairs = ()
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"
    volumes: tuple[str, ...] = ()
    platform: str = ""  # os/architecture[/variant], "" when the Engine does not say
    repo_digests: tuple[str, ...] = ()  # "repo@sha256:..." of each registry it came from

    def digest_in(self, ref: str) -> str:
        """The digest this image has in ``ref``'s repository (``sha256:...``), "" when it
        has none there (built here, loaded, or pulled under another name)."""
        wanted = _canonical_repository(ref)
        for entry in self.repo_digests:
            name, at, digest = entry.partition("@")
            if at and _canonical_repository(name) == wanted:
                return digest
        return ""


@dataclass(frozen=True)
class ContainerStatus:
    """Run-time state of a container."""

    state: str  # created | running | paused | restarting | exited | dead | removing
    health: str | None = None  # starting | healthy | unhealthy | None when no healthcheck
    exit_code: int = 0
    restart_count: int = 0
    started_at: str = ""
    finished_at: str = ""
    oom_killed: bool = False
    pid: int = 0  # the main process on the Engine's host, 0 when not running
    # (target, volume name) of the anonymous volumes it mounts (kept across a recreate)
    anonymous_volumes: tuple[tuple[str, str], ...] = ()
    # HostConfig.RestartPolicy as the Engine has it (no, always, on-failure:3...); "" unread
    restart_policy: str = ""

    @property
    def running(self) -> bool:
        """True when the process is up (running or restarting by the Engine's policy)."""
        return self.state in ("running", "restarting")

    @property
    def succeeded(self) -> bool:
        """It ran and exited with code 0 (the Engine recorded when it finished)."""
        return self.state == "exited" and self.exit_code == 0 and bool(self.finished_at)

    @property
    def completed(self) -> bool:
        """A one-shot that ran to completion: restart policy ``no`` (read from the Engine)
        and exited with code 0. It is done: never started again for being stopped."""
        return self.restart_policy == ONE_SHOT_POLICY and self.succeeded


@dataclass(frozen=True)
class ObservedContainer:
    """A container found on the Engine. ``config`` is None when it was only listed."""

    id: str
    name: str
    image_id: str
    ownership: Ownership
    status: ContainerStatus
    config: ContainerConfig | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedVolume:
    """A named volume found on the Engine."""

    name: str
    ownership: Ownership
    config: VolumeConfig
    mountpoint: str = ""


@dataclass(frozen=True)
class ObservedNetwork:
    """A network found on the Engine, with the names of the containers attached to it."""

    id: str
    name: str
    ownership: Ownership
    config: NetworkConfig
    containers: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineFacts:
    """What the connected Engine is: its API version (None when unknown: nothing is judged
    by it), its OCI runtimes and the defaults it gives fields left out, by manifest path
    (``{"runtime": "runc"}``)."""

    api_version: str | None = None
    runtimes: tuple[str, ...] = ()
    defaults: Pairs = ()
    # Why the Engine's host may be another machine ("" when it is this one): host paths in
    # manifests would name that host's files, which reconcile cannot judge or provide.
    elsewhere: str = ""
    # "swarm" when the backend runs containers as Swarm services, "" for plain containers.
    orchestrator: str = ""


@dataclass(frozen=True)
class ObservedState:
    """One consistent snapshot of what matters to one project.

    ``containers`` holds every container that belongs to the project or whose name the project
    wants (owned or not, so that clashes are seen), keyed by name; likewise volumes and networks.
    ``images`` maps each wanted image reference to its local image, or None when not present.
    """

    containers: Mapping[str, ObservedContainer] = field(default_factory=dict)
    volumes: Mapping[str, ObservedVolume] = field(default_factory=dict)
    networks: Mapping[str, ObservedNetwork] = field(default_factory=dict)
    images: Mapping[str, ImageInfo | None] = field(default_factory=dict)
    engine: EngineFacts = field(default_factory=EngineFacts)
