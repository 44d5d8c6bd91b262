"""One compose service of the canonical model -> the spec of our ``Container`` manifests.

Pure: a dict in, a dict out, with where each part came from (``origins``: our spec key ->
the compose key path, for messages) and what could not be mapped (``problems``: compose key
path and sentence). The values stay as compose printed them wherever our models read the same
spelling; the models validate them afterwards, like any manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from reconciler.loading.compose import keys
from reconciler.loading.compose.mounts import mounts
from reconciler.loading.compose.types import ComposePath, Context, Mapped

_PULL = {
    "always": "Always",
    "never": "Never",
    "missing": "IfNotPresent",
    "if_not_present": "IfNotPresent",
}
_CONDITIONS = {
    "service_started": "started",
    "service_healthy": "healthy",
    "service_completed_successfully": "completed",
}
_RESTART_CONDITIONS = {"none": "no", "on-failure": "on-failure", "any": "always"}


def map_service(service: Mapping[str, Any], ctx: Context) -> Mapped:
    """The spec of the containers of one service."""
    out = Mapped()
    at: ComposePath = ("services", ctx.name)

    def put(key: str, value: Any, *origin: str | int) -> None:
        if value is not None:
            out.spec[key] = value
            out.origins[key] = (*at, *(origin or (key,)))

    for key in service:
        status = keys.SERVICE.get(key, ("refused", "not a compose key reconcile knows"))
        if status[0] == "refused":
            if key.startswith("x-") and key != "x-reconcile":
                continue  # extensions are the user's own
            out.problems.append(((*at, key), f"{key}: {status[1]}"))
    put("image", service.get("image"), "image")
    _build(service, ctx, out, at, put)
    put("platform", service.get("platform"), "platform")
    policy = service.get("pull_policy")
    if policy is not None:
        if policy in _PULL:
            put("pullPolicy", _PULL[policy], "pull_policy")
        else:
            out.problems.append(
                (
                    (*at, "pull_policy"),
                    f"pull_policy: {policy!r} is not supported; use always, never or missing",
                )
            )
    put("command", service.get("entrypoint"), "entrypoint")
    put("args", service.get("command"), "command")
    env = {k: v for k, v in (service.get("environment") or {}).items() if v is not None}
    put("env", env or None, "environment")
    for ours, theirs in (
        ("user", "user"),
        ("workingDir", "working_dir"),
        ("hostname", "hostname"),
        ("domainname", "domainname"),
        ("extraHosts", "extra_hosts"),
        ("dns", "dns"),
        ("dnsSearch", "dns_search"),
        ("dnsOptions", "dns_opt"),
        ("deviceCgroupRules", "device_cgroup_rules"),
        ("groupAdd", "group_add"),
        ("privileged", "privileged"),
        ("readOnlyRootFilesystem", "read_only"),
        ("securityOpt", "security_opt"),
        ("sysctls", "sysctls"),
        ("ulimits", "ulimits"),
        ("logging", "logging"),
        ("oomScoreAdj", "oom_score_adj"),
        ("runtime", "runtime"),
        ("stopSignal", "stop_signal"),
        ("stopGracePeriod", "stop_grace_period"),
        ("init", "init"),
        ("tty", "tty"),
        ("stdinOpen", "stdin_open"),
        ("utsMode", "uts"),
        ("usernsMode", "userns_mode"),
        ("cgroupnsMode", "cgroup"),
    ):
        value = service.get(theirs)
        if value not in (None, [], {}, ""):
            put(ours, value, theirs)
    if "sysctls" in out.spec:
        out.spec["sysctls"] = {k: str(v) for k, v in out.spec["sysctls"].items()}
    if "shm_size" in service:
        put("shmSize", _bytes(service["shm_size"]), "shm_size")
    caps = {
        k: v for k, v in (("add", service.get("cap_add")), ("drop", service.get("cap_drop"))) if v
    }
    put("capabilities", caps or None, "cap_add" if "cap_add" in service else "cap_drop")
    for ours, theirs in (("pidMode", "pid"), ("ipcMode", "ipc"), ("networkMode", "network_mode")):
        put(ours, _namespace(service.get(theirs), ctx), theirs)
    put("restartPolicy", _restart(service), "restart" if "restart" in service else "deploy")
    put("healthcheck", _healthcheck(service.get("healthcheck")), "healthcheck")
    put("dependsOn", _depends_on(service.get("depends_on"), ctx) or None, "depends_on")
    put("devices", [_device(d) for d in service.get("devices") or ()] or None, "devices")
    _gpus(service, out, at)
    _resources(service, out, at)
    _ports(service, out, at)
    mounts(service, ctx, out, at)
    _networks(service, ctx, out, at)
    out.labels = dict(service.get("labels") or {})
    extension = service.get("x-reconcile") or {}
    for key, value in extension.items():
        if key in ("restartOnUnhealthy", "oneShot", "updatePolicy"):
            put(key, value, "x-reconcile", key)
        elif key == "placement":
            continue  # metadata, not spec: convert.py places the service's containers
        else:
            out.problems.append(
                (
                    (*at, "x-reconcile", key),
                    f"x-reconcile: unknown key {key!r}; known: oneShot, placement, "
                    "restartOnUnhealthy, updatePolicy",
                )
            )
    return out


_BUILD_KEYS = ("context", "dockerfile", "args", "target", "labels")


def _build(
    service: Mapping[str, Any],
    ctx: Context,
    out: Mapped,
    at: ComposePath,
    put: Callable[..., None],
) -> None:
    """``build``: the image built from its context, tagged ``image`` or compose's default
    ``PROJECT-SERVICE``. Build options reconcile does not pass on are refused by name."""
    build = service.get("build")
    if build is None:
        if not service.get("image"):
            out.problems.append((at, f"service {ctx.name!r} has neither image nor build"))
        return
    for key in build:
        if key not in _BUILD_KEYS:
            out.problems.append(
                (
                    (*at, "build", key),
                    f"build.{key}: not supported (reconcile passes on {', '.join(_BUILD_KEYS)})",
                )
            )
    spec = {
        "context": build.get("context"),
        "dockerfile": build.get("dockerfile") or "Dockerfile",
        "args": {k: str(v) for k, v in (build.get("args") or {}).items() if v is not None},
        "target": build.get("target"),
        "labels": dict(build.get("labels") or {}),
    }
    put("build", {k: v for k, v in spec.items() if v not in (None, {}, "")}, "build")
    if not service.get("image"):
        put("image", f"{ctx.project}-{ctx.name}".lower(), "build")


def _bytes(value: Any) -> Any:
    """Compose prints sizes as byte counts in strings; our sizes take the integer."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _namespace(mode: Any, ctx: Context) -> Any:
    if isinstance(mode, str) and mode.startswith("service:"):
        names = ctx.containers(mode.removeprefix("service:"))
        return f"container:{names[0]}" if names else mode
    return mode


