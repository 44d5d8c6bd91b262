"""The pure planner: literal desired and observed states in, golden plans out. No Engine."""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler.controllers.container_fields import effective
from reconciler.controllers.plan import Action, Reason, render_json, render_text
from reconciler.controllers.planner import plan, plan_delete
from reconciler.manifests import any_manifest
from reconciler.values import desired as desired_mod
from reconciler.values.configs import (
    ContainerConfig,
    NetworkAttachmentConfig,
    NetworkConfig,
    ResourceConfig,
    VolumeConfig,
)
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
IMAGE = ImageInfo(
    id="sha256:" + "a" * 64,
    cmd=("sh",),
    env=(("PATH", "/bin"),),
)
OTHER_IMAGE = dataclasses.replace(IMAGE, id="sha256:" + "b" * 64)


def doc(kind: str, name: str, spec: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"apiVersion": "reconcile/v1", "kind": kind, "metadata": {"name": name}}
    if spec is not None:
        body["spec"] = spec
    return any_manifest().validate_python(body)


def shop(**web_extra: Any) -> desired_mod.DesiredState:
    docs = [
        doc("Network", "front"),
        doc("Volume", "data"),
        doc(
            "Container",
            "db",
            {
                "image": "busybox:test",
                "env": {"DB_PASSWORD": "hunter2"},
                "mounts": [{"type": "volume", "source": "data", "target": "/data"}],
                "networks": ["front"],
                "healthcheck": {"test": "true", "interval": "1s"},
            },
        ),
        doc(
            "Container",
            "web",
            {
                "image": "busybox:test",
                "command": ["httpd", "-f"],
                "networks": [{"name": "front", "aliases": ["www"]}],
                "dependsOn": [{"name": "db", "condition": "healthy"}],
                "resources": {"memory": "64Mi"},
                **web_extra,
            },
        ),
    ]
    return desired_mod.build(P, ((d, f"shop.yaml:{i + 1}") for i, d in enumerate(docs)))


def mine(name: str, **kw: Any) -> Ownership:
    return Ownership(project=P, name=name, **kw)


RUNNING = ContainerStatus("running")


def live(
    want: desired_mod.DesiredContainer, image: ImageInfo = IMAGE, **changes: Any
) -> ObservedContainer:
    config = dataclasses.replace(effective(want.config, image), **changes)
    return ObservedContainer(
        f"id-{want.name}", want.name, image.id, mine(want.name), RUNNING, config
    )


def converged(state: desired_mod.DesiredState, **containers: ObservedContainer) -> ObservedState:
    obs = {n: live(c) for n, c in state.containers.items()}
    obs.update(containers)
    return ObservedState(
        containers=obs,
        volumes={
            "data": ObservedVolume("data", mine("data", deletion_policy="Retain"), VolumeConfig())
        },
        networks={"front": ObservedNetwork("n1", "front", mine("front"), NetworkConfig())},
        images={"busybox:test": IMAGE},
    )


def test_cold_plan_orders_networks_volumes_then_containers_by_dependency() -> None:
    state = shop()
    result = plan(state, ObservedState(images={"busybox:test": IMAGE}))
    assert render_text(result) == (
        'Plan for project "shop": 4 to create; 0 in sync\n'
        "\n"
        "  + create   Network/front  (missing)\n"
        "  + create   Volume/data  (missing)\n"
        "  + create   Container/db  (missing)\n"
        "  + create   Container/web  (missing)\n"
    )
    web = result.steps[-1]
    assert web.after == ("Network/front", "Container/db")


def test_converged_state_plans_nothing() -> None:
    state = shop()
    result = plan(state, converged(state))
    assert not result.has_changes
    assert result.in_sync == (
        "Container/db",
        "Container/web",
        "Network/front",
        "Volume/data",
    )
    assert render_text(result) == 'Plan for project "shop": no changes; 4 in sync\n'


