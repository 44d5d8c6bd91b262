"""The ``metadata`` of every manifest: its name, its labels, and where in a fleet it runs."""

from __future__ import annotations

from pydantic import Field

from reconciler.manifests.common import Labels, Name, Strict
from reconciler.manifests.placement import Placement


class Metadata(Strict):
    """Identity of a resource: its name (unique per kind in a set), its labels, and its
    placement (which hosts of a fleet run it; none: every host)."""

    name: Name
    labels: Labels = Field(default_factory=dict)
    placement: Placement | None = None
