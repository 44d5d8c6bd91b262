"""Device nodes, device cgroup rules and GPUs."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from reconciler.manifests.container import ContainerSpec
from reconciler.policy.model import Policy, is_nvidia_runtime
from reconciler.policy.paths import HostFS, device_denial
from reconciler.policy.rules import Finding

DEVICES = "baseline/devices"
CGROUP_RULES = "baseline/device-cgroup-rules"
GPUS = "baseline/gpus"

# NVIDIA's container runtime hooks give GPUs to any container with this variable set, unless
# it is empty or "void" (the documented "no GPU" values).
NVIDIA_ENV = "NVIDIA_VISIBLE_DEVICES"


def judge_device(path: str, permissions: str, policy: Policy, host: HostFS) -> str | None:
    """Why giving the host device ``path`` with ``permissions`` is not allowed, or None.

    The path is judged resolved (``/dev/disk/by-id/x`` is the disk it points at); the
    allowlist entries are resolved too, so a symlink to an allowlisted device is that device.
    """
    real = host.realpath(path)
    shown = path if path == real else f"{path} (resolves to {real})"
    reason = device_denial(real) or device_denial(posixpath.normpath(path))
    if reason is not None:
        return f"device {shown} {reason}"
    allowed = {host.realpath(p): perms for p, perms in policy.devices.items()}
    if real not in allowed:
        return f"device {shown} is not allowlisted (allowed: {', '.join(sorted(policy.devices))})"
    extra = set(permissions) - set(allowed[real])
    if extra:
        why = " (m lets the container create device nodes)" if "m" in extra else ""
        return (
            f"device {shown} permissions {permissions} exceed the allowed {allowed[real]}{why}; "
            f"write permissions: {allowed[real]}"
        )
    return None


def device_findings(spec: ContainerSpec, policy: Policy, host: HostFS) -> Iterator[Finding]:
    """The devices, cgroup rules and GPU requests of one container, judged."""
    for i, device in enumerate(spec.devices):
        reason = judge_device(device.host_path, device.permissions, policy, host)
        if reason is not None:
            yield Finding(DEVICES, ("spec", "devices", i, "hostPath"), reason)
    for i, rule in enumerate(spec.device_cgroup_rules):
        reason = _cgroup_rule(rule, policy)
        if reason is not None:
            yield Finding(CGROUP_RULES, ("spec", "deviceCgroupRules", i), reason)


def _cgroup_rule(rule: str, policy: Policy) -> str | None:
    kind, numbers, perms = rule.split(" ")
    if "*" in numbers or kind == "a":
        return f"device cgroup rule {rule!r} is a wildcard: never allowed"
    for allowed in policy.device_cgroup_rules:
        a_kind, a_numbers, a_perms = allowed.split(" ")
        if (a_kind, a_numbers) == (kind, numbers) and set(perms) <= set(a_perms):
            return None
    return f"device cgroup rule {rule!r} is not allowlisted"


def gpu_findings(name: str, spec: ContainerSpec, policy: Policy) -> Iterator[Finding]:
    """A GPU request from a container the policy does not grant GPUs to."""
    if policy.gpus_granted(name):
        return
    if spec.gpus is not None:
        yield Finding(GPUS, ("spec", "gpus"), "GPUs are not granted to this container")
    if spec.runtime is not None and is_nvidia_runtime(spec.runtime):
        # The NVIDIA runtime's hook gives the container the GPUs NVIDIA_VISIBLE_DEVICES names,
        # which CUDA images set (to all) themselves.
        yield Finding(
            GPUS,
            ("spec", "runtime"),
            f"runtime {spec.runtime} is NVIDIA's, which gives the container GPUs (those its "
            "image's NVIDIA_VISIBLE_DEVICES names); GPUs are not granted to this container",
        )
    value = spec.env.get(NVIDIA_ENV)
    if value is not None and value.strip() not in ("", "void"):
        yield Finding(
            GPUS,
            ("spec", "env", NVIDIA_ENV),
            f"{NVIDIA_ENV}={value} requests GPUs through the NVIDIA runtime; "
            "GPUs are not granted to this container",
        )
