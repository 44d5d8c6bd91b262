"""Value habits from compose files and ``docker run``, refused with our spelling.

``HABITS`` in ``common`` answers keys people bring along (``volumes``, ``cap_add``...); this
module answers *values*: a port written ``"8080:80"``, a mount written ``"./data:/data"``,
``gpus: all``, ``memorySwap: -1``, a ``${VAR}`` compose would have replaced. Each function is a
pydantic ``BeforeValidator`` (``(value) -> value``): it returns anything that is not its habit
unchanged, and raises a ``PydanticCustomError`` whose message names what was written and
gives the exact spelling to use here. Pure functions: no I/O, no model imports.

Variables (``unresolved_variable``): reconcile reads manifests as written; it has no env file
and no interpolation, so a variable left in a value would reach the Engine as literal text.
Where a ``$`` is legitimate decides where the check goes:

- ``${NAME}`` and its compose forms (``${NAME:-default}``, ``${NAME-default}``,
  ``${NAME:?error}``, ``${NAME?error}``, ``${NAME:+alt}``, ``${NAME+alt}``) are refused in
  scalar fields that name things: the user, paths, ports. ``$$`` (compose's escaped ``$``) is
  skipped. A bare ``$NAME`` is left alone there, because a path or user name may contain
  a ``$`` (``host$`` machine accounts).
- ``unresolved_variable_strict`` also refuses a bare ``$NAME``, for fields where no ``$`` can
  ever be valid (an image reference, a hostname, an extra host): there the habit is the only
  reading, and the message beats "is not a valid image reference".
- Left alone on purpose: ``command``, ``args`` and healthcheck ``test``, where ``$VAR`` is
  meant for the shell in the container; ``env`` values and labels, which an application may
  expand itself (a literal ``${VAR}`` there is often a mistake, but it can be wanted, and
  nothing here can tell the two apart).

The port and mount string hints check for variables first (with the strict rule: a ``$``
never belongs in such a string), so ``"${PORT:-8080}:80"`` is answered about the variable.
Integers count as habits where compose and ``docker run`` take them: a port item ``80``
(compose's ``ports: [80]``) and ``gpus: 2`` (``--gpus 2``).

Messages that depend on what the models can express today, to update with them:

- A port without a host port (``"80"``, ``"127.0.0.1::80"``) is published by compose on a
  random host port; ``Port`` has no spelling for that, so the message asks for a chosen
  ``hostPort`` (or, without a host IP, ``containerPort`` alone to only expose it).
- Mount options (``:ro``, ``:z``, ``:nocopy``, propagation) are looked up in
  ``MOUNT_OPTIONS``, by mount type, with the spellings of the mount models being written now
  (``selinux: z`` on binds, ``noCopy: true`` on volumes); any other option, or one the type
  does not take (``nocopy`` on a bind), is named in the message as one that cannot be written.
- Unlimited swap has no spelling (``Resources``: ``memorySwap`` is memory plus swap, at least
  ``memory``; ``memory`` alone allows no swap beyond it).

Wired into (``container.py``; a ``BeforeValidator`` listed last in an ``Annotated`` runs first,
so each goes outermost, before the field's own parsing):

- ``port_string``: each item of ``ContainerSpec.ports``
  (``list[Annotated[Port, BeforeValidator(port_string)]]``).
- ``mount_string``: each item of ``ContainerSpec.mounts``, outside the discriminated union
  (``list[Annotated[Mount, BeforeValidator(mount_string)]]``).
- ``gpus_string``: ``ContainerSpec.gpus``.
- ``memory_swap_minus_one``: ``Resources.memory_swap``, before ``Size`` parses it.
- ``unresolved_variable``: ``ContainerSpec.user`` and ``working_dir``; mount ``source`` and
  ``target`` (volume, bind; tmpfs ``target``); ``Port.container_port``, ``host_port`` and
  ``host_ip``; ``Device.host_path`` and ``container_path``.
- ``unresolved_variable_strict``: ``ContainerSpec.image``, ``hostname`` and each item of
  ``extra_hosts``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic_core import PydanticCustomError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
# Compose interpolation: ``$$`` is an escaped ``$``; ``${NAME}`` with an optional modifier.
_BRACED_RE = re.compile(r"\$\$|\$\{(?P<name>" + _NAME + r")(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
_ANY_VAR_RE = re.compile(
    r"\$\$|\$\{(?P<name>" + _NAME + r")(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|\$" + _NAME
)

_PORT_RE = re.compile(r"^\d+(?:-\d+)?$")
_PROTOCOLS = ("tcp", "udp", "sctp")
# What the YAML 1.2 core schema reads as something other than a string (parsing.py's table).
_NUMBER_RE = re.compile(
    r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^0o[0-7]+$|^0x[0-9a-fA-F]+$"
)
_PLAIN_RE = re.compile(r"^[A-Za-z0-9_./~][A-Za-z0-9_./~@+-]*$")
_YAML_WORDS = frozenset({"true", "false", "null", "~", ".inf", "+.inf", "-.inf", ".nan"})

# Short-syntax mount options -> how a mount object of that type writes them here. Options
# that are no-ops on Linux (rw, Docker Desktop's consistency hints) are dropped; any other is
# named in the message as one that cannot be written.
_PROPAGATION = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
MOUNT_OPTIONS: dict[str, dict[str, str]] = {
    "bind": {
        "ro": "readOnly: true",
        "z": "selinux: z",
        "Z": "selinux: Z",
        **{p: f"propagation: {p}" for p in _PROPAGATION},
    },
    "volume": {"ro": "readOnly: true", "nocopy": "noCopy: true"},
}
_NO_OP_OPTIONS = frozenset({"rw", "consistent", "cached", "delegated"})

_GPU_KEYS = ("count", "device", "driver", "capabilities")


# -- Variables -------------------------------------------------------------------------------


def _variable_error(value: str, pattern: re.Pattern[str]) -> PydanticCustomError | None:
    """The error for the first variable in ``value``, or None when it holds none."""
    found = [m for m in pattern.finditer(value) if m.group(0) != "$$"]
    if not found:
        return None
    fix = "write the value itself"
    # When every variable carries a default, the value compose would have used is known.
    if all(m.group("op") in ("-", ":-") for m in found):
        resolved = pattern.sub(
            lambda m: "$$" if m.group(0) == "$$" else (m.group("arg") or ""), value
        )
        plural = "s" if len(found) > 1 else ""
        fix += f", such as {resolved!r} (the default{plural} filled in)"
    return PydanticCustomError(
        "unresolved_variable",
        "{value} holds the variable {variable}; reconcile does not interpolate variables "
        "in manifests: {fix}",
        {"value": repr(value), "variable": found[0].group(0), "fix": fix},
    )


def unresolved_variable(value: Any) -> Any:
    """Refuse a string holding a compose ``${NAME}`` (with or without a modifier)."""
    if isinstance(value, str):
        error = _variable_error(value, _BRACED_RE)
        if error is not None:
            raise error
    return value


def unresolved_variable_strict(value: Any) -> Any:
    """Refuse a string holding ``${NAME}`` or a bare ``$NAME``: for fields where a ``$`` is
    never valid (image references, hostnames, extra hosts)."""
    if isinstance(value, str):
        error = _variable_error(value, _ANY_VAR_RE)
        if error is not None:
            raise error
    return value


# -- Rendering the spelling to use -----------------------------------------------------------


def _scalar(value: str) -> str:
    """A string as a YAML flow scalar: plain when YAML reads it back as that string."""
    if _PLAIN_RE.match(value) and not _NUMBER_RE.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flow(pairs: list[str]) -> str:
    return "{" + ", ".join(pairs) + "}"


# -- Ports -----------------------------------------------------------------------------------


def _port_number(text: str) -> str:
    """A port as written here: a number, or a range as a quoted string."""
    return str(int(text)) if "-" not in text else f'"{text}"'


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def port_string(value: Any) -> Any:
    """Refuse a port written as compose and ``docker run -p`` do (``"127.0.0.1:8080:80/udp"``,
    ``"80"``, ``"8000-8010:8000-8010"``, or a bare integer), with the object to write."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        text = str(value)
    elif isinstance(value, str):
        text = value
        error = _variable_error(text, _ANY_VAR_RE)
        if error is not None:
            raise error
    else:
        return value
    body, slash, protocol = text.partition("/")
    protocol = protocol.lower()
    if slash and protocol not in _PROTOCOLS:
        return value
    # Docker splits from the right: an unbracketed IPv6 address keeps its colons.
    parts = body.rsplit(":", 2)
    container = parts[-1]
    host = parts[-2] if len(parts) > 1 else ""
    host_ip = parts[0].removeprefix("[").removesuffix("]") if len(parts) == 3 else ""
    if not _PORT_RE.match(container) or (host and not _PORT_RE.match(host)):
        return value
    if len(parts) == 3 and (not host_ip or any(c.isspace() for c in host_ip)):
        return value
    if ":" in host_ip and not _is_ipv6(host_ip):
        return value  # more colons than a port spec has, and not an IPv6 address either
    pairs = [f"containerPort: {_port_number(container)}"]
    pairs.append(f"hostPort: {_port_number(host)}" if host else "hostPort: PORT")
    if host_ip:
        pairs.append(f"hostIP: {_scalar(host_ip)}")
    if protocol:
        pairs.append(f"protocol: {protocol}")
    ranges = ", and a range is a quoted string" if "-" in container + host else ""
    example = _flow(pairs)
    if not host:
        # Compose publishes "80" on a random host port; reconcile publishes on a chosen one.
        example += " to publish it on a host port you choose (reconcile picks no random port)"
        if not host_ip:
            example += f", or {_flow(pairs[:1] + pairs[2:])} to only expose it"
    raise PydanticCustomError(
        "port_string",
        "{value} is the compose and docker run -p spelling; ports are objects here{ranges}: "
        "{example}",
        {"value": repr(value), "ranges": ranges, "example": example},
    )


