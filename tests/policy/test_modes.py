"""Modes (enforce, warn, audit) per policy and per rule, exemptions, Problems, explain."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import Location, ManifestError, Problem
from reconciler.policy import RULES, Policy, Violation, explain
from reconciler.policy.rules import MODES
from tests.policy.support import admit_text, container, policy

HOSTNET = container("  image: x\n  networkMode: host\n  privileged: true\n")
NET = '[baseline/host-namespaces] container "web": networkMode host is not allowed'
PRIV = '[baseline/privileged] container "web": privileged is not allowed'


@pytest.mark.parametrize("mode", MODES)
def test_the_policy_mode_decides_where_violations_go(mode: str) -> None:
    admission = admit_text(HOSTNET, policy=policy(f"mode: {mode}\n"))
    groups = {"enforce": admission.denied, "warn": admission.warned, "audit": admission.audited}
    assert [str(v) for v in groups[mode]] == [f"{PRIV} (m.yaml:7:3)", f"{NET} (m.yaml:6:3)"]
    assert sum(len(g) for g in groups.values()) == 2
    assert admission.ok == (mode != "enforce")


@pytest.mark.parametrize("mode", MODES)
def test_a_rule_override_changes_one_rule_only(mode: str) -> None:
    pol = policy(f"rules:\n  baseline/host-namespaces: {{mode: {mode}}}\n")
    admission = admit_text(HOSTNET, policy=pol)
    assert [v.rule_id for v in admission.denied if v.rule_id == "baseline/privileged"] == [
        "baseline/privileged"
    ]
    (net,) = [v for v in admission.violations if v.rule_id == "baseline/host-namespaces"]
    assert net.mode == mode


def test_an_override_can_be_stricter_than_the_policy() -> None:
    pol = policy("mode: audit\nrules:\n  baseline/privileged: {mode: enforce}\n")
    admission = admit_text(HOSTNET, policy=pol)
    assert [str(v) for v in admission.denied] == [f"{PRIV} (m.yaml:7:3)"]
    assert [str(v) for v in admission.audited] == [f"{NET} (m.yaml:6:3)"]


def test_an_exempt_resource_is_not_judged_by_that_rule() -> None:
    pol = policy("rules:\n  baseline/host-namespaces: {exempt: [web]}\n")
    assert [str(v) for v in admit_text(HOSTNET, policy=pol).violations] == [f"{PRIV} (m.yaml:7:3)"]


def test_enforced_violations_become_problems_with_the_field_and_rule() -> None:
    problems = admit_text(HOSTNET).problems()
    assert problems == [
        Problem(Location("m.yaml", 6, 3), "spec.networkMode", NET),
        Problem(Location("m.yaml", 7, 3), "spec.privileged", PRIV),
    ]
    assert str(ManifestError(problems)).splitlines()[0] == f"m.yaml:6:3: spec.networkMode: {NET}"


def test_warned_violations_are_not_problems() -> None:
    assert admit_text(HOSTNET, policy=policy("mode: warn\n")).problems() == []


def test_manifest_permissions_only_warn_unless_overridden() -> None:
    assert Policy().mode_for("baseline/manifest-permissions") == "warn"
    assert policy("mode: audit\n").mode_for("baseline/manifest-permissions") == "audit"
    strict = policy("rules:\n  baseline/manifest-permissions: {mode: enforce}\n")
    assert strict.mode_for("baseline/manifest-permissions") == "enforce"


def test_violation_text() -> None:
    v = Violation(
        "baseline/host-namespaces",
        "enforce",
        'container "web"',
        "networkMode host is not allowed",
        Location("m.yaml", 6, 3),
    )
    assert str(v) == f"{NET} (m.yaml:6:3)"
    assert str(Violation("r/x", "warn", "r", "m", Location(""))) == "[r/x] r: m"


def test_explain_says_what_the_rule_checks_and_how_to_allow_it() -> None:
    (v,) = [x for x in admit_text(HOSTNET).denied if x.rule_id == "baseline/host-namespaces"]
    assert explain(v) == (
        f"{NET} (m.yaml:6:3)\n"
        "  outcome: refused (enforce): nothing is created or changed for it\n"
        "  rule:    baseline/host-namespaces (baseline profile): no host network, pid, ipc, uts, "
        "user or cgroup namespace; container:NAME only for a container of the same set\n"
        "  field:   spec.networkMode, pidMode, ipcMode, utsMode, usernsMode, cgroupnsMode  ->  "
        "Docker HostConfig.NetworkMode, PidMode, IpcMode, UTSMode, UsernsMode, CgroupnsMode\n"
        "  to allow it, in the policy file (docs/policy.md):\n"
        "    rules:\n"
        "      baseline/host-namespaces: {exempt: [NAME]}   # or {mode: warn} for every resource"
    )


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_explains_itself(rule: str) -> None:
    text = explain(Violation(rule, "warn", 'container "c"', "m", Location("f.yaml", 1, 1)))
    assert f"rule:    {rule} (" in text
    assert "to allow it" in text
    assert "RULE" not in text


def test_the_docs_table_lists_every_rule() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "policy.md").read_text()
    ids = [line.split("`")[1] for line in docs.splitlines() if line.startswith("| `")]
    assert sorted(i for i in ids if "/" in i) == sorted(RULES)
