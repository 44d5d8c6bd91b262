"""External volumes and networks in the pure planner: literal desired and observed states in,
golden plans out. An external resource is never created, compared, changed or removed; a
missing one (or one the policy refuses once seen) is a conflict that holds what needs it."""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler.controllers.container_fields import effective
from reconciler.controllers.plan import Action, render_text
from reconciler.controllers.planner import plan, plan_delete
from reconciler.manifests import any_manifest
from reconciler.values import desired as desired_mod
from reconciler.values.configs import NetworkConfig, SubnetConfig, VolumeConfig
from reconciler.values.observed import (
    ContainerStatus,
    ImageInfo,
    ObservedContainer,
    ObservedNetwork,
    ObservedState,
    ObservedVolume,
    Ownership,
)

P = "shop"
IMAGE = ImageInfo(id="sha256:" + "a" * 64, cmd=("sh",), env=(("PATH", "/bin"),))
EXTERNAL = {"external": True}
# What someone else made: another driver, options, labels, subnets; none of it is compared.
PROXY = ObservedNetwork(
    "n-proxy",
    "proxy",
    Ownership(),
    NetworkConfig(
        driver="bridge",
        attachable=True,
        driver_opts=(("com.docker.network.driver.mtu", "1400"),),
        subnets=(SubnetConfig("172.30.0.0/16", "172.30.0.1"),),
        labels=(("com.docker.compose.project", "traefik"),),
    ),
    containers=("traefik",),
)
SHARED = ObservedVolume(
    "shared",
    Ownership(project="other", name="shared", deletion_policy="Delete"),
    VolumeConfig("local", (("size", "1G"), ("type", "tmpfs")), (("owner", "ops"),)),
)