# -- Mounts ----------------------------------------------------------------------------------


def mount_string(value: Any) -> Any:
    """Refuse a mount written as compose and ``docker run -v`` do (``"./data:/data"``,
    ``"/srv/x:/x:ro"``, ``"dbdata:/var/lib/db"``, ``"/cache"``), with the object to write."""
    if not isinstance(value, str):
        return value
    error = _variable_error(value, _ANY_VAR_RE)
    if error is not None:
        raise error
    parts = value.split(":")
    if len(parts) == 1:
        source, target, options = "", parts[0], ""
    elif len(parts) == 2:
        source, target, options = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, target, options = parts
    else:
        return value
    if not target.startswith("/") or (len(parts) > 1 and not source):
        return value
    notes = []
    if not source:
        kind = "volume"
        pairs = ["type: volume", f"target: {_scalar(target)}"]
    elif "/" in source or source in (".", "..", "~"):
        kind = "bind"
        if not source.startswith(("/", "./", "../", "~")) and source not in (".", ".."):
            source = "./" + source  # relative paths start with ./ here (conf/x is refused)
        pairs = ["type: bind", f"source: {_scalar(source)}", f"target: {_scalar(target)}"]
        if source.startswith("~"):
            notes.append(
                "with ~ replaced by the home directory's path (reconcile does not expand ~)"
            )
    else:
        kind = "volume"
        pairs = ["type: volume", f"source: {_scalar(source)}", f"target: {_scalar(target)}"]
        notes.append(f"where {source} names a Volume of this set")
    unwritable = []
    for option in (o for o in options.split(",") if o):
        spelling = MOUNT_OPTIONS[kind].get(option)
        if spelling is not None:
            if spelling not in pairs:
                pairs.append(spelling)
        elif option not in _NO_OP_OPTIONS:
            unwritable.append(option)
    example = " ".join([_flow(pairs), *notes])
    if unwritable:
        plural = "s" if len(unwritable) > 1 else ""
        example += f"; the option{plural} {', '.join(unwritable)} cannot be written here"
    raise PydanticCustomError(
        "mount_string",
        "{value} is the compose and docker run -v spelling; mounts are objects here: {example}",
        {"value": repr(value), "example": example},
    )


