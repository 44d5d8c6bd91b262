"""Compose projects in pure code: canonical models (as ``docker-compose config --format json``
prints them) in, golden manifest documents and problems out; which files form a project;
and compose's own errors placed at file:line:col (the binary runs, no Engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.loading import load
from reconciler.loading.compose import group_files, is_compose
from reconciler.loading.compose.binary import unescaped
from reconciler.loading.compose.convert import convert
from reconciler.loading.compose.keys import render_markdown
from reconciler.manifests import ContainerManifest
from reconciler.manifests.container import ContainerSpec

DOCS = Path(__file__).parents[2] / "docs" / "compose.md"

MODEL: dict[str, Any] = {
    "name": "shop",
    "services": {
        "db": {
            "image": "mariadb:11",
            "command": None,
            "entrypoint": None,
            "environment": {"MARIADB_ROOT_PASSWORD": "secret", "UNSET": None},
            "volumes": [{"type": "volume", "source": "data", "target": "/var/lib/mysql"}],
            "healthcheck": {"test": ["CMD", "true"], "interval": "10s"},
            "restart": "unless-stopped",
            "networks": {"default": None},
        },
        "web": {
            "image": "nginx:1.27",
            "ports": [{"target": 80, "published": "8080", "protocol": "tcp", "mode": "ingress"}],
            "expose": ["9000-9001/udp"],
            "depends_on": {"db": {"condition": "service_healthy", "restart": True}},
            "deploy": {"replicas": 2, "resources": {"limits": {"memory": "536870912"}}},
            "tmpfs": ["/run:size=64m,exec"],
            "networks": {"front": {"aliases": ["www"], "priority": 10}, "default": None},
            "x-reconcile": {"restartOnUnhealthy": False},
        },
    },
    "volumes": {"data": {"name": "shop_data", "x-reconcile": {"deletionPolicy": "Retain"}}},
    "networks": {
        "default": {"name": "shop_default", "ipam": {}},
        "front": {"name": "proxy", "external": True},
        "unused": {"name": "shop_unused"},
    },
}


def test_a_project_becomes_our_documents() -> None:
    done = convert(MODEL)
    assert done.problems == []
    docs = {
        (d.document["kind"], d.document["metadata"]["name"]): d.document for d in done.documents
    }
    assert sorted(docs) == [
        ("Container", "shop-db-1"),
        ("Container", "shop-web-1"),
        ("Container", "shop-web-2"),
        ("Network", "proxy"),
        ("Network", "shop_default"),
        ("Volume", "shop_data"),
    ]
    assert docs["Container", "shop-db-1"]["spec"] == {
        "image": "mariadb:11",
        "env": {"MARIADB_ROOT_PASSWORD": "secret"},
        "restartPolicy": "unless-stopped",
        "healthcheck": {"test": ["CMD", "true"], "interval": "10s"},
        "mounts": [{"type": "volume", "target": "/var/lib/mysql", "source": "shop_data"}],
        "networks": [{"name": "shop_default", "aliases": ["db"]}],
    }
    assert docs["Container", "shop-web-2"]["spec"] == {
        "image": "nginx:1.27",
        "restartPolicy": "no",
        "dependsOn": [{"name": "shop-db-1", "condition": "healthy", "restart": True}],
        "resources": {"memory": 512 * 1024**2, "memorySwap": 1024 * 1024**2},
        "ports": [
            {"containerPort": 80, "hostPort": 8080},
            {"containerPort": "9000-9001", "protocol": "udp"},
        ],
        "mounts": [
            {"type": "tmpfs", "target": "/run", "sizeBytes": 64 * 1024**2, "options": ["exec"]}
        ],
        "networks": [
            {"name": "proxy", "aliases": ["web", "www"]},
            {"name": "shop_default", "aliases": ["web"]},
        ],
        "restartOnUnhealthy": False,
    }
    assert docs["Network", "proxy"]["spec"] == {"external": True}
    assert docs["Volume", "shop_data"]["spec"] == {"deletionPolicy": "Retain"}


def test_refused_keys_are_named_with_the_reason() -> None:
    model = {
        "name": "p",
        "services": {
            "a": {"image": "x", "links": ["b"], "ports": [{"target": 80}], "x-mine": 1},
            "b": {"build": {"context": "/src", "ssh": ["default"]}},
        },
    }
    assert sorted(convert(model).problems) == [
        (
            ("services", "a", "links"),
            "links: legacy links: containers of a project reach each other by service name",
        ),
        (
            ("services", "a", "ports", 0),
            "port 80 has no published port: reconcile publishes on a port you choose, never "
            "on a random one (write HOST:CONTAINER, or use expose to only expose it)",
        ),
        (
            ("services", "b", "build", "ssh"),
            "build.ssh: not supported (reconcile passes on context, dockerfile, args, target, "
            "labels)",
        ),
    ]


def test_build_tags_the_image_as_compose_names_it() -> None:
    model = {
        "name": "Shop",
        "services": {
            "web": {"build": {"context": "/src/web", "dockerfile": "Dockerfile", "args": {"A": 1}}},
            "api": {"image": "api:2", "build": {"context": "/src/api", "target": "run"}},
        },
    }
    found = convert(model)
    assert not found.problems
    specs = {d.document["metadata"]["name"]: d.document["spec"] for d in found.documents}
    assert specs["Shop-web-1"]["image"] == "shop-web"
    assert specs["Shop-web-1"]["build"] == {
        "context": "/src/web",
        "dockerfile": "Dockerfile",
        "args": {"A": "1"},
    }
    assert specs["Shop-api-1"]["image"] == "api:2"
    assert specs["Shop-api-1"]["build"] == {
        "context": "/src/api",
        "dockerfile": "Dockerfile",
        "target": "run",
    }


def test_network_mode_of_another_service_joins_its_first_container() -> None:
    model = {
        "name": "p",
        "services": {
            "vpn": {"image": "x"},
            "app": {"image": "y", "network_mode": "service:vpn"},
        },
    }
    docs = {d.document["metadata"]["name"]: d.document for d in convert(model).documents}
    assert docs["p-app-1"]["spec"]["networkMode"] == "container:p-vpn-1"
    assert "networks" not in docs["p-app-1"]["spec"]


def test_compose_files_are_told_by_their_services_key() -> None:
    assert is_compose(b"name: x\nservices:\n  a: {image: b}\n")
    assert not is_compose(b"apiVersion: reconcile/v1\nkind: Container\nspec:\n  services: 1\n")


def test_which_files_form_a_project(tmp_path: Path) -> None:
    d = tmp_path
    found = [
        d / "compose.override.yaml",
        d / "compose.yaml",
        d / "docker-compose.yml",
        d / "x.yaml",
    ]
    assert group_files(found, []) == [
        [d / "x.yaml"],
        [d / "compose.yaml", d / "compose.override.yaml"],
        [d / "docker-compose.yml"],
    ]
    # Named on the command line: one project, in the order given.
    assert group_files(found, [d / "x.yaml", d / "compose.yaml"]) == [
        [d / "x.yaml", d / "compose.yaml"],
        [d / "docker-compose.yml", d / "compose.override.yaml"],
    ]


def test_compose_errors_and_ours_are_placed_in_the_compose_file(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n"
        "  web:\n"
        "    image: nginx\n"
        "    environment:\n"
        "      TOKEN: ${TOKEN:?set TOKEN first}\n"
    )
    result = load([path], compose=None)
    [problem] = result.problems
    assert "required variable TOKEN is missing a value: set TOKEN first" in problem.message
    path.write_text(
        "x-common: &common\n"
        "  image: nginx\n"
        "services:\n"
        "  web:\n"
        "    <<: *common\n"
        "    oom_score_adj: 5000\n"
    )
    [problem] = load([path]).problems
    assert (problem.location.line, problem.location.column) == (6, 5)
    assert problem.field == "services.web.oom_score_adj"


def test_docs_show_the_key_table_as_generated() -> None:
    text = DOCS.read_text(encoding="utf-8")
    begin, end = "<!-- compose-keys:begin -->\n", "<!-- compose-keys:end -->"
    assert text.split(begin, 1)[1].split(end, 1)[0] == render_markdown(), (
        "docs/compose.md is stale; regenerate its table with `reconcile schema --compose`"
    )


def test_content_configs_and_file_secrets_become_store_files() -> None:
    model = {
        "name": "p",
        "services": {
            "a": {
                "image": "x",
                "configs": [{"source": "cfg", "target": "/etc/a.conf"}],
                "secrets": [{"source": "pw", "target": "/run/secrets/pw"}],
            }
        },
        "configs": {"cfg": {"content": "port $$PORT"}},
        "secrets": {"pw": {"file": "/srv/pw.sops"}, "env": {"environment": "PW"}},
    }
    [doc] = [d.document for d in convert(unescaped(model)).documents]
    assert doc["spec"]["secrets"] == [
        {"name": "pw", "file": "/srv/pw.sops", "target": "/run/secrets/pw"},
        {"name": "cfg", "content": "port $PORT", "target": "/etc/a.conf"},
    ]


def test_an_unchanged_project_comes_from_the_load_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.loading import LoadCache
    from reconciler.loading.compose import binary

    project = tmp_path / "p"
    project.mkdir()
    path = project / "compose.yaml"
    path.write_text("services:\n  web:\n    image: nginx:${TAG:-1}\n")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    first = load([path], cache=LoadCache.open(state))
    assert [m.name for m in first.manifests] == ["p-web-1", "p_default"]

    def no_compose(*_: object, **__: object) -> None:
        raise AssertionError("compose ran for an unchanged project")

    monkeypatch.setattr(binary, "canonical", no_compose)
    monkeypatch.setattr("reconciler.loading.compose.canonical", no_compose)
    again = load([path], cache=LoadCache.open(state))
    assert [(m.name, m.location) for m in again.manifests] == [
        (m.name, m.location) for m in first.manifests
    ]
    # A variable the file does not name changes nothing; one it names may: read again.
    monkeypatch.setenv("SOMETHING_NEW", "1")
    load([path], cache=LoadCache.open(state))
    monkeypatch.setenv("TAG", "2")
    with pytest.raises(AssertionError, match="compose ran"):
        load([path], cache=LoadCache.open(state))


def test_env_files_compose_reads_are_named_for_the_policy(tmp_path: Path) -> None:
    """compose merges an env_file's values itself (as root); the manifest names the file
    again, so that the host-access policy judges what is read from the host."""
    from reconciler.policy import Policy, admit

    (tmp_path / "app.env").write_text("A=1\n")
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web:\n    image: x\n    env_file: [app.env, /etc/os-release]\n")
    result = load([path])
    assert not result.problems, result.problems
    [web] = [m.manifest for m in result.manifests if isinstance(m.manifest, ContainerManifest)]
    assert [f.path for f in web.spec.env_files] == [str(tmp_path / "app.env"), "/etc/os-release"]
    refused = [str(v) for v in admit(result.manifests, Policy()).denied]
    assert len(refused) == 1 and "file /etc/os-release" in refused[0]


def test_a_projects_placement_places_everything_and_a_services_own_wins() -> None:
    model = {
        "name": "edge",
        "x-reconcile": {"placement": {"selector": {"matchLabels": {"site": "shop-3"}}}},
        "services": {
            "web": {"image": "nginx", "networks": {"default": None}},
            "gpu": {
                "image": "trainer",
                "network_mode": "none",
                "x-reconcile": {"placement": {"hosts": ["big-1"]}},
            },
        },
        "networks": {"default": {"name": "edge_default"}},
    }
    done = convert(model)
    assert done.problems == []
    placed = {
        d.document["metadata"]["name"]: d.document["metadata"].get("placement")
        for d in done.documents
    }
    shop = {"selector": {"matchLabels": {"site": "shop-3"}}}
    assert placed == {
        "edge-web-1": shop,
        "edge_default": shop,
        "edge-gpu-1": {"hosts": ["big-1"]},
    }
    gpu = next(d for d in done.documents if d.document["metadata"]["name"] == "edge-gpu-1")
    assert gpu.origins[("metadata", "placement")] == ("services", "gpu", "x-reconcile", "placement")
    odd = convert({**model, "x-reconcile": {"placment": {}}})
    assert odd.problems == [
        (("x-reconcile", "placment"), "x-reconcile: unknown key 'placment'; known: placement")
    ]


def test_service_extensions_come_through_the_compose_binary(tmp_path: Path) -> None:
    """compose's JSON output drops a service's x-* keys; its YAML keeps them: x-reconcile of a
    service (and of the project) reaches the manifests when compose itself reads the file."""
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n"
        "  migrate:\n"
        "    image: reconcile.local/busybox:latest\n"
        '    restart: "no"\n'
        "    x-reconcile: {oneShot: true, restartOnUnhealthy: false}\n"
        "  web:\n"
        "    image: 127.0.0.1:5055/shop/web:1\n"
        "    x-reconcile:\n"
        "      updatePolicy: {mode: notify, interval: 1h}\n"
        '    labels: {when: "2001-12-14"}\n'
    )
    result = load([path])
    assert not result.problems, result.problems
    specs = {m.manifest.metadata.name: m.manifest.spec for m in result.manifests}
    migrate, web = specs[f"{tmp_path.name}-migrate-1"], specs[f"{tmp_path.name}-web-1"]
    assert isinstance(migrate, ContainerSpec) and isinstance(web, ContainerSpec)
    assert migrate.one_shot is True and migrate.restart_on_unhealthy is False
    assert web.update_policy.mode == "notify"
    labels = {m.manifest.metadata.name: m.manifest.metadata.labels for m in result.manifests}
    assert labels[f"{tmp_path.name}-web-1"] == {"when": "2001-12-14"}