def doc(kind: str, name: str, spec: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"apiVersion": "reconcile/v1", "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    return any_manifest().validate_python(body)


def stack(*extra: Any) -> desired_mod.DesiredState:
    """web joins the external network proxy and mounts the external volume shared; cache
    stands alone; the set also declares its own network."""
    docs = [
        doc("Network", "proxy", EXTERNAL),
        doc("Volume", "shared", EXTERNAL),
        doc("Network", "own"),
        doc(
            "Container",
            "web",
            {
                "image": "busybox:test",
                "networks": ["proxy", "own"],
                "mounts": [{"type": "volume", "source": "shared", "target": "/srv"}],
            },
        ),
        doc("Container", "cache", {"image": "busybox:test", "networks": ["own"]}),
        *extra,
    ]
    return desired_mod.build(P, ((d, f"shop.yaml:{i + 1}") for i, d in enumerate(docs)))


def live(want: desired_mod.DesiredContainer) -> ObservedContainer:
    return ObservedContainer(
        f"id-{want.name}",
        want.name,
        IMAGE.id,
        Ownership(project=P, name=want.name),
        ContainerStatus("running"),
        effective(want.config, IMAGE),
    )


def converged(state: desired_mod.DesiredState, **networks: ObservedNetwork) -> ObservedState:
    own = ObservedNetwork("n-own", "own", Ownership(project=P, name="own"), NetworkConfig())
    return ObservedState(
        containers={n: live(c) for n, c in state.containers.items()},
        volumes={"shared": SHARED},
        networks={"proxy": PROXY, "own": own, **networks},
        images={"busybox:test": IMAGE},
    )


def test_existing_external_resources_get_no_step_and_are_never_compared() -> None:
    state = stack()
    result = plan(
        state,
        ObservedState(
            volumes={"shared": SHARED}, networks={"proxy": PROXY}, images={"busybox:test": IMAGE}
        ),
    )
    assert render_text(result) == (
        'Plan for project "shop": 3 to create; 2 in sync\n'
        "\n"
        "  + create   Network/own  (missing)\n"
        "  + create   Container/cache  (missing)\n"
        "  + create   Container/web  (missing)\n"
    )
    assert result.in_sync == ("Network/proxy", "Volume/shared")
    web = next(s for s in result.steps if s.name == "web")
    assert web.after == ("Network/own",)  # nothing to wait for on the external ones


def test_a_converged_set_with_external_resources_plans_nothing() -> None:
    state = stack()
    result = plan(state, converged(state))
    assert render_text(result) == 'Plan for project "shop": no changes; 5 in sync\n'
    assert not result.warnings


def test_a_missing_external_network_is_a_conflict_and_holds_its_containers() -> None:
    state = stack()
    observed = dataclasses.replace(converged(state), containers={}, networks={})
    result = plan(state, observed)
    assert render_text(result) == (
        'Plan for project "shop": 2 to create; 1 in sync, 2 conflicts\n'
        "\n"
        "  + create   Network/own  (missing)\n"
        "  + create   Container/cache  (missing)\n"
        "  ! conflict Container/web: not acted on: it needs Network/proxy, which is in conflict "
        "(see that conflict)\n"
        '  ! conflict Network/proxy: external network "proxy" does not exist: it is declared '
        "external, so reconcile never creates it; whoever owns it must create it (docker "
        "network create proxy)\n"
    )


def test_a_missing_external_volume_is_a_conflict_and_holds_its_dependents() -> None:
    state = stack(
        doc("Container", "worker", {"image": "busybox:test", "dependsOn": ["web"]}),
    )
    observed = dataclasses.replace(
        converged(state), volumes={}, containers={}, images={"busybox:test": IMAGE}
    )
    result = plan(state, observed)
    assert [s.key for s in result.steps] == ["Container/cache"]
    assert [(c.kind, c.name, c.message) for c in result.conflicts] == [
        (
            "Container",
            "web",
            "not acted on: it needs Volume/shared, which is in conflict (see that conflict)",
        ),
        (
            "Container",
            "worker",
            "not acted on: it needs Container/web, which is in conflict (see that conflict)",
        ),
        (
            "Volume",
            "shared",
            'external volume "shared" does not exist: it is declared external, so reconcile '
            "never creates it; whoever owns it must create it (docker volume create shared)",
        ),
    ]


def test_an_external_resource_someone_else_owns_is_not_a_name_clash() -> None:
    # SHARED is labelled as project "other"'s: declared external, that is the point.
    state = stack()
    result = plan(state, converged(state))
    assert not result.conflicts


def test_an_external_network_is_never_recreated_and_its_members_are_not_reconnected() -> None:
    state = stack()
    changed = dataclasses.replace(
        PROXY, config=dataclasses.replace(PROXY.config, driver="macvlan", internal=True)
    )
    result = plan(state, converged(state, proxy=changed))
    assert not result.has_changes
    assert "Network/proxy" in result.in_sync


def test_external_resources_are_never_pruned_even_when_once_ours() -> None:
    # The volume and network carry this project's labels and sit in the inventory (reconcile
    # made them before they were declared external): still declared, nothing prunes them.
    state = stack()
    ours_volume = dataclasses.replace(
        SHARED, ownership=Ownership(project=P, name="shared", deletion_policy="Delete")
    )
    ours_proxy = dataclasses.replace(PROXY, ownership=Ownership(project=P, name="proxy"))
    observed = dataclasses.replace(
        converged(state, proxy=ours_proxy), volumes={"shared": ours_volume}
    )
    inventory = frozenset(
        {
            ("Volume", "shared"),
            ("Network", "proxy"),
            ("Network", "own"),
            ("Container", "web"),
            ("Container", "cache"),
        }
    )
    result = plan(
        state,
        observed,
        prune=True,
        force_prune=True,
        inventory=inventory,
        proven=frozenset({"id-web", "id-cache"}),
    )
    assert not result.has_changes
    assert not result.conflicts


def test_delete_leaves_external_resources_alone() -> None:
    state = stack()
    ours_volume = dataclasses.replace(
        SHARED, ownership=Ownership(project=P, name="shared", deletion_policy="Delete")
    )
    observed = dataclasses.replace(converged(state), volumes={"shared": ours_volume})
    result = plan_delete(state, observed, proven=frozenset({"id-web", "id-cache"}))
    assert render_text(result) == (
        'Plan for project "shop": 3 to remove; 0 in sync\n'
        "\n"
        "  - remove   Container/cache  (delete-requested)\n"
        "  - remove   Container/web  (delete-requested)\n"
        "  - remove   Network/own  (delete-requested)\n"
    )


def test_a_policy_refusal_of_an_external_resource_is_a_conflict_that_holds_its_users() -> None:
    state = stack()
    observed = dataclasses.replace(converged(state), containers={})
    result = plan(
        state,
        observed,
        refused={
            ("Network", "proxy"): "refused by the host-access policy: [baseline/network-drivers]",
        },
    )
    assert [s.key for s in result.steps] == ["Container/cache"]
    assert [(c.kind, c.name, c.message) for c in result.conflicts] == [
        (
            "Container",
            "web",
            "not acted on: it needs Network/proxy, which is in conflict (see that conflict)",
        ),
        ("Network", "proxy", "refused by the host-access policy: [baseline/network-drivers]"),
    ]


def test_a_refused_container_gets_no_step_and_holds_its_dependents() -> None:
    # How web mounts the external volume is refused (a read-write bind in disguise, say);
    # a running web is left as it is, a missing one is not created, worker waits for it.
    state = stack(doc("Container", "worker", {"image": "busybox:test", "dependsOn": ["web"]}))
    observed = converged(state)
    observed = dataclasses.replace(
        observed, containers={n: c for n, c in observed.containers.items() if n != "worker"}
    )
    refusal = "refused by the host-access policy: [baseline/bind-mounts] ..."
    result = plan(state, observed, refused={("Container", "web"): refusal})
    assert not result.has_changes
    assert "Container/web" not in result.in_sync
    assert [(c.kind, c.name, c.message) for c in result.conflicts] == [
        ("Container", "web", refusal),
        (
            "Container",
            "worker",
            "not acted on: it needs Container/web, which is in conflict (see that conflict)",
        ),
    ]
    assert all(s.action is not Action.CREATE for s in result.steps)
