"""dependsOn's condition, restart and required: golden problems for bad values (with their
positions), and the cross-document check that lets ``required: false`` name a container the
set leaves out."""

from __future__ import annotations

from reconciler.loading import load_text

BAD_VALUES = """\
apiVersion: reconcile/v1
kind: Container
metadata: {name: web}
spec:
  image: nginx
  dependsOn:
    - {name: db, condition: service_completed_successfully}
    - {name: cache, condition: service_healthy}
    - {name: queue, condition: complete}
    - {name: search, restart: "true"}
    - {name: mail, required: no}
    - {name: proxy, restart: 1}
"""


def problems(text: str) -> list[tuple[int, int, str, str]]:
    return [
        (p.location.line, p.location.column, p.field, p.message)
        for p in load_text(text, "m.yaml").problems
    ]


def containers(*specs: tuple[str, str]) -> str:
    return "".join(
        f"---\napiVersion: reconcile/v1\nkind: Container\nmetadata: {{name: {name}}}\n"
        f"spec: {{image: nginx, {spec}}}\n"
        for name, spec in specs
    )


def test_bad_dependency_values_name_what_to_write() -> None:
    assert problems(BAD_VALUES) == [
        (
            7,
            29,
            "spec.dependsOn[0].condition",
            "'service_completed_successfully' is the compose spelling; here it is condition: "
            "completed",
        ),
        (
            8,
            32,
            "spec.dependsOn[1].condition",
            "'service_healthy' is the compose spelling; here it is condition: healthy",
        ),
        (
            9,
            32,
            "spec.dependsOn[2].condition",
            "must be 'started', 'healthy' or 'completed'; did you mean completed?",
        ),
        (
            10,
            31,
            "spec.dependsOn[3].restart",
            "must be true or false, not the string 'true'; write it without quotes",
        ),
        (
            11,
            30,
            "spec.dependsOn[4].required",
            "must be true or false, not the string 'no'; write it without quotes",
        ),
        (
            12,
            30,
            "spec.dependsOn[5].restart",
            'must be true or false; YAML read 1 as a number, quote it: "1"',
        ),
    ]


def test_a_required_dependency_must_be_in_the_set() -> None:
    text = containers(("web", "dependsOn: [{name: cache, restart: true}]"))
    assert [f"{f}: {m}" for _, _, f, m in problems(text)] == [
        "spec.dependsOn[0]: no Container named 'cache' is defined in these manifests"
    ]


def test_an_optional_dependency_may_be_left_out_of_the_set() -> None:
    text = containers(
        ("web", "dependsOn: [{name: cache, required: false}, {name: db, condition: completed}]"),
        ("db", "restartPolicy: 'no'"),
    )
    assert problems(text) == []


def test_an_optional_dependency_on_itself_or_in_a_cycle_is_still_refused() -> None:
    assert [
        m for *_, m in problems(containers(("a", "dependsOn: [{name: a, required: false}]")))
    ] == ["a container cannot depend on itself"]
    cycle = containers(("a", "dependsOn: [{name: b, required: false}]"), ("b", "dependsOn: [a]"))
    assert [m for *_, m in problems(cycle)] == [
        "dependency cycle: a -> b -> a; no start order can satisfy it"
    ]
