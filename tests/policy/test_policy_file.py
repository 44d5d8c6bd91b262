"""The policy file: where it is found, and its mistakes reported with file:line:col."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.errors import Location, ManifestError, Problem
from reconciler.loading import load
from reconciler.policy import BUILT_IN_SOURCE, DEFAULT_POLICY_PATH, admit, load_policy, policy_path

EXAMPLES = Path(__file__).parents[2] / "examples" / "policy"
HEAD = "apiVersion: reconcile/v1\nkind: Policy\n"


def write(tmp_path: Path, body: str, head: str = HEAD) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(head + body)
    path.chmod(0o644)
    return path


def problems(tmp_path: Path, body: str, head: str = HEAD) -> list[str]:
    path = write(tmp_path, body, head)
    with pytest.raises(ManifestError) as caught:
        load_policy(path, environ={})
    return [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems]


def test_without_a_file_the_built_in_baseline_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    if DEFAULT_POLICY_PATH.exists():
        pytest.skip(f"{DEFAULT_POLICY_PATH} exists on this machine")
    policy = load_policy(None, environ={})
    assert (policy.profile, policy.mode, policy.source) == ("baseline", "enforce", BUILT_IN_SOURCE)
    assert policy.binds is None


def test_the_flag_wins_over_the_environment(tmp_path: Path) -> None:
    flag, env = Path("/a/policy.yaml"), {"RECONCILE_POLICY": "/b/policy.yaml"}
    assert policy_path(flag, env) == flag
    assert policy_path(None, env) == Path("/b/policy.yaml")


def test_the_environment_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "profile: restricted\n")
    policy = load_policy(None, environ={"RECONCILE_POLICY": str(path)})
    assert (policy.profile, policy.source) == ("restricted", str(path))


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_policy(tmp_path / "nope.yaml", environ={})
    assert caught.value.problems == [
        Problem(
            Location(str(tmp_path / "nope.yaml")),
            "",
            "policy file does not exist (or is not a regular file)",
        )
    ]


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_the_examples_load(example: Path) -> None:
    mode = example.stat().st_mode & 0o777
    assert not mode & 0o022, f"{example} is group/world writable"
    load_policy(example, environ={})


def test_the_host_example_reads_as_documented() -> None:
    policy = load_policy(EXAMPLES / "host.yaml", environ={})
    assert policy.binds == (
        ("/srv/web/conf", False),
        ("/srv/web/uploads", True),
        ("/etc/myapp", False),
    )
    assert policy.devices["/dev/ttyUSB0"] == "rw"
    assert policy.devices["/dev/null"] == "rw"
    assert policy.port_ranges == ((8000, 8999), (443, 443))
    assert policy.port_addresses == {"127.0.0.1", "::1"}
    assert policy.gpus_granted("gpu-worker") and not policy.gpus_granted("web")
    assert policy.exempt("baseline/host-namespaces", "vpn")
    assert policy.mode_for("baseline/manifest-permissions") == "enforce"
    assert policy.sockets == ("/run/mysqld/mysqld.sock",)
    assert policy.network_drivers == {"bridge", "macvlan"}
    assert policy.network_parents == {"eth0.100"}
    assert policy.bridge_names == frozenset()


def test_unknown_keys_are_refused_with_a_suggestion(tmp_path: Path) -> None:
    assert problems(tmp_path, "profle: baseline\nbinds: [{path: /srv, readwrite: true}]\n") == [
        "policy.yaml:3:1: profle: unknown field 'profle'; did you mean profile?",
        "policy.yaml:4:22: binds[0].readwrite: unknown field 'readwrite'; did you mean readWrite?",
    ]


def test_unknown_rule_ids_are_refused_with_a_suggestion(tmp_path: Path) -> None:
    body = "rules:\n  baseline/host-namespace: {mode: warn}\n  privileged: {mode: warn}\n"
    assert problems(tmp_path, body) == [
        "policy.yaml:4:3: rules['baseline/host-namespace']: 'baseline/host-namespace' is not "
        "a rule id; did you mean baseline/host-namespaces?",
        "policy.yaml:5:3: rules.privileged: 'privileged' is not a rule id; did you mean "
        "baseline/privileged?",
    ]


def test_bad_profile_and_mode(tmp_path: Path) -> None:
    assert problems(tmp_path, "profile: strict\nmode: Warn\n") == [
        "policy.yaml:3:10: profile: must be 'privileged', 'baseline' or 'restricted'; did you "
        "mean restricted?",
        "policy.yaml:4:7: mode: must be 'enforce', 'warn' or 'audit'; did you mean warn?",
    ]


def test_entries_that_could_never_allow_anything_are_refused(tmp_path: Path) -> None:
    body = (
        "binds:\n  - {path: /var/lib/docker/x}\n  - {path: /run}\n  - {path: /}\n"
        "  - {path: /etc/app, readWrite: true}\n  - {path: /srv/../etc}\n"
        "devices: [{path: /dev/sda}]\n"
        'deviceCgroupRules: ["c 188:* rw", "c 1:3"]\n'
    )
    assert problems(tmp_path, body) == [
        "policy.yaml:4:12: binds[0].path: /var/lib/docker/x is under /var/lib/docker, always "
        "denied; an allowlist entry cannot re-allow it",
        "policy.yaml:5:12: binds[1].path: /run contains the container runtime socket "
        "/run/docker.sock (access to it is root on the host, even read-only); an allowlist "
        "entry cannot re-allow it",
        "policy.yaml:6:12: binds[2].path: / cannot be allowed: it is the whole host",
        "policy.yaml:7:5: binds[3]: '/etc/app' is under /etc: it can be re-allowed read-only "
        "only; remove readWrite",
        "policy.yaml:8:12: binds[4].path: '/srv/../etc' must be a normalized path (no '.', "
        "'..' or repeated '/')",
        "policy.yaml:9:18: devices[0].path: /dev/sda is physical memory, an I/O port or a raw "
        "disk: always denied; it cannot be allowlisted",
        "policy.yaml:10:21: deviceCgroupRules[0]: 'c 188:* rw' is a wildcard: only exact rules "
        "(c MAJOR:MINOR PERMS) can be allowlisted",
        "policy.yaml:10:35: deviceCgroupRules[1]: 'c 1:3' must look like \"c 188:0 rw\": type b "
        "or c, major:minor, permissions",
    ]


def test_yaml_mistakes_are_located_like_manifest_ones(tmp_path: Path) -> None:
    assert problems(tmp_path, "binds: &a [{path: /srv}]\n") == [
        "policy.yaml:3:8: binds: anchors (&a) are not allowed; write the value out where it is used"
    ]
    assert problems(tmp_path, "---\n" + HEAD, head=HEAD) == [
        "policy.yaml:4:1: this file must hold one YAML document; remove the '---'"
    ]


def test_a_missing_header_is_reported(tmp_path: Path) -> None:
    assert problems(tmp_path, "profile: baseline\n", head="") == [
        "policy.yaml:1:1: apiVersion: is required",
        "policy.yaml:1:1: kind: is required",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_policy_file_others_can_write_or_own_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.chmod(0o666)
    with pytest.raises(ManifestError, match=r"writable by group or others \(mode 0666\)"):
        load_policy(path, environ={})
    path.chmod(0o644)
    os.chown(path, 12345, 12345)
    with pytest.raises(ManifestError, match="owned by uid 12345"):
        load_policy(path, environ={})


def test_the_repository_examples_pass_under_their_policy() -> None:
    loaded = load([EXAMPLES.parents[1] / "manifests" / "examples"], recursive=True)
    admission = admit(loaded.manifests, load_policy(EXAMPLES / "examples.yaml", environ={}))
    assert [str(v) for v in admission.violations] == []