def test_literal_live_config_with_image_defaults_is_in_sync() -> None:
    """What the Engine reports for web, written out by hand: image env and CMD rules applied."""
    state = shop()
    web_live = ContainerConfig(
        image="busybox:test",
        entrypoint=("httpd", "-f"),
        cmd=None,  # an entrypoint in the manifest drops the image's CMD
        env=(("PATH", "/bin"),),
        networks=(NetworkAttachmentConfig("front", ("www",)),),
        restart_policy="unless-stopped",
        resources=ResourceConfig(memory=64 * 2**20, memory_swap=64 * 2**20),
    )
    observed = converged(
        state, web=ObservedContainer("id", "web", IMAGE.id, mine("web"), RUNNING, web_live)
    )
    assert not plan(state, observed).has_changes


def test_docker_update_drift_is_repaired_in_place() -> None:
    state = shop()
    drifted = live(
        state.containers["web"],
        resources=ResourceConfig(memory=128 * 2**20, memory_swap=256 * 2**20),
        restart_policy="no",
    )
    result = plan(state, converged(state, web=drifted))
    assert render_text(result) == (
        'Plan for project "shop": 1 to update; 3 in sync\n'
        "\n"
        "  ~ update   Container/web  (config-changed)\n"
        "      resources.memory: 128Mi -> 64Mi  [in place]\n"
        "      resources.memorySwap: 256Mi -> 64Mi  [in place]\n"
        "      restartPolicy: no -> unless-stopped  [in place]\n"
    )


def test_disconnected_network_is_reconnected_in_place() -> None:
    state = shop()
    result = plan(state, converged(state, web=live(state.containers["web"], networks=())))
    (step,) = result.steps
    assert (step.action, step.reason) == (Action.UPDATE, Reason.CONFIG_CHANGED)
    assert [(d.path, d.before, d.after, d.in_place) for d in step.diffs] == [
        ("networks", None, "front aliases=www", True)
    ]


def test_env_change_recreates_and_masks_secrets() -> None:
    state = shop()
    db = state.containers["db"]
    old_env = (("DB_PASSWORD", "old-secret"), ("PATH", "/bin"))
    result = plan(state, converged(state, db=live(db, env=old_env)))
    text = render_text(result)
    assert "old-secret" not in text and "hunter2" not in text
    assert (
        "-/+ recreate Container/db  (config-changed)\n      env.DB_PASSWORD: *** -> ***\n" in text
    )
    assert "hunter2" not in render_json(result)


def test_changed_device_permission_and_capability_recreate() -> None:
    state = shop(
        devices=[{"hostPath": "/dev/null", "permissions": "rw"}], capabilities={"drop": ["ALL"]}
    )
    web = state.containers["web"]
    base = effective(web.config, IMAGE)
    wrong_dev = (dataclasses.replace(base.devices[0], permissions="rwm"),)
    result = plan(state, converged(state, web=live(web, devices=wrong_dev, cap_drop=())))
    (step,) = result.steps
    assert step.action is Action.RECREATE
    assert [(d.path, d.before, d.after) for d in step.diffs] == [
        ("capabilities.drop", None, "ALL"),
        ("devices", "/dev/null:/dev/null:rwm", None),
        ("devices", None, "/dev/null:/dev/null:rw"),
    ]


def test_rebuilt_tag_recreates_with_image_changed() -> None:
    state = shop()
    old = live(state.containers["db"], image=OTHER_IMAGE)
    (step,) = plan(state, converged(state, db=old)).steps
    assert (step.action, step.reason) == (Action.RECREATE, Reason.IMAGE_CHANGED)
    assert step.diffs[0].path == "image.id"


def test_stopped_container_is_started() -> None:
    state = shop()
    stopped = dataclasses.replace(
        live(state.containers["db"]), status=ContainerStatus("exited", exit_code=137)
    )
    (step,) = plan(state, converged(state, db=stopped)).steps
    assert (step.action, step.reason) == (Action.START, Reason.NOT_RUNNING)


def test_foreign_container_with_same_name_is_a_conflict_not_an_adoption() -> None:
    state = shop()
    foreign = dataclasses.replace(live(state.containers["web"]), ownership=Ownership())
    result = plan(state, converged(state, web=foreign))
    assert not result.has_changes
    assert [c.name for c in result.conflicts] == ["web"]
    assert "is not managed by reconcile" in result.conflicts[0].message
    other = dataclasses.replace(live(state.containers["web"]), ownership=Ownership(project="other"))
    assert (
        'belongs to project "other"'
        in plan(state, converged(state, web=other)).conflicts[0].message
    )


