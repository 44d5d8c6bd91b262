"""Cross-document checks on literal manifests (no files)."""

from __future__ import annotations

from reconciler.loading import load_text


def containers(*specs: tuple[str, str]) -> str:
    return "".join(
        f"---\napiVersion: reconcile/v1\nkind: Container\nmetadata: {{name: {name}}}\n"
        f"spec: {{image: nginx, {spec}}}\n"
        for name, spec in specs
    )


def messages(text: str) -> list[str]:
    return [f"{p.field}: {p.message}" for p in load_text(text, "m.yaml").problems]


def test_a_valid_dependency_chain_passes() -> None:
    text = containers(("a", "dependsOn: [b]"), ("b", "ipcMode: container:c"), ("c", "tty: true"))
    assert messages(text) == []


def test_a_two_container_cycle_is_named_once() -> None:
    text = containers(("b", "dependsOn: [a]"), ("a", "dependsOn: [b]"))
    assert messages(text) == [
        "spec.dependsOn[0]: dependency cycle: a -> b -> a; no start order can satisfy it"
    ]


def test_a_namespace_mode_on_itself_is_a_self_dependency() -> None:
    assert messages(containers(("a", "networkMode: container:a"))) == [
        "spec.networkMode: a container cannot depend on itself"
    ]


def test_same_name_in_different_kinds_is_fine() -> None:
    text = containers(("data", "tty: true")) + (
        "---\napiVersion: reconcile/v1\nkind: Volume\nmetadata: {name: data}\n"
    )
    assert messages(text) == []


def test_duplicates_in_one_file_name_both_lines() -> None:
    text = containers(("a", "tty: true"), ("a", "tty: false"))
    assert messages(text) == [
        "metadata.name: Container 'a' is defined twice: at m.yaml:4:12 and at m.yaml:9:12; "
        "names must be unique per kind"
    ]
