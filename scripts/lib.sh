# shellcheck shell=bash
# Shared helpers for the scripts in this folder. Sourced, never run.

# The repository root, whatever directory the caller ran the script from.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT

# We call Debian's docker CLI (/usr/bin/docker, from the docker.io package that
# scripts/setup installs) on purpose: it is the one every machine gets from our own
# install step, and it matches the 20.10 engine (legacy builder, no buildx needed).
# A newer client elsewhere on PATH (e.g. /usr/local/bin/docker 28.x) would also work,
# but it is not guaranteed to exist. Override with DOCKER_CLI=... if you must.
DOCKER_CLI="${DOCKER_CLI:-/usr/bin/docker}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Seconds since this script started, for the timing lines.
elapsed() { echo "$((SECONDS))s"; }
