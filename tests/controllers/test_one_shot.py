"""One-shot containers and dependsOn conditions in the pure planner: literal desired and
observed states in, golden plans out. A one-shot (restartPolicy no) that exited with code 0 is
completed: in sync, never started again; ``restart: true`` restarts a dependent after its
dependency's recreate or restart; ``required: false`` lets a dependency be left out."""

from __future__ import annotations

import dataclasses
from typing import Any

from reconciler.controllers.container_fields import effective
from reconciler.controllers.plan import Action, Kind, Reason, Step, render_text
from reconciler.controllers.planner import plan, restart_dependents
from reconciler.manifests import any_manifest
from reconciler.values import desired as desired_mod
from reconciler.values.observed import (
    ContainerStatus,
    ImageInfo,
    ObservedContainer,
    ObservedState,
    Ownership,
)

P = "shop"
IMAGE = ImageInfo(id="sha256:" + "a" * 64, cmd=("sh",), env=(("PATH", "/bin"),))
RUNNING = ContainerStatus("running", started_at="2026-01-01T10:00:00Z", restart_policy="no")
# Exited with code 0 after running: a one-shot that did its work.
SUCCEEDED = ContainerStatus(
    "exited",
    exit_code=0,
    started_at="2026-01-01T10:00:00Z",
    finished_at="2026-01-01T10:00:05Z",
    restart_policy="no",
)
FAILED = dataclasses.replace(SUCCEEDED, exit_code=3)
CREATED = ContainerStatus("created", restart_policy="no")


def container(name: str, **spec: Any) -> Any:
    body = {
        "apiVersion": "reconcile/v1",
        "kind": "Container",
        "metadata": {"name": name},
        "spec": {"image": "busybox:test", **spec},
    }
    return any_manifest().validate_python(body)


def state(*docs: Any) -> desired_mod.DesiredState:
    return desired_mod.build(P, ((d, f"shop.yaml:{i + 1}") for i, d in enumerate(docs)))


def live(
    want: desired_mod.DesiredContainer, status: ContainerStatus = RUNNING, **changes: Any
) -> ObservedContainer:
    config = dataclasses.replace(effective(want.config, IMAGE), **changes)
    return ObservedContainer(
        f"id-{want.name}", want.name, IMAGE.id, Ownership(project=P, name=want.name), status, config
    )


def observed(desired: desired_mod.DesiredState, **containers: ObservedContainer) -> ObservedState:
    found = {n: live(c) for n, c in desired.containers.items()}
    found.update(containers)
    return ObservedState(containers=found, images={"busybox:test": IMAGE})


def migration(**spec: Any) -> desired_mod.DesiredState:
    """A one-shot migration and an app that waits for it to complete."""
    return state(
        container("migrate", restartPolicy="no", command=["sh", "-c", "echo done"]),
        container("app", dependsOn=[{"name": "migrate", "condition": "completed", **spec}]),
    )


# -- one-shot containers ------------------------------------------------------------------


def test_a_one_shot_that_exited_zero_is_completed_and_in_sync() -> None:
    desired = migration()
    result = plan(
        desired, observed(desired, migrate=live(desired.containers["migrate"], SUCCEEDED))
    )
    assert render_text(result) == 'Plan for project "shop": no changes; 2 in sync\n'
    assert result.in_sync == ("Container/app", "Container/migrate")


def test_a_one_shot_that_failed_is_started_again() -> None:
    desired = migration()
    result = plan(desired, observed(desired, migrate=live(desired.containers["migrate"], FAILED)))
    assert render_text(result) == (
        'Plan for project "shop": 1 to start; 1 in sync\n'
        "\n"
        "  > start    Container/migrate  (not-running)\n"
        "      state: exited -> running\n"
    )


def test_a_one_shot_created_but_never_started_is_started() -> None:
    desired = migration()
    result = plan(desired, observed(desired, migrate=live(desired.containers["migrate"], CREATED)))
    (step,) = result.steps
    assert (step.name, step.action, step.reason) == ("migrate", Action.START, Reason.NOT_RUNNING)


def test_exit_zero_without_a_finish_time_is_not_completed() -> None:
    desired = migration()
    odd = dataclasses.replace(SUCCEEDED, finished_at="")
    result = plan(desired, observed(desired, migrate=live(desired.containers["migrate"], odd)))
    assert [(s.name, s.action) for s in result.steps] == [("migrate", Action.START)]


def test_a_container_that_restarts_by_policy_is_started_after_exiting_zero() -> None:
    """Only restartPolicy no makes a container one-shot: unless-stopped wants it running."""
    desired = state(container("web"))
    exited = dataclasses.replace(SUCCEEDED, restart_policy="unless-stopped")
    result = plan(desired, observed(desired, web=live(desired.containers["web"], exited)))
    assert [(s.name, s.action, s.reason) for s in result.steps] == [
        ("web", Action.START, Reason.NOT_RUNNING)
    ]


def test_a_config_change_recreates_a_completed_one_shot_which_runs_it_again() -> None:
    desired = migration()
    before = live(desired.containers["migrate"], SUCCEEDED, entrypoint=("sh", "-c", "echo old"))
    result = plan(desired, observed(desired, migrate=before))
    assert render_text(result) == (
        'Plan for project "shop": 1 to recreate; 1 in sync\n'
        "\n"
        "-/+ recreate Container/migrate  (config-changed)\n"
        '      command: ["sh", "-c", "echo old"] -> ["sh", "-c", "echo done"]\n'
        "      state: exited -> running  [in place]\n"
    )


# -- dependsOn restart: true ----------------------------------------------------------------


