"""Every key of a compose service, volume and network: how reconcile reads it, or why not.

One table, which the converter obeys (a key not here is refused) and docs/compose.md shows
(``reconcile schema --compose`` prints it; a test keeps the copy equal).
"""

from __future__ import annotations

from typing import Literal

Status = Literal["mapped", "resolved", "ignored", "refused"]

# key -> (status, how it maps or why it is not)
SERVICE: dict[str, tuple[Status, str]] = {
    "annotations": ("refused", "OCI annotations need Docker 27 (API 1.46); not supported yet"),
    "attach": ("ignored", "about `docker compose up` attaching to logs; reconcile never attaches"),
    "blkio_config": ("refused", "block I/O weights and limits are not supported yet"),
    "build": (
        "mapped",
        "`build` (`context`, `dockerfile`, `args`, `target`, `labels`); the image is tagged "
        "`image`, else `PROJECT-SERVICE`, and rebuilt when the context changes; other build "
        "options are refused",
    ),
    "cap_add": ("mapped", "`capabilities.add`"),
    "cap_drop": ("mapped", "`capabilities.drop`"),
    "cgroup": ("mapped", "`cgroupnsMode`"),
    "cgroup_parent": ("refused", "a cgroup parent places the container in the host's tree"),
    "command": ("mapped", "`args` (compose's command replaces the image's CMD)"),
    "configs": (
        "mapped",
        "a file config is a read-only bind of its file at `target` (default `/NAME`); a "
        "`content` config a read-only file of reconcile's store with that content; "
        "`environment` configs are refused",
    ),
    "container_name": ("mapped", "`metadata.name` (instead of `PROJECT-SERVICE-1`)"),
    "cpu_count": ("refused", "Windows only"),
    "cpu_percent": ("refused", "Windows only"),
    "cpu_period": ("refused", "CFS tuning: write `cpus` instead"),
    "cpu_quota": ("refused", "CFS tuning: write `cpus` instead"),
    "cpu_rt_period": ("refused", "real-time scheduling is not supported"),
    "cpu_rt_runtime": ("refused", "real-time scheduling is not supported"),
    "cpu_shares": ("mapped", "`resources.cpuShares`"),
    "cpus": ("mapped", "`resources.cpus`"),
    "cpuset": ("mapped", "`resources.cpusetCpus`"),
    "credential_spec": ("refused", "Windows only"),
    "depends_on": (
        "mapped",
        "`dependsOn` on each container of the service: `service_started` -> `started`, "
        "`service_healthy` -> `healthy`, `service_completed_successfully` -> `completed`; "
        "`restart` and `required` as written",
    ),
    "deploy": ("mapped", "see the `deploy.*` rows"),
    "deploy.replicas": ("mapped", "that many containers, `PROJECT-SERVICE-1` to `-N`"),
    "deploy.resources": ("mapped", "limits and reservations: see `resources` and `gpus`"),
    "deploy.restart_policy": (
        "mapped",
        "`restartPolicy` when `restart` is not set: `none` -> `no`, `on-failure` "
        "(`max_attempts` N -> `on-failure:N`), `any` -> `always`",
    ),
    "deploy.mode": ("ignored", "one Engine: `global` is one container, as compose does"),
    "deploy.placement": ("ignored", "Swarm only; compose ignores it on one Engine"),
    "deploy.update_config": ("ignored", "Swarm only; compose ignores it on one Engine"),
    "deploy.rollback_config": ("ignored", "Swarm only; compose ignores it on one Engine"),
    "deploy.endpoint_mode": ("ignored", "Swarm only; compose ignores it on one Engine"),
    "deploy.labels": ("ignored", "labels of a Swarm service; compose ignores them on one Engine"),
    "develop": ("ignored", "for `docker compose watch`"),
    "device_cgroup_rules": ("mapped", "`deviceCgroupRules`"),
    "devices": ("mapped", "`devices`"),
    "dns": ("mapped", "`dns`"),
    "dns_opt": ("mapped", "`dnsOptions`"),
    "dns_search": ("mapped", "`dnsSearch`"),
    "domainname": ("mapped", "`domainname`"),
    "entrypoint": ("mapped", "`command` (compose's entrypoint replaces the image's ENTRYPOINT)"),
    "env_file": (
        "resolved",
        "read by compose into `environment`, and named as `envFiles` too: the host-access "
        "policy judges each as a read-only bind of its path",
    ),
    "environment": (
        "mapped",
        "`env`; a variable without a value (and none in the environment) is left out",
    ),
    "expose": ("mapped", "`ports` without a `hostPort`"),
    "extends": ("resolved", "merged by compose"),
    "external_links": ("refused", "legacy links: join the other container's network instead"),
    "extra_hosts": ("mapped", "`extraHosts` (`host=ip`, `host:host-gateway`)"),
    "gpus": ("mapped", "`gpus`"),
    "group_add": ("mapped", "`groupAdd`"),
    "healthcheck": ("mapped", "`healthcheck`; `disable: true` -> `test: [NONE]`"),
    "hostname": ("mapped", "`hostname`"),
    "image": ("mapped", "`image`"),
    "init": ("mapped", "`init`"),
    "ipc": ("mapped", "`ipcMode` (`service:NAME` -> `container:` its first container)"),
    "isolation": ("refused", "Windows only"),
    "label_file": ("resolved", "read by compose into `labels`"),
    "labels": ("mapped", "`metadata.labels`"),
    "links": ("refused", "legacy links: containers of a project reach each other by service name"),
    "logging": ("mapped", "`logging`"),
    "mac_address": ("mapped", "`macAddress` of the service's first network"),
    "mem_limit": ("mapped", "`resources.memory`"),
    "mem_reservation": ("mapped", "`resources.memoryReservation`"),
    "mem_swappiness": ("refused", "not supported yet"),
    "memswap_limit": (
        "mapped",
        "`resources.memorySwap`; left out with a memory limit, the Engine's default (twice the "
        "memory), as compose does; -1 (unlimited) is refused",
    ),
    "models": ("refused", "AI models of Docker Model Runner are not supported"),
    "network_mode": (
        "mapped",
        "`networkMode` (`service:NAME` -> `container:` its first container)",
    ),
    "networks": (
        "mapped",
        "`networks`, each with the service name as an alias (as compose adds it); "
        "`aliases`, `ipv4_address`, `ipv6_address`, `mac_address`; the highest `priority` first",
    ),
    "oom_kill_disable": ("refused", "a container the OOM killer spares can take the host's memory"),
    "oom_score_adj": ("mapped", "`oomScoreAdj`"),
    "pid": ("mapped", "`pidMode`"),
    "pids_limit": ("mapped", "`resources.pids`"),
    "platform": ("mapped", "`platform`"),
    "ports": (
        "mapped",
        "`ports`; a port without a published one is refused: reconcile publishes on a port "
        "you choose, never on a random one",
    ),
    "post_start": ("refused", "lifecycle hooks are not supported yet"),
    "pre_stop": ("refused", "lifecycle hooks are not supported yet"),
    "privileged": ("mapped", "`privileged`"),
    "profiles": ("resolved", "compose keeps only the services of the active profiles"),
    "provider": ("refused", "provider services are not supported"),
    "pull_policy": (
        "mapped",
        "`pullPolicy`: `always` -> `Always`, `never` -> `Never`, `missing` and "
        "`if_not_present` -> `IfNotPresent`; `build` and `daily`/`weekly`/`every_*` refused",
    ),
    "read_only": ("mapped", "`readOnlyRootFilesystem`"),
    "restart": ("mapped", "`restartPolicy`; left out: `no`, as compose"),
    "runtime": ("mapped", "`runtime`"),
    "scale": ("mapped", "as `deploy.replicas`"),
    "secrets": (
        "mapped",
        "`secrets`: a file secret reaches the container read-only at `/run/secrets/NAME` (or "
        "`target`) from reconcile's root-only store, decrypted when it is SOPS or age "
        "encrypted; `environment` secrets are refused (write them to a file)",
    ),
    "security_opt": ("mapped", "`securityOpt`"),
    "shm_size": ("mapped", "`shmSize`"),
    "stdin_open": ("mapped", "`stdinOpen`"),
    "stop_grace_period": ("mapped", "`stopGracePeriod` (whole seconds)"),
    "stop_signal": ("mapped", "`stopSignal`"),
    "storage_opt": ("refused", "storage driver options are not supported"),
    "sysctls": ("mapped", "`sysctls`"),
    "tmpfs": ("mapped", "`tmpfs` mounts, with `size`, `mode` and flags"),
    "tty": ("mapped", "`tty`"),
    "ulimits": ("mapped", "`ulimits`"),
    "use_api_socket": ("refused", "it mounts the Engine's socket: host access"),
    "user": ("mapped", "`user`"),
    "userns_mode": ("mapped", "`usernsMode`"),
    "uts": ("mapped", "`utsMode`"),
    "volumes": (
        "mapped",
        "`mounts`: `volume` (named, external or anonymous; `nocopy`), `bind` (`read_only`, "
        "`propagation`, `selinux`; a missing source directory is created, as compose does, "
        "when the policy allows the path), `tmpfs` (`size`, `mode`); `npipe`, `image` and "
        "`cluster` refused",
    ),
    "volumes_from": ("refused", "mount the volumes by name instead"),
    "working_dir": ("mapped", "`workingDir`"),
    "x-reconcile": (
        "mapped",
        "what only reconcile has: `restartOnUnhealthy`, `oneShot`, `updatePolicy`, "
        "`placement` (which hosts of a fleet run the service)",
    ),
}

