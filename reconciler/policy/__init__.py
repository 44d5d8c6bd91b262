"""The host-access policy: what containers may reach on the host (docs/policy.md).

Runs between validation and the desired state: ``load_policy`` reads the policy file,
``admit`` judges a manifest set (and resolves its bind sources), ``check_created`` judges a
created container's bind mounts again, ``judge_external`` judges external volumes and networks
by what the Engine has under their names, ``check_manifest_dir`` judges the manifests directory,
and ``explain`` tells people why something was refused and how to allow it.
"""

from __future__ import annotations

from reconciler.policy.admission import Admission, admit, check_created, judge_external
from reconciler.policy.hostdir import check_manifest_dir
from reconciler.policy.model import BUILT_IN_SOURCE, Policy
from reconciler.policy.paths import FileInfo, HostFS, Listing, OsHostFS
from reconciler.policy.reading import DEFAULT_POLICY_PATH, POLICY_ENV, load_policy, policy_path
from reconciler.policy.rules import RULES, Rule, Violation, explain

__all__ = [
    "BUILT_IN_SOURCE",
    "DEFAULT_POLICY_PATH",
    "POLICY_ENV",
    "RULES",
    "Admission",
    "FileInfo",
    "HostFS",
    "Listing",
    "OsHostFS",
    "Policy",
    "Rule",
    "Violation",
    "admit",
    "check_created",
    "check_manifest_dir",
    "explain",
    "judge_external",
    "load_policy",
    "policy_path",
]