def test_leftover_replacement_is_removed_before_the_primary_is_touched() -> None:
    state = shop()
    temp = dataclasses.replace(
        live(state.containers["web"]),
        name="web-reconcile-next",
        ownership=mine("web", replaces="web"),
    )
    observed = converged(state, **{"web-reconcile-next": temp})
    del observed.containers["web"]  # type: ignore[attr-defined]
    result = plan(state, observed, proven=frozenset({temp.id}))
    assert [(s.key, s.action.value, s.reason.value) for s in result.steps] == [
        ("Container/web-reconcile-next", "remove", "interrupted-recreate"),
        ("Container/web", "create", "missing"),
    ]
    assert "Container/web-reconcile-next" in result.steps[1].after


def test_a_leftover_or_copy_reconcile_cannot_prove_it_made_is_left_alone() -> None:
    # The same labels, copied (a container run from a `docker commit` of a managed one).
    state = shop()
    temp = dataclasses.replace(
        live(state.containers["web"]), id="copied", name="web-reconcile-next"
    )
    copy = dataclasses.replace(live(state.containers["web"]), id="copied2", name="web-old")
    observed = converged(state, **{"web-reconcile-next": temp, "web-old": copy})
    result = plan(state, observed, prune=True, proven=frozenset({"id-web", "id-db"}))
    assert not result.steps
    assert [(c.name, c.message) for c in result.conflicts] == [
        (
            name,
            f'container "{name}" carries the labels of project "shop" but reconcile cannot '
            "prove it created it (copied labels, a docker commit of a managed container?): "
            "left alone; remove or rename it by hand",
        )
        for name in ("web-old", "web-reconcile-next")
    ]


def test_renamed_copy_is_removed_even_without_prune() -> None:
    state = shop()
    copy = dataclasses.replace(live(state.containers["web"]), name="web-old")
    observed = converged(state, **{"web-old": copy})
    del observed.containers["web"]  # type: ignore[attr-defined]
    steps = plan(state, observed, proven=frozenset({copy.id})).steps
    keys = [(s.key, s.action.value, s.reason.value) for s in steps]
    assert keys == [
        ("Container/web-old", "remove", "duplicate"),
        ("Container/web", "create", "missing"),
    ]


def _with_leftovers(state: desired_mod.DesiredState, count: int) -> ObservedState:
    base = converged(state)
    extra = {
        f"old{i}": ObservedContainer(f"x{i}", f"old{i}", IMAGE.id, mine(f"old{i}"), RUNNING, None)
        for i in range(count)
    }
    return dataclasses.replace(base, containers={**base.containers, **extra})


def test_prune_removes_only_inventory_members() -> None:
    state = shop()
    observed = _with_leftovers(state, 2)
    inventory = frozenset(
        {
            ("Container", "old0"),
            ("Container", "db"),
            ("Container", "web"),
            ("Network", "front"),
            ("Volume", "data"),
        }
    )
    proven = frozenset({"x0", "x1"})
    result = plan(state, observed, prune=True, inventory=inventory, proven=proven)
    assert [(s.key, s.reason.value) for s in result.steps] == [("Container/old0", "not-declared")]
    assert not plan(state, observed, prune=False, inventory=inventory, proven=proven).has_changes
    assert not plan(state, observed, prune=True, inventory=None, proven=proven).has_changes
    # Recorded in the inventory and labelled, but not proven (a lost state): only a warning.
    unproven = plan(state, observed, prune=True, inventory=inventory)
    assert not unproven.has_changes and not unproven.conflicts
    assert unproven.warnings == (
        'container "old0" carries the labels of project "shop" but reconcile cannot prove it '
        "created it (a lost state, copied labels): not pruned; remove it by hand if it should "
        "go",
    )


def test_prune_of_most_of_the_set_is_refused_unless_forced() -> None:
    state = desired_mod.build(P, [])
    observed = _with_leftovers(shop(), 3)
    inventory = frozenset({("Container", f"old{i}") for i in range(3)})
    proven = frozenset({"x0", "x1", "x2"})
    refused = plan(state, observed, prune=True, inventory=inventory, proven=proven)
    assert not refused.has_changes
    assert (
        "prune refused: it would remove every resource of the set (3 of 3)"
        in refused.conflicts[0].message
    )
    forced = plan(state, observed, prune=True, force_prune=True, inventory=inventory, proven=proven)
    assert forced.count(Action.REMOVE) == 3


