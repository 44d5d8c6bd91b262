"""One-shot containers and dependsOn conditions on the real Engine: a migration gated by
``condition: completed`` runs once and is not run again by the next apply; a failing one fails
its dependent's step with its exit code; ``restart: true`` restarts a dependent in the pass
that recreates its dependency."""

from __future__ import annotations

from datetime import datetime

from reconciler.controllers.plan import Action, Reason
from reconciler.converge import overview, pipeline
from tests.docker.scenario import LOOP, Scenario, read_volume_file

# A migration that writes a marker and counts its runs in a volume, and an app that reads the
# marker when it starts (so it shows whether it started after the migration finished).
MIGRATION = """\
    apiVersion: reconcile/v1
    kind: Volume
    metadata: {name: $p-data}
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-migrate}
    spec:
      image: $image
      restartPolicy: "no"
      command: [sh, -c, '$migrate']
      mounts: [{type: volume, source: $p-data, target: /v}]
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-app}
    spec:
      image: $image
      command: [sh, -c, 'cat /v/marker > /seen 2>&1; $loop']
      stopGracePeriod: 1s
      mounts: [{type: volume, source: $p-data, target: /v}]
      dependsOn: [{name: $p-migrate, condition: completed}]
    """
MIGRATE = "echo run >> /v/runs; sleep 1; echo done > /v/marker"


def at(raw: str) -> datetime:
    """An Engine timestamp (RFC 3339, nanoseconds, trailing zeros dropped) as a datetime."""
    head, _, frac = raw.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


def test_a_migration_runs_once_and_the_app_starts_after_it(sc: Scenario) -> None:
    sc.write(MIGRATION, migrate=MIGRATE, loop=LOOP)
    first = sc.apply()
    assert [(s.key, s.action) for s in first.plan.steps] == [
        (f"Volume/{sc.project}-data", Action.CREATE),
        (f"Container/{sc.project}-migrate", Action.CREATE),
        (f"Container/{sc.project}-app", Action.CREATE),
    ]
    migrate = sc.container("migrate").attrs["State"]
    assert (migrate["Status"], migrate["ExitCode"]) == ("exited", 0)
    app = sc.container("app")
    assert app.status == "running"
    # The app started after the migration finished: it read the marker at once.
    assert sc.exec("app", "cat", "/seen") == (0, "done\n")
    assert at(app.attrs["State"]["StartedAt"]) >= at(migrate["FinishedAt"])
    # apply --wait: the completed migration is done, the app runs.
    names = [f"{sc.project}-migrate", f"{sc.project}-app"]
    assert pipeline.wait_ready(sc.runtime, names, 10.0, frozenset(names[:1])) == []

    second = sc.apply()
    assert second.plan.steps == ()
    assert f"Container/{sc.project}-migrate" in second.plan.in_sync
    again = sc.container("migrate").attrs["State"]
    assert (again["StartedAt"], again["FinishedAt"]) == (
        migrate["StartedAt"],
        migrate["FinishedAt"],
    )
    assert read_volume_file(sc, f"{sc.project}-data", "runs") == "run\n"

    # reconcile get: completed, and in sync.
    with sc.state() as state:
        rows = overview.rows(sc.run(state, dry_run=True, prune=True), declared=True)
    by_name = {r.name: (r.state, r.sync) for r in rows if r.kind == "Container"}
    assert by_name == {
        f"{sc.project}-migrate": ("completed", "synced"),
        f"{sc.project}-app": ("running", "synced"),
    }


def test_a_changed_migration_is_recreated_and_runs_again(sc: Scenario) -> None:
    sc.write(MIGRATION, migrate=MIGRATE, loop=LOOP)
    sc.apply()
    sc.write(MIGRATION, migrate=MIGRATE + "; echo v2 > /v/version", loop=LOOP)
    result = sc.apply()
    assert [(s.name, s.action, s.reason) for s in result.plan.steps] == [
        (f"{sc.project}-migrate", Action.RECREATE, Reason.CONFIG_CHANGED)
    ]
    assert sc.container("migrate").attrs["State"]["ExitCode"] == 0
    assert read_volume_file(sc, f"{sc.project}-data", "runs") == "run\nrun\n"
    sc.assert_in_sync()


def test_a_failing_migration_fails_the_app_step_with_its_exit_code(sc: Scenario) -> None:
    sc.write(MIGRATION, migrate="echo run >> /v/runs; exit 3", loop=LOOP)
    result = sc.apply(expect_ok=False)
    assert result.outcome is not None
    migrate, app = f"{sc.project}-migrate", f"{sc.project}-app"
    assert [s.key for s in result.outcome.done] == [
        f"Volume/{sc.project}-data",
        f"Container/{migrate}",
    ]
    assert [(s.name, message) for s, message in result.outcome.failed] == [
        (
            app,
            f'{app} depends on "{migrate}" completing successfully, but {migrate} exited '
            "with code 3",
        )
    ]
    assert sc.container("migrate").attrs["State"]["ExitCode"] == 3
    # apply --wait fails at once with the exit code instead of waiting for it to run.
    assert pipeline.wait_ready(sc.runtime, [migrate], 60.0, frozenset({migrate})) == [
        f"{migrate}: exited with code 3 (a one-shot)"
    ]
    assert app not in sc.container_names()

    # A failed one-shot is not completed: the next apply runs it again (and fails again).
    again = sc.apply(expect_ok=False)
    assert [(s.name, s.action, s.reason) for s in again.plan.steps] == [
        (migrate, Action.START, Reason.NOT_RUNNING),
        (app, Action.CREATE, Reason.MISSING),
    ]
    assert read_volume_file(sc, f"{sc.project}-data", "runs") == "run\nrun\n"


RESTART_WITH = """\
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-db}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      env: {GENERATION: "$gen"}
      stopGracePeriod: 1s
    ---
    apiVersion: reconcile/v1
    kind: Container
    metadata: {name: $p-web}
    spec:
      image: $image
      command: [sh, -c, '$loop']
      stopGracePeriod: 1s
      dependsOn: [{name: $p-db, restart: true}]
    """


def test_restart_true_restarts_the_dependent_in_the_pass_that_recreates_its_dependency(
    sc: Scenario,
) -> None:
    sc.write(RESTART_WITH, loop=LOOP, gen=1)
    sc.apply()
    web = sc.container("web")
    before = (web.id, web.attrs["State"]["StartedAt"])

    sc.write(RESTART_WITH, loop=LOOP, gen=2)
    result = sc.apply()
    db, dependent = f"{sc.project}-db", f"{sc.project}-web"
    assert [(s.name, s.action, s.reason, s.after) for s in result.plan.steps] == [
        (db, Action.RECREATE, Reason.CONFIG_CHANGED, ()),
        (dependent, Action.RESTART, Reason.DEPENDENCY_RESTARTED, (f"Container/{db}",)),
    ]
    web = sc.container("web")
    assert web.id == before[0]  # restarted, not recreated
    assert web.status == "running"
    assert at(web.attrs["State"]["StartedAt"]) > at(before[1])
    assert at(web.attrs["State"]["StartedAt"]) >= at(sc.container("db").attrs["State"]["StartedAt"])
    sc.assert_in_sync()
