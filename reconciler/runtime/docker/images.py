"""Images beyond inspect and pull: builds from a context, pulls by digest, tags, and what a
registry says a tag's digest is now. ``DockerRuntime`` delegates here."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.errors import BuildFailed, ImageNotFound, PermanentBackendError
from reconciler.runtime.docker import client, translate
from reconciler.runtime.docker.engine import Engine, NotFoundError

LOG_TAIL = 20  # lines of a failed build's log that its error shows


def build(
    engine: Engine,
    ref: str,
    context_tar: bytes,
    *,
    dockerfile: str,
    args: Mapping[str, str],
    target: str | None,
    labels: Mapping[str, str],
    platform: str | None = None,
    progress: Callable[[str, Mapping[str, Any]], None] | None = None,
) -> str:
    """Build ``context_tar`` with the Engine's builder and tag the image ``ref``; return its
    ID. A failed build raises ``BuildFailed`` with the tail of the log."""
    params: dict[str, str | int | bool | None] = {
        "t": ref,
        "dockerfile": dockerfile,
        "buildargs": json.dumps(dict(args)),
        "labels": json.dumps(dict(labels)),
        "rm": True,
        "forcerm": True,
        "target": target,
        "platform": platform,
    }
    log: list[str] = []
    ident = ""
    failure = ""

    def run(api: client.Client) -> None:
        nonlocal ident, failure
        stream = api.stream(
            "POST",
            "/build",
            params=params,
            headers={"Content-Type": "application/x-tar"},
            body=context_tar,
        )
        for item in stream:
            if not isinstance(item, dict):
                continue
            if progress is not None:
                progress(ref, item)
            text = item.get("stream")
            if isinstance(text, str):
                log.extend(line for line in text.splitlines() if line.strip())
            aux = item.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                ident = aux["ID"]
            if item.get("error") or item.get("errorDetail"):
                detail = item.get("errorDetail") or {}
                failure = str(item.get("error") or detail.get("message") or "the build failed")

    try:
        engine.call(f"build image {ref!r}", "image.build", run, retry=False)
    except ImageNotFound as exc:  # a FROM image the builder cannot pull
        failure = str(exc)
    if failure or not ident:
        tail = "\n".join(f"  | {line}" for line in log[-LOG_TAIL:])
        why = failure or "the builder reported no image"
        raise BuildFailed(f"building {ref} failed: {why}" + (f"\n{tail}" if tail else ""))
    return ident


def tag(engine: Engine, source: str, ref: str) -> None:
    """Point the tag ``ref`` at the image ``source`` (an ID or another reference)."""
    repository, name = translate.repository_and_tag(ref)
    engine.call(
        f"tag image {source!r} as {ref!r}",
        "image.tag",
        lambda api: api.post(
            client.path("/images/{}/tag", source), None, {"repo": repository, "tag": name}
        ),
    )


def insecure_registries(info: Mapping[str, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The registries the Engine speaks plain HTTP to (``insecure-registries``): names, and
    CIDRs, from ``/info``'s ``RegistryConfig``."""
    config = info.get("RegistryConfig") or {}
    names = frozenset(
        name
        for name, index in (config.get("IndexConfigs") or {}).items()
        if isinstance(index, dict) and index.get("Secure") is False
    )
    cidrs = tuple(str(c) for c in (config.get("InsecureRegistryCIDRs") or ()))
    return names, cidrs


def remove_if_unused(engine: Engine, ident: str, refs: frozenset[str]) -> str:
    """Remove the image ``ident`` unless something else may use it: a container (of anyone,
    running or not) made from it, a tag other than ``refs`` (someone else named it), or a
    child image (the Engine refuses). Returns ``removed``, ``gone`` or why it was kept."""
    try:
        raw = engine.call(
            f"inspect image {ident!r}",
            "image.inspect",
            lambda api: api.get(client.path("/images/{}/json", ident)),
        )
    except ImageNotFound:
        return "gone"
    except NotFoundError:
        return "gone"
    other_tags = sorted(set(raw.get("RepoTags") or ()) - refs)
    if other_tags:
        return f"kept: also tagged {', '.join(other_tags)}"
    containers = engine.call(
        "list containers", "container.list", lambda api: api.get("/containers/json", {"all": 1})
    )
    users = sorted(
        str((c.get("Names") or ["?"])[0]).lstrip("/")
        for c in containers
        if c.get("ImageID") == raw.get("Id")
    )
    if users:
        return f"kept: used by {', '.join(users)}"
    try:
        engine.call(
            f"remove image {ident!r}",
            "image.remove",
            lambda api: api.delete(client.path("/images/{}", ident), {"force": False}),
            retry=False,
        )
    except (ImageNotFound, NotFoundError):
        return "gone"
    except PermanentBackendError as exc:
        return f"kept: {exc}"
    return "removed"
