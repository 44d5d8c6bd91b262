"""The images a pass's containers need, each got once per pass however many steps ask: pulled
as the pull policy says, or built from the container's context when its image does not carry
that context's digest (``BUILD_LABEL``)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

from reconciler.controllers.containers import platform_matches
from reconciler.converge import buildcontext
from reconciler.errors import BuildFailed, ImageNotFound
from reconciler.manifests.constants import BUILD_LABEL
from reconciler.runtime.base import Runtime
from reconciler.values.configs import ImageBuild
from reconciler.values.observed import ImageInfo


def built_from(image: ImageInfo | None, build: ImageBuild) -> bool:
    """Whether ``image`` is what ``build`` makes (it carries the same build digest)."""
    return image is not None and dict(image.labels).get(BUILD_LABEL) == build.digest


class Images:
    """Local images by reference, got at most once per pass (a lock per reference)."""

    def __init__(self, runtime: Runtime, on_built: Callable[[str], None] | None = None) -> None:
        self.runtime = runtime
        self.on_built = on_built
        self._known: dict[str, ImageInfo] = {}
        self._fetched: dict[str, tuple[str, str]] = {}  # ref -> (image ID, pulled|built)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def known(self, ref: str) -> ImageInfo | None:
        """The image got for ``ref`` in this pass, if any."""
        with self._lock:
            return self._known.get(ref)

    def fetched(self) -> list[tuple[str, str, str]]:
        """(image ID, reference, pulled|built) of what this pass pulled or built."""
        with self._lock:
            return [(ident, ref, how) for ref, (ident, how) in sorted(self._fetched.items())]

    def got(self) -> dict[str, ImageInfo]:
        """Every image got in this pass, by reference."""
        with self._lock:
            return dict(self._known)

    def ensure(self, ref: str, policy: str, platform: str | None = None) -> ImageInfo:
        """The local image for ``ref`` (for ``platform``, when given), pulled when the policy
        says so or the local one is of another platform."""
        return self._once(ref, lambda: self._pull_if_needed(ref, policy, platform))

    def ensure_built(self, ref: str, build: ImageBuild, where: str = "") -> ImageInfo:
        """The image ``build`` makes, tagged ``ref``: the local one when it carries the
        build's digest, else built now. ``BuildFailed`` names the image and the manifest
        (``where``) and ends with the build log's tail; nothing else changes."""
        return self._once(ref, lambda: self._build_if_needed(ref, build, where))

    def _once(self, ref: str, get: Callable[[], ImageInfo]) -> ImageInfo:
        with self._lock:
            if ref in self._known:
                return self._known[ref]
            lock = self._locks.setdefault(ref, threading.Lock())
        with lock:
            with self._lock:
                if ref in self._known:
                    return self._known[ref]
            info = get()
            with self._lock:
                self._known[ref] = info
            return info

    def _pull_if_needed(self, ref: str, policy: str, platform: str | None) -> ImageInfo:
        info = None if policy == "Always" else self.runtime.inspect_image(ref)
        if info is not None and platform and not platform_matches(info.platform, platform):
            if policy == "Never":
                raise ImageNotFound(
                    f'image "{ref}" is {info.platform} here, not {platform}, and pullPolicy '
                    "is Never"
                )
            info = None
        if info is None:
            if policy == "Never":
                raise ImageNotFound(f'image "{ref}" is not present and pullPolicy is Never')
            info = self.runtime.pull_image(ref, platform)
            with self._lock:
                self._fetched[ref] = (info.id, "pulled")
        return info

    def _build_if_needed(self, ref: str, build: ImageBuild, where: str) -> ImageInfo:
        info = self.runtime.inspect_image(ref)
        if built_from(info, build) and info is not None:
            return info
        try:
            context = buildcontext.archive(build)
        except (OSError, buildcontext.ContextError) as exc:
            raise BuildFailed(f"building {ref} failed: {exc}" + _at(where)) from None
        labelled = dataclasses.replace(
            build, labels=tuple(sorted({**dict(build.labels), BUILD_LABEL: build.digest}.items()))
        )
        try:
            info = self.runtime.build_image(ref, context, labelled)
        except BuildFailed as exc:
            first, _, log = str(exc).partition("\n")
            raise BuildFailed(first + _at(where) + (f"\n{log}" if log else "")) from None
        with self._lock:
            self._fetched[ref] = (info.id, "built")
        if self.on_built is not None:
            self.on_built(ref)
        return info


def _at(where: str) -> str:
    return f" (spec.build of {where})" if where else ""
