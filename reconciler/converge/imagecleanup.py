"""Opt-in image clean-up: remove images reconcile pulled or built for a project that nothing
uses any more. An image is kept while any container (anyone's, running or stopped) is made
from it, while a kept revision of any project in this state directory ran it (a rollback may
need it), while it carries a tag reconcile did not give it, or while images are built on it."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.runtime.base import Runtime
from reconciler.state.database import State


@dataclass(frozen=True)
class Fetched:
    """An image reconcile pulled or built, and what became of it."""

    image_id: str
    refs: tuple[str, ...]
    how: str
    outcome: str  # removed | gone | would be removed | kept: why


def image_cleanup(runtime: Runtime, state: State, project: str, *, dry_run: bool) -> list[Fetched]:
    """Judge (and unless ``dry_run`` remove) each image fetched for ``project``."""
    found: dict[str, tuple[set[str], str]] = {}
    for _, ident, ref, how, _at in state.fetched_images(project):
        refs, _ = found.setdefault(ident, (set(), how))
        refs.add(ref)
    kept_by: dict[str, str] = {}
    for other in state.projects():
        for revision in state.revisions(other):
            for ident in revision.images.values():
                kept_by.setdefault(ident, f"revision #{revision.number} of {other}")
    results, gone = [], []
    for ident, (refs, how) in sorted(found.items()):
        if ident in kept_by:
            outcome = f"kept: ran in {kept_by[ident]}"
        elif dry_run:
            outcome = "would be removed (unless a container uses it)"
        else:
            outcome = runtime.remove_image_if_unused(ident, frozenset(refs))
        if outcome in ("removed", "gone"):
            gone.append(ident)
        results.append(Fetched(ident, tuple(sorted(refs)), how, outcome))
    if gone:
        state.forget_fetched(project, gone)
    return results
