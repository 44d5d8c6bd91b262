"""The field diffs between a desired container and a live one: what the planner judges a
container by (``container_fields.compare`` on the effective configs), and the diffs a loop's
quiet pass reuses while nothing they are made of changed."""

from __future__ import annotations

import dataclasses

from reconciler.controllers.container_fields import compare, effective
from reconciler.controllers.plan import FieldDiff
from reconciler.values.configs import ContainerConfig, MountConfig
from reconciler.values.desired import DesiredContainer
from reconciler.values.observed import EngineFacts, ImageInfo, ObservedContainer


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _without_anonymous_volumes(
    have: ContainerConfig, want: ContainerConfig, image: ImageInfo
) -> ContainerConfig:
    """Drop the anonymous volumes the Engine adds for the image's VOLUMEs: not ours to judge."""
    wanted_targets = {m.target for m in want.mounts}
    anonymous = set(image.volumes) - wanted_targets

    def keep(m: MountConfig) -> bool:
        return not (m.type == "volume" and m.target in anonymous)

    mounts = tuple(m for m in have.mounts if keep(m))
    # dataclasses.replace costs ~30 us; a plan of 250 containers makes five each.
    return have if len(mounts) == len(have.mounts) else dataclasses.replace(have, mounts=mounts)


def _as_image(live: ContainerConfig, image: ImageInfo) -> ImageInfo:
    """The defaults a live container carries, as if they were its image's."""
    exposed = tuple(f"{p.container_port}/{p.protocol}" for p in live.ports if p.host_port is None)
    return dataclasses.replace(
        image,
        entrypoint=live.entrypoint,
        cmd=live.cmd,
        env=live.env,
        user=live.user or "",
        working_dir=live.working_dir or "",
        healthcheck=live.healthcheck,
        stop_signal=live.stop_signal,
        labels=live.labels,
        exposed_ports=exposed,
    )


def _macs_as_wanted(have: ContainerConfig, want: ContainerConfig) -> ContainerConfig:
    """An endpoint always has a MAC address (a random one unless asked for): judge it only
    where the manifest names one."""
    asked = {n.name for n in want.networks if n.mac_address}
    if all(n.mac_address is None or n.name in asked for n in have.networks):
        return have
    return dataclasses.replace(
        have,
        networks=tuple(
            n if n.name in asked else dataclasses.replace(n, mac_address=None)
            for n in have.networks
        ),
    )


def container_diffs(
    want: DesiredContainer,
    have: ObservedContainer,
    image: ImageInfo,
    engine: EngineFacts | None = None,
) -> tuple[FieldDiff, ...]:
    """The field diffs between a desired container and a live one built from ``image``."""
    assert have.config is not None, "observe must inspect containers the project wants"
    if have.image_id == image.id:
        target = effective(want.config, image)
    else:
        # The image changed: what the manifest leaves to the image is judged against what the
        # live container got from its old image, so only the manifest's own changes (and the
        # image) show, and the reason stays image-changed. The recreate takes the new defaults.
        target = effective(want.config, _as_image(have.config, image))
    live = _macs_as_wanted(_without_anonymous_volumes(have.config, target, image), target)
    # The platform is the image's: the pull chose it. A mismatch is planned by the caller.
    if target.platform is not None:
        target = dataclasses.replace(target, platform=None)
    defaults = dict(engine.defaults) if engine is not None else {}
    diffs = list(compare(target, live, want.secret_env, defaults))
    if have.image_id != image.id:
        diffs.append(FieldDiff("image.id", _short(have.image_id), _short(image.id)))
    # Per field: removed items before added ones, so a change reads as old then new.
    return tuple(
        sorted(diffs, key=lambda d: (d.path, d.before is None, d.before or "", d.after or ""))
    )


def kept_diffs(
    want: DesiredContainer, have: ObservedContainer, image: ImageInfo, engine: EngineFacts
) -> tuple[FieldDiff, ...]:
    """``container_diffs``, kept on ``want`` while ``have`` and ``image`` are the very same
    objects: a loop's next pass reuses its desired state while the manifests are unchanged,
    and the inspect store hands back the same observed container while no event touched it,
    so a quiet pass compares nothing again (the diffs are a function of these alone)."""
    held = want.memo.get("diffs")
    if held is not None and held[0] is have and held[1] is image and held[2] == engine:
        return held[3]  # type: ignore[no-any-return]
    diffs = container_diffs(want, have, image, engine)
    want.memo["diffs"] = (have, image, engine, diffs)
    return diffs
