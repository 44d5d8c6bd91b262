"""What a loop's pass hands its next one, so that a quiet pass builds nothing again
(docs/decisions/pass-fixed-costs.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reconciler.policy import Admission
from reconciler.values.desired import DesiredState, HostInputs


@dataclass
class Carry:
    """What a loop's pass leaves its next one: the desired state it built, reused while the
    admitted set is the very same object (an unchanged directory gives back its snapshot,
    admitted once) and every container's host inputs are equal. Its containers then keep the
    planner's diffs too (``DesiredContainer.memo``), so a quiet pass of 250 containers builds
    and compares nothing again. One-shot commands have none."""

    admission: Admission | None = None
    project: str = ""
    host: Mapping[str, HostInputs] | None = None
    desired: DesiredState | None = None

    def desired_for(
        self,
        project: str,
        admission: Admission,
        host: Mapping[str, HostInputs],
        build: Callable[[], DesiredState],
    ) -> DesiredState:
        """The desired state built last time, if made of the same inputs; else ``build()``."""
        if (
            self.desired is None
            or self.admission is not admission
            or self.project != project
            or self.host != host
        ):
            self.admission, self.project, self.host = admission, project, host
            self.desired = build()
        return self.desired
