"""Security options the Engine reads as unconfined: allow-everything seccomp profiles, a bare
``disable``, and the ``key:value`` spellings (red-team issue 13)."""

from __future__ import annotations

import json

import pytest

from tests.policy.support import admit_text, container, fake_host, messages

RULE = "[baseline/security-opt]"


def judged(*options: str, files: dict[str, str] | None = None) -> list[str]:
    """The security-opt messages for a container with these options."""
    host = fake_host()
    host.files.update(files or {})
    doc = container(f"  image: x\n  securityOpt: {json.dumps(list(options))}\n")
    return [m for m in messages(admit_text(doc, host=host)) if m.startswith(RULE)]


def refusal(option: str, why: str) -> list[str]:
    return [
        f'{RULE} container "web": securityOpt {option} is not allowed: the profile {why} '
        "(m.yaml:6:17)"
    ]


UNCONFINED = "like seccomp=unconfined (use one of SCMP_ACT_ERRNO, SCMP_ACT_KILL, "
UNCONFINED += "SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD, SCMP_ACT_TRAP)"


@pytest.mark.parametrize("action", ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"])
def test_an_inline_profile_that_allows_by_default_is_unconfined(action: str) -> None:
    option = f'seccomp={{"defaultAction":"{action}"}}'
    assert judged(option) == refusal(
        option,
        f"has defaultAction '{action}': every call it does not list goes through, {UNCONFINED}",
    )


def test_keys_match_case_insensitively_and_the_last_duplicate_wins() -> None:
    # As Go's encoding/json decodes it into the Engine's profile struct.
    option = 'seccomp={"defaultAction":"SCMP_ACT_ERRNO","DEFAULTACTION":"SCMP_ACT_ALLOW"}'
    assert judged(option) == refusal(
        option[:57] + "...",
        "has defaultAction 'SCMP_ACT_ALLOW': every call it does not list goes through, "
        + UNCONFINED,
    )
    assert (
        judged('seccomp={"DEFAULTACTION":"SCMP_ACT_ALLOW","defaultAction":"SCMP_ACT_ERRNO"}') == []
    )
    assert judged('seccomp={"DefaultAction":"SCMP_ACT_ERRNO"}') == []


@pytest.mark.parametrize("option", ["seccomp={}", "seccomp=null", 'seccomp={"x": 1}'])
def test_an_empty_profile_turns_seccomp_off(option: str) -> None:
    why = (
        "is null: seccomp is off, like seccomp=unconfined"
        if option.endswith("null")
        else "has neither defaultAction nor syscalls: seccomp is off, like seccomp=unconfined"
    )
    assert judged(option) == refusal(option, why)


def test_the_colon_spelling_is_judged_the_same() -> None:
    # Without '=', the Engine cuts at the first ':' (parseSecurityOpt).
    option = 'seccomp:{"defaultAction":"SCMP_ACT_LOG"}'
    assert len(judged(option)) == 1


def test_a_confining_profile_passes() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
    }
    assert judged("seccomp=" + json.dumps(profile)) == []
    assert judged("seccomp=builtin", "seccomp=") == []


def test_a_profile_file_is_judged_by_its_content() -> None:
    files = {
        "/etc/allow.json": '{"defaultAction": "SCMP_ACT_ALLOW"}',
        "/etc/ok.json": '{"defaultAction": "SCMP_ACT_KILL_PROCESS"}',
        "/etc/bad.json": "defaultAction: SCMP_ACT_ERRNO",
    }
    assert judged("seccomp=/etc/ok.json", files=files) == []
    assert judged("seccomp=/etc/allow.json", files=files) == refusal(
        "seccomp=/etc/allow.json",
        "has defaultAction 'SCMP_ACT_ALLOW': every call it does not list goes through, "
        + UNCONFINED,
    )
    assert judged("seccomp=/etc/bad.json", files=files) == refusal(
        "seccomp=/etc/bad.json", "names /etc/bad.json, which is not JSON, so it cannot be judged"
    )
    assert judged("seccomp=/etc/none.json") == refusal(
        "seccomp=/etc/none.json",
        "names /etc/none.json, which cannot be read, so it cannot be judged",
    )
    assert judged("seccomp=profile.json") == refusal(
        "seccomp=profile.json",
        "is neither a JSON profile nor an absolute path, so it cannot be judged",
    )


@pytest.mark.parametrize("option", ["disable", " disable"])
def test_a_bare_disable_is_label_disable(option: str) -> None:
    assert judged(option) == [
        f'{RULE} container "web": securityOpt {option} is not allowed (the Engine reads it as '
        "label=disable) (m.yaml:6:17)"
    ]


def test_options_are_cut_where_the_engine_cuts_them() -> None:
    # With an '=' anywhere the Engine cuts there: "apparmor:x=y" is the key "apparmor:x",
    # which the Engine refuses; "label=type:spc_t" is the label type spc_t.
    assert judged("apparmor:unconfined=x") == []
    assert judged("label=type:spc_t")[0].startswith(
        f'{RULE} container "web": securityOpt label=type:spc_t is not allowed (SELinux'
    )