# -- GPUs ------------------------------------------------------------------------------------


def _gpu_request(text: str) -> list[str] | None:
    """``docker run --gpus`` (``all``, ``2``, ``device=0,1``, ``count=2,driver=nvidia``,
    ``capabilities=compute,utility``) as the pairs of a ``gpus`` object, or None if it is not
    that syntax. Unquoted, ``device=0,1`` is read as the devices 0 and 1, as meant."""
    found: dict[str, list[str]] = {}
    current = ""
    for raw in text.strip().strip("'\"").split(","):
        field = raw.strip().strip("'\"")
        key, eq, val = field.partition("=")
        if eq:
            if key not in _GPU_KEYS or key in found or not val:
                return None
            current = key
            found[key] = [val]
        elif current in ("device", "capabilities") and field:
            found[current].append(field)
        elif not found and field:
            current = "count"
            found["count"] = [field]
        else:
            return None
    # Without a count or devices, docker run asks for one GPU.
    count = found.get("count", [] if "device" in found else ["1"])
    if count and (len(count) > 1 or not re.match(r"^(all|[1-9][0-9]*)$", count[0])):
        return None
    pairs = [f"count: {n}" for n in count]
    if "device" in found:
        pairs.append(f"deviceIDs: [{', '.join(_scalar(d) for d in found['device'])}]")
    if "driver" in found:
        pairs.append(f"driver: {_scalar(found['driver'][0])}")
    if "capabilities" in found:
        # docker run adds gpu to the capabilities given, so the nvidia driver is selected.
        caps = list(dict.fromkeys([*found["capabilities"], "gpu"]))
        pairs.append(f"capabilities: [{', '.join(_scalar(c) for c in caps)}]")
    return pairs


