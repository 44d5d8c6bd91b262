"""Label keys and other constants shared across the project. Values here are API."""

from __future__ import annotations

API_VERSION = "reconcile/v1"

# What docker compose labels its containers, volumes and networks with (``reconcile adopt``).
COMPOSE_LABEL_PREFIX = "com.docker.compose."
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
LABEL_PREFIX = "io.reconcile."
# On an image reconcile built: the digest of its context and build settings (ImageBuild).
BUILD_LABEL = LABEL_PREFIX + "build-digest"
LABEL_MANAGED_BY = "io.reconcile.managed-by"
# The digest of a container's configuration binds' content (``configuration: true``).
LABEL_CONTENT = "io.reconcile.content"
LABEL_PROJECT = "io.reconcile.project"
LABEL_KIND = "io.reconcile.kind"
LABEL_NAME = "io.reconcile.name"
LABEL_SOURCE = "io.reconcile.source"
LABEL_CONFIG_HASH = "io.reconcile.config-hash"
# Set on the replacement container during a recreate; see docs/decisions/crash-safe-recreate.md.
LABEL_REPLACES = "io.reconcile.replaces"
# A nonce the state recorded before the container was created: with the recorded Engine id,
# the proof that reconcile created that very container (labels alone can be copied, e.g. by
# `docker commit`). See docs/decisions/prune-safety.md.
LABEL_CREATION = "io.reconcile.creation"
MANAGED_BY_VALUE = "reconcile"

# Suffix of the temporary name a replacement container has until the old one is gone.
REPLACEMENT_SUFFIX = "-reconcile-next"

MAX_FILE_BYTES = 1024 * 1024
MAX_NESTING_DEPTH = 32
MAX_DOCUMENTS_PER_FILE = 1000
MAX_NAME_LENGTH = 63

# Env names matching any of these (case-insensitive, as a substring) are masked in output.
SECRET_NAME_MARKERS = (
    "PASSWORD",
    "PASSWD",
    "PASS",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
    "CERT",
    "SALT",
    "DSN",
)
MASK = "***"
# Remembered on volumes so that a prune knows whether a volume no longer declared may go.
LABEL_DELETION_POLICY = "io.reconcile.deletion-policy"
# A file of these names in a manifest directory places the directory's manifests in a fleet
# (docs/decisions/fleet.md); it is never read as a manifest itself.
PLACEMENT_FILES = ("placement.yaml", "placement.yml")