def _restart(service: Mapping[str, Any]) -> str:
    if service.get("restart"):
        return str(service["restart"])
    policy = (service.get("deploy") or {}).get("restart_policy") or {}
    condition = policy.get("condition")
    if condition in _RESTART_CONDITIONS:
        name = _RESTART_CONDITIONS[condition]
        attempts = policy.get("max_attempts")
        return f"{name}:{attempts}" if name == "on-failure" and attempts else name
    return "no"  # compose's default


def _healthcheck(check: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not check:
        return None
    if check.get("disable"):
        return {"test": ["NONE"]}
    out: dict[str, Any] = {"test": check.get("test")}
    for ours, theirs in (
        ("interval", "interval"),
        ("timeout", "timeout"),
        ("startPeriod", "start_period"),
        ("startInterval", "start_interval"),
        ("retries", "retries"),
    ):
        if check.get(theirs) is not None:
            out[ours] = check[theirs]
    return out


def _depends_on(depends: Mapping[str, Any] | None, ctx: Context) -> list[dict[str, Any]]:
    out = []
    for service, given in sorted((depends or {}).items()):
        how = given or {}
        for name in ctx.containers(service) or [service]:
            item: dict[str, Any] = {
                "name": name,
                "condition": _CONDITIONS.get(how.get("condition", ""), "started"),
            }
            if how.get("restart"):
                item["restart"] = True
            if how.get("required") is False:
                item["required"] = False
            out.append(item)
    return out


def _device(device: Any) -> dict[str, Any]:
    if isinstance(device, Mapping):
        out = {"hostPath": device.get("source"), "containerPath": device.get("target")}
        if device.get("permissions"):
            out["permissions"] = device["permissions"]
        return out
    parts = str(device).split(":")
    out = {"hostPath": parts[0]}
    if len(parts) > 1:
        out["containerPath"] = parts[1]
    if len(parts) > 2:
        out["permissions"] = parts[2]
    return out


def _gpu(request: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if request.get("device_ids"):
        out["deviceIDs"] = [str(d) for d in request["device_ids"]]
    else:
        count = request.get("count")
        out["count"] = "all" if count in (None, -1, "all") else count
    if request.get("driver"):
        out["driver"] = request["driver"]
    if request.get("capabilities"):
        out["capabilities"] = list(request["capabilities"])
    return out


def _gpus(service: Mapping[str, Any], out: Mapped, at: ComposePath) -> None:
    requests = list(service.get("gpus") or ())
    where: ComposePath = (*at, "gpus")
    reserved = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    for index, device in enumerate(reserved.get("devices") or ()):
        if "gpu" in (device.get("capabilities") or ()):
            requests.append(device)
            where = (*at, "deploy", "resources", "reservations", "devices", index)
        else:
            out.problems.append(
                (
                    (*at, "deploy", "resources", "reservations", "devices", index),
                    "only GPU device reservations (capabilities: [gpu]) are supported",
                )
            )
    if len(requests) > 1:
        out.problems.append((where, "more than one GPU request; reconcile takes one"))
    elif requests:
        out.spec["gpus"] = _gpu(requests[0])
        out.origins["gpus"] = where


def _resources(service: Mapping[str, Any], out: Mapped, at: ComposePath) -> None:
    resources = (service.get("deploy") or {}).get("resources") or {}
    limits, reserved = resources.get("limits") or {}, resources.get("reservations") or {}
    res: dict[str, Any] = {}
    origin: ComposePath = (*at, "deploy", "resources")
    for ours, value, theirs in (
        ("memory", service.get("mem_limit") or limits.get("memory"), "mem_limit"),
        (
            "memoryReservation",
            service.get("mem_reservation") or reserved.get("memory"),
            "mem_reservation",
        ),
        ("cpus", service.get("cpus") or limits.get("cpus"), "cpus"),
        ("cpuShares", service.get("cpu_shares"), "cpu_shares"),
        ("pids", service.get("pids_limit") or limits.get("pids"), "pids_limit"),
        ("cpusetCpus", service.get("cpuset"), "cpuset"),
    ):
        if value not in (None, 0, "0", ""):
            res[ours] = _bytes(value)
            if theirs in service:
                origin = (*at, theirs)
    swap = service.get("memswap_limit")
    if swap is not None and str(swap) == "-1":
        out.problems.append(
            ((*at, "memswap_limit"), "memswap_limit: -1 (unlimited swap) is not supported")
        )
    elif swap not in (None, 0, "0"):
        res["memorySwap"] = _bytes(swap)
    elif "memory" in res and isinstance(res["memory"], int):
        res["memorySwap"] = 2 * res["memory"]  # the Engine's default, which compose leaves
    if res:
        out.spec["resources"] = res
        out.origins["resources"] = origin


def _ports(service: Mapping[str, Any], out: Mapped, at: ComposePath) -> None:
    ports: list[dict[str, Any]] = []
    for index, port in enumerate(service.get("ports") or ()):
        published = str(port.get("published") or "")
        if not published:
            out.problems.append(
                (
                    (*at, "ports", index),
                    f"port {port.get('target')} has no published port: reconcile publishes on "
                    "a port you choose, never on a random one (write HOST:CONTAINER, or use "
                    "expose to only expose it)",
                )
            )
            continue
        item: dict[str, Any] = {
            "containerPort": port.get("target"),
            "hostPort": int(published) if published.isdigit() else published,
        }
        if port.get("host_ip"):
            item["hostIP"] = port["host_ip"]
        if port.get("protocol") and port["protocol"] != "tcp":
            item["protocol"] = port["protocol"]
        ports.append(item)
    for exposed in service.get("expose") or ():
        number, _, protocol = str(exposed).partition("/")
        item = {"containerPort": int(number) if number.isdigit() else number}
        if protocol and protocol != "tcp":
            item["protocol"] = protocol
        ports.append(item)
    if ports:
        out.spec["ports"] = ports
        out.origins["ports"] = (*at, "ports" if "ports" in service else "expose")


def _networks(service: Mapping[str, Any], ctx: Context, out: Mapped, at: ComposePath) -> None:
    if service.get("network_mode"):
        return
    attached = service.get("networks")
    if attached is None:
        attached = {"default": None}
    ranked = sorted(
        attached.items(), key=lambda item: (-int((item[1] or {}).get("priority") or 0), item[0])
    )
    networks = []
    for index, (key, given) in enumerate(ranked):
        how = given or {}
        entry: dict[str, Any] = {
            "name": ctx.networks.get(key, key),
            "aliases": sorted({ctx.name, *(how.get("aliases") or ())}),
        }
        for ours, theirs in (
            ("ipv4Address", "ipv4_address"),
            ("ipv6Address", "ipv6_address"),
            ("macAddress", "mac_address"),
        ):
            if how.get(theirs):
                entry[ours] = how[theirs]
        if index == 0 and service.get("mac_address") and "macAddress" not in entry:
            entry["macAddress"] = service["mac_address"]
        networks.append(entry)
    out.spec["networks"] = networks
    out.origins["networks"] = (*at, "networks")