def gpus_string(value: Any) -> Any:
    """Refuse ``gpus`` written as ``docker run --gpus`` does (``all``, ``2``, ``"device=0,1"``),
    with the object to write."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        pairs: list[str] | None = [f"count: {value}"]
    elif isinstance(value, str):
        pairs = _gpu_request(value)
    else:
        return value
    example = (
        _flow(pairs)
        if pairs
        else '{count: all}, {count: 2} or {deviceIDs: ["0", "1"]}, for example'
    )
    raise PydanticCustomError(
        "gpus_string",
        "{value} is the docker run --gpus spelling; gpus is an object here: {example}",
        {"value": repr(value), "example": example},
    )


# -- Resources -------------------------------------------------------------------------------


def memory_swap_minus_one(value: Any) -> Any:
    """Refuse ``memorySwap: -1``, Docker's unlimited swap, which reconcile cannot express
    (``memorySwap`` is memory plus swap, at least ``memory``; see ``Resources``)."""
    if isinstance(value, bool) or not (
        value == -1 or (isinstance(value, str) and value.strip() == "-1")
    ):
        return value
    raise PydanticCustomError(
        "memory_swap_unlimited",
        "memorySwap: {value} (unlimited swap, as docker run and compose read it) cannot be "
        "written here, where memorySwap is memory plus swap: leave it out for no swap beyond "
        "memory, or write twice memory (memory: 512Mi, memorySwap: 1Gi) for the Engine's "
        "default, as much swap again",
        {"value": str(value).strip()},
    )