VOLUME: dict[str, tuple[Status, str]] = {
    "name": ("mapped", "the Engine name (default `PROJECT_KEY`)"),
    "driver": ("mapped", "`driver`"),
    "driver_opts": ("mapped", "`driverOpts`"),
    "external": ("mapped", "`external: true`: never created, changed or removed"),
    "labels": ("mapped", "`metadata.labels`"),
    "x-reconcile": ("mapped", "`deletionPolicy` (default `Retain`)"),
}

NETWORK: dict[str, tuple[Status, str]] = {
    "name": ("mapped", "the Engine name (default `PROJECT_KEY`)"),
    "driver": ("mapped", "`driver`"),
    "driver_opts": ("mapped", "`driverOpts`"),
    "external": ("mapped", "`external: true`: never created, changed or removed"),
    "internal": ("mapped", "`internal`"),
    "attachable": ("mapped", "`attachable`"),
    "enable_ipv6": ("mapped", "`enableIPv6`"),
    "enable_ipv4": ("refused", "needs Docker 28 (API 1.48); not supported yet"),
    "ipam": (
        "mapped",
        "`subnets` (`subnet`, `gateway`, `ip_range`); another IPAM driver is refused",
    ),
    "labels": ("mapped", "`metadata.labels`"),
}

TOP: dict[str, tuple[Status, str]] = {
    "name": ("mapped", "the compose project name: the prefix of every Engine name"),
    "services": ("mapped", "one `Container` per replica"),
    "volumes": ("mapped", "one `Volume` each"),
    "networks": ("mapped", "one `Network` each used by a service (`default` too)"),
    "secrets": ("mapped", "see the service's `secrets`"),
    "configs": ("mapped", "see the service's `configs`"),
    "include": ("resolved", "merged by compose"),
    "version": ("ignored", "obsolete, as compose says"),
    "models": ("refused", "AI models of Docker Model Runner are not supported"),
    "x-reconcile": ("mapped", "`placement`: which hosts of a fleet run the project"),
}


def render_markdown() -> str:
    """The support matrix as docs/compose.md shows it."""
    out = []
    for title, table in (
        ("Top level", TOP),
        ("Services", SERVICE),
        ("Volumes", VOLUME),
        ("Networks", NETWORK),
    ):
        out += [f"### {title}", "", "| key | | how, or why not |", "|---|---|---|"]
        out += [f"| `{key}` | {status} | {how} |" for key, (status, how) in sorted(table.items())]
        out.append("")
    return "\n".join(out)