def web_after_db(**dependency: Any) -> desired_mod.DesiredState:
    return state(
        container("db", env={"GENERATION": "2"}),
        container("web", dependsOn=[{"name": "db", **dependency}]),
        container("worker", dependsOn=[{"name": "web", "restart": True}]),
    )


def test_a_recreated_dependency_restarts_its_dependents_after_it() -> None:
    desired = web_after_db(restart=True)
    db = live(desired.containers["db"], env=(("GENERATION", "1"), ("PATH", "/bin")))
    result = plan(desired, observed(desired, db=db))
    assert render_text(result) == (
        'Plan for project "shop": 1 to recreate, 2 to restart; 0 in sync\n'
        "\n"
        "-/+ recreate Container/db  (config-changed)\n"
        "      env.GENERATION: 1 -> 2\n"
        " >> restart  Container/web  (dependency-restarted)\n"
        "      dependency: db recreated -> restart\n"
        " >> restart  Container/worker  (dependency-restarted)\n"
        "      dependency: web restarted -> restart\n"
    )
    assert [s.after for s in result.steps] == [(), ("Container/db",), ("Container/web",)]


def test_without_restart_true_a_dependent_is_left_running() -> None:
    desired = web_after_db()
    db = live(desired.containers["db"], env=(("GENERATION", "1"), ("PATH", "/bin")))
    result = plan(desired, observed(desired, db=db))
    assert [(s.name, s.action) for s in result.steps] == [("db", Action.RECREATE)]
    assert result.in_sync == ("Container/web", "Container/worker")


def test_a_dependent_with_a_step_of_its_own_gets_no_second_one() -> None:
    desired = web_after_db(restart=True)
    db = live(desired.containers["db"], env=(("GENERATION", "1"), ("PATH", "/bin")))
    web = live(desired.containers["web"], ContainerStatus("exited", exit_code=137))
    result = plan(desired, observed(desired, db=db, web=web))
    assert [(s.name, s.action, s.reason) for s in result.steps] == [
        ("db", Action.RECREATE, Reason.CONFIG_CHANGED),
        ("web", Action.START, Reason.NOT_RUNNING),
    ]
    assert result.in_sync == ("Container/worker",)


def test_a_started_dependency_does_not_restart_its_dependents() -> None:
    """Only a recreate or a restart of the dependency counts: a start of a stopped one does
    not take anything away from a dependent."""
    desired = web_after_db(restart=True)
    db = live(desired.containers["db"], ContainerStatus("exited", exit_code=1))
    result = plan(desired, observed(desired, db=db))
    assert [(s.name, s.action) for s in result.steps] == [("db", Action.START)]


def test_a_dependent_in_conflict_is_not_restarted() -> None:
    desired = web_after_db(restart=True)
    db = live(desired.containers["db"], env=(("GENERATION", "1"), ("PATH", "/bin")))
    stranger = dataclasses.replace(live(desired.containers["web"]), ownership=Ownership())
    result = plan(desired, observed(desired, db=db, web=stranger))
    assert [(s.name, s.action) for s in result.steps] == [("db", Action.RECREATE)]
    assert [c.name for c in result.conflicts] == ["web", "worker"]


def test_restart_dependents_follows_a_restart_added_after_planning() -> None:
    """The loop's guard restarts an unhealthy container after the planner ran: the same
    function gives its dependents their restarts, ordered after it."""
    desired = web_after_db(restart=True)
    unhealthy = Step(
        Kind.CONTAINER, "db", Action.RESTART, Reason.UNHEALTHY, desired=desired.containers["db"]
    )
    in_sync = ("Container/db", "Container/web", "Container/worker")
    added = restart_dependents(desired, [unhealthy], in_sync)
    assert [(s.name, s.action, s.reason, s.after) for s in added] == [
        ("web", Action.RESTART, Reason.DEPENDENCY_RESTARTED, ("Container/db",)),
        ("worker", Action.RESTART, Reason.DEPENDENCY_RESTARTED, ("Container/web",)),
    ]
    assert restart_dependents(desired, [unhealthy], ("Container/db",)) == []


# -- dependsOn required: false ----------------------------------------------------------------


def test_an_optional_dependency_left_out_of_the_set_is_dropped() -> None:
    desired = state(
        container("web", dependsOn=[{"name": "cache", "required": False, "restart": True}, "db"]),
        container("db"),
    )
    web = desired.containers["web"]
    assert (web.depends_on, web.restarts_with, web.optional) == ((("db", "started"),), (), ())
    result = plan(desired, ObservedState(images={"busybox:test": IMAGE}))
    assert [(s.name, s.after) for s in result.steps] == [
        ("db", ()),
        ("web", ("Container/db",)),
    ]


def test_an_optional_dependency_in_the_set_orders_but_does_not_hold_back() -> None:
    desired = state(
        container("web", dependsOn=[{"name": "cache", "required": False}]),
        container("cache"),
    )
    assert desired.containers["web"].optional == ("cache",)
    stranger = dataclasses.replace(live(desired.containers["cache"]), ownership=Ownership())
    result = plan(
        desired, ObservedState(containers={"cache": stranger}, images={"busybox:test": IMAGE})
    )
    assert [(s.name, s.action) for s in result.steps] == [("web", Action.CREATE)]
    assert [(c.name, "not managed by reconcile" in c.message) for c in result.conflicts] == [
        ("cache", True)
    ]


def test_a_joined_namespace_is_never_optional() -> None:
    desired = state(
        container(
            "app",
            networkMode="container:vpn",
            dependsOn=[{"name": "vpn", "required": False}],
        ),
        container("vpn"),
    )
    assert desired.containers["app"].optional == ()
