"""External volumes and networks in the manifest language: ``spec: {external: true}`` alone,
every other spec field and any label refused with an exact message at the field."""

from __future__ import annotations

import pytest

from reconciler.loading import load_text
from reconciler.manifests import NetworkManifest, VolumeManifest
from reconciler.values import desired as desired_mod

VOLUME_FIELD = (
    "cannot be set on an external volume: it is made elsewhere and reconcile never creates or "
    "changes it; remove {them}, or remove external: true to have reconcile create and manage "
    "the volume"
)
NETWORK_FIELD = VOLUME_FIELD.replace("volume", "network")


def problems(text: str) -> list[str]:
    return [str(p) for p in load_text(text, "m.yaml").problems]


def test_an_external_volume_and_network_load_as_references() -> None:
    result = load_text(
        "apiVersion: reconcile/v1\nkind: Volume\nmetadata: {name: shared-data}\n"
        "spec: {external: true}\n"
        "---\n"
        "apiVersion: reconcile/v1\nkind: Network\nmetadata: {name: proxy}\n"
        "spec: {external: true}\n"
        "---\n"
        "apiVersion: reconcile/v1\nkind: Container\nmetadata: {name: web}\nspec:\n"
        "  image: nginx:1.27\n"
        "  networks: [proxy]\n"
        "  mounts: [{type: volume, source: shared-data, target: /data}]\n",
        "m.yaml",
    )
    assert result.problems == ()
    volume, network = result.manifests[0].manifest, result.manifests[1].manifest
    assert isinstance(volume, VolumeManifest) and volume.spec.external
    assert isinstance(network, NetworkManifest) and network.spec.external
    desired = desired_mod.build("p", ((m.manifest, str(m.location)) for m in result.manifests))
    # The Engine name is metadata.name exactly: no project prefix, as for every resource.
    assert desired.volumes["shared-data"].external is True
    assert desired.networks["proxy"].external is True
    assert desired.containers["web"].networks == ("proxy",)
    assert desired.containers["web"].volumes == ("shared-data",)


def test_external_false_is_an_ordinary_declaration() -> None:
    text = (
        "apiVersion: reconcile/v1\nkind: Volume\nmetadata: {name: data, labels: {a: b}}\n"
        "spec: {external: false, driver: local, deletionPolicy: Delete}\n"
    )
    result = load_text(text, "m.yaml")
    assert result.problems == ()
    desired = desired_mod.build("p", ((m.manifest, "m.yaml:1") for m in result.manifests))
    assert desired.volumes["data"].external is False
    assert desired.volumes["data"].deletion_policy == "Delete"


@pytest.mark.parametrize(
    ("spec", "where", "fields", "them"),
    [
        ("{external: true, driver: local}", "4:24", "driver", "it"),
        ("{external: true, driverOpts: {}}", "4:24", "driverOpts", "it"),
        ("{external: true, deletionPolicy: Retain}", "4:24", "deletionPolicy", "it"),
        # Every field is named; the problem points at the first field of the model.
        (
            "{deletionPolicy: Delete, external: true, driver: local}",
            "4:48",
            "driver, deletionPolicy",
            "them",
        ),
    ],
)
def test_an_external_volume_refuses_every_other_field(
    spec: str, where: str, fields: str, them: str
) -> None:
    text = f"apiVersion: reconcile/v1\nkind: Volume\nmetadata: {{name: data}}\nspec: {spec}\n"
    first = fields.split(",", maxsplit=1)[0]
    assert problems(text) == [
        f"m.yaml:{where}: spec.{first}: {fields} {VOLUME_FIELD.format(them=them)}"
    ]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("driver: bridge", "driver"),
        ("internal: false", "internal"),
        ("attachable: true", "attachable"),
        ("enableIPv6: false", "enableIPv6"),
        ("driverOpts: {com.docker.network.bridge.name: br0}", "driverOpts"),
        ("subnets: [{subnet: 10.9.0.0/24}]", "subnets"),
    ],
)
def test_an_external_network_refuses_every_other_field(line: str, field: str) -> None:
    text = (
        "apiVersion: reconcile/v1\nkind: Network\nmetadata: {name: proxy}\nspec:\n"
        f"  external: true\n  {line}\n"
    )
    assert problems(text) == [
        f"m.yaml:6:3: spec.{field}: {field} {NETWORK_FIELD.format(them='it')}"
    ]


@pytest.mark.parametrize("kind", ["Volume", "Network"])
def test_labels_on_an_external_resource_are_refused(kind: str) -> None:
    text = (
        f"apiVersion: reconcile/v1\nkind: {kind}\nmetadata:\n  name: shared\n"
        "  labels: {team: web}\nspec: {external: true}\n"
    )
    assert problems(text) == [
        f"m.yaml:5:3: metadata.labels: labels cannot be set on an external {kind.lower()}: "
        "reconcile never writes to it, so its labels are whatever its owner gave it; remove "
        "metadata.labels"
    ]


def test_external_must_be_a_boolean() -> None:
    text = "apiVersion: reconcile/v1\nkind: Network\nmetadata: {name: proxy}\n"
    text += 'spec: {external: "yes"}\n'
    assert problems(text) == [
        "m.yaml:4:18: spec.external: must be true or false, not the string 'yes'; write it "
        "without quotes"
    ]