def test_retained_volume_is_never_pruned_but_delete_policy_is() -> None:
    state = shop()
    observed = converged(state)
    volumes = {
        **observed.volumes,
        "keep": ObservedVolume("keep", mine("keep", deletion_policy="Retain"), VolumeConfig()),
        "scratch": ObservedVolume(
            "scratch", mine("scratch", deletion_policy="Delete"), VolumeConfig()
        ),
    }
    observed = dataclasses.replace(observed, volumes=volumes)
    inventory = frozenset(
        {
            ("Volume", "keep"),
            ("Volume", "scratch"),
            ("Volume", "data"),
            ("Container", "db"),
            ("Container", "web"),
            ("Network", "front"),
        }
    )
    result = plan(state, observed, prune=True, inventory=inventory)
    assert [(s.key, s.action.value) for s in result.steps] == [("Volume/scratch", "remove")]
    assert any("Volume/keep" in w for w in result.warnings)


def test_changed_network_is_recreated_and_its_containers_reconnected() -> None:
    state = shop()
    observed = converged(state)
    changed = ObservedNetwork("n1", "front", mine("front"), NetworkConfig(internal=True))
    observed = dataclasses.replace(observed, networks={"front": changed})
    result = plan(state, observed)
    assert [(s.key, s.action.value, s.reason.value) for s in result.steps] == [
        ("Network/front", "recreate", "config-changed"),
        ("Container/db", "update", "network-replaced"),
        ("Container/web", "update", "network-replaced"),
    ]


def test_delete_plan_keeps_retained_volumes() -> None:
    state = shop()
    result = plan_delete(state, converged(state))
    assert [s.key for s in result.steps] == ["Container/db", "Container/web", "Network/front"]
    assert result.steps[-1].after == ("Container/db", "Container/web")
    assert result.warnings == ("Volume/data: kept (deletionPolicy Retain)",)


def test_json_plan_is_stable() -> None:
    state = shop()
    data = render_json(plan(state, ObservedState(images={"busybox:test": IMAGE})))
    assert '"action": "create"' in data and '"hasChanges": true' in data
    assert data == render_json(plan(state, ObservedState(images={"busybox:test": IMAGE})))


def test_a_container_being_removed_is_left_to_the_engine() -> None:
    state = shop()
    removing = dataclasses.replace(live(state.containers["db"]), status=ContainerStatus("removing"))
    result = plan(state, converged(state, db=removing))
    assert not result.has_changes
    assert "Container/db" not in result.in_sync


def test_a_container_needing_someone_elses_volume_is_held_with_its_dependents() -> None:
    # "data" exists but was made by hand: db would write into it, and web waits for db.
    state = shop()
    observed = ObservedState(
        volumes={"data": ObservedVolume("data", Ownership(), VolumeConfig())},
        images={"busybox:test": IMAGE},
    )
    result = plan(state, observed)
    assert render_text(result) == (
        'Plan for project "shop": 1 to create; 0 in sync, 3 conflicts\n'
        "\n"
        "  + create   Network/front  (missing)\n"
        "  ! conflict Container/db: not acted on: it needs Volume/data, which is in conflict "
        "(see that conflict)\n"
        "  ! conflict Container/web: not acted on: it needs Container/db, which is in conflict "
        "(see that conflict)\n"
        '  ! conflict Volume/data: a volume named "data" already exists and is not managed by '
        "reconcile; rename one of them or remove it by hand (reconcile never adopts or deletes "
        "it)\n"
    )


def test_a_container_on_someone_elses_network_is_held_but_removals_still_run() -> None:
    state = shop()
    observed = converged(state)
    observed = dataclasses.replace(
        observed,
        networks={
            "front": ObservedNetwork("n1", "front", Ownership(project="other"), NetworkConfig())
        },
    )
    result = plan(state, observed)
    assert not result.steps
    assert sorted((c.kind, c.name) for c in result.conflicts) == [
        ("Container", "db"),
        ("Container", "web"),
        ("Network", "front"),
    ]
