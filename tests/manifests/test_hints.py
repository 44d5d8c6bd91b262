"""Value habits from compose and docker run: golden messages, and values left alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticCustomError

from reconciler.manifests.hints import (
    gpus_string,
    memory_swap_minus_one,
    mount_string,
    port_string,
    unresolved_variable,
    unresolved_variable_strict,
)

Hint = Callable[[Any], Any]

PORT = "is the compose and docker run -p spelling; ports are objects here"
RANDOM = "to publish it on a host port you choose (reconcile picks no random port)"
MOUNT = "is the compose and docker run -v spelling; mounts are objects here:"
GPUS = "is the docker run --gpus spelling; gpus is an object here:"
NO_VARS = "reconcile does not interpolate variables in manifests: write the value itself"
SWAP = (
    "(unlimited swap, as docker run and compose read it) cannot be written here, where "
    "memorySwap is memory plus swap: leave it out for no swap beyond memory, or write twice "
    "memory (memory: 512Mi, memorySwap: 1Gi) for the Engine's default, as much swap again"
)


def _message(hint: Hint, value: Any) -> tuple[str, str]:
    with pytest.raises(PydanticCustomError) as caught:
        hint(value)
    return caught.value.type, caught.value.message()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8080:80", f"'8080:80' {PORT}: {{containerPort: 80, hostPort: 8080}}"),
        (
            "127.0.0.1:8080:80/udp",
            f"'127.0.0.1:8080:80/udp' {PORT}: "
            "{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1, protocol: udp}",
        ),
        (
            "80",
            f"'80' {PORT}: {{containerPort: 80, hostPort: PORT}} {RANDOM}, "
            "or {containerPort: 80} to only expose it",
        ),
        (
            80,
            f"80 {PORT}: {{containerPort: 80, hostPort: PORT}} {RANDOM}, "
            "or {containerPort: 80} to only expose it",
        ),
        (
            "53/UDP",
            f"'53/UDP' {PORT}: {{containerPort: 53, hostPort: PORT, protocol: udp}} {RANDOM}, "
            "or {containerPort: 53, protocol: udp} to only expose it",
        ),
        (
            "127.0.0.1::80",
            f"'127.0.0.1::80' {PORT}: {{containerPort: 80, hostPort: PORT, hostIP: 127.0.0.1}} "
            f"{RANDOM}",
        ),
        (
            "8000-8010:8000-8010",
            f"'8000-8010:8000-8010' {PORT}, and a range is a quoted string: "
            '{containerPort: "8000-8010", hostPort: "8000-8010"}',
        ),
        (
            "127.0.0.1:8000-8010:8000-8010/tcp",
            f"'127.0.0.1:8000-8010:8000-8010/tcp' {PORT}, and a range is a quoted string: "
            '{containerPort: "8000-8010", hostPort: "8000-8010", hostIP: 127.0.0.1, '
            "protocol: tcp}",
        ),
        (
            "[::1]:8080:80",
            f"'[::1]:8080:80' {PORT}: {{containerPort: 80, hostPort: 8080, hostIP: \"::1\"}}",
        ),
        (
            "::1:8080:80",
            f"'::1:8080:80' {PORT}: {{containerPort: 80, hostPort: 8080, hostIP: \"::1\"}}",
        ),
    ],
)
def test_port_string(value: Any, message: str) -> None:
    assert _message(port_string, value) == ("port_string", message)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("./data:/data", f"'./data:/data' {MOUNT} {{type: bind, source: ./data, target: /data}}"),
        (
            "/srv/x:/x:ro",
            f"'/srv/x:/x:ro' {MOUNT} {{type: bind, source: /srv/x, target: /x, readOnly: true}}",
        ),
        ("/srv/x:/x:rw", f"'/srv/x:/x:rw' {MOUNT} {{type: bind, source: /srv/x, target: /x}}"),
        (
            "dbdata:/var/lib/db",
            f"'dbdata:/var/lib/db' {MOUNT} {{type: volume, source: dbdata, target: /var/lib/db}} "
            "where dbdata names a Volume of this set",
        ),
        (
            "dbdata:/var/lib/db:ro",
            f"'dbdata:/var/lib/db:ro' {MOUNT} "
            "{type: volume, source: dbdata, target: /var/lib/db, readOnly: true} "
            "where dbdata names a Volume of this set",
        ),
        ("/cache", f"'/cache' {MOUNT} {{type: volume, target: /cache}}"),
        (".:/app", f"'.:/app' {MOUNT} {{type: bind, source: ., target: /app}}"),
        ("conf/x:/x", f"'conf/x:/x' {MOUNT} {{type: bind, source: ./conf/x, target: /x}}"),
        (
            "~/x:/x",
            f"'~/x:/x' {MOUNT} {{type: bind, source: ~/x, target: /x}} "
            "with ~ replaced by the home directory's path (reconcile does not expand ~)",
        ),
        (
            "/srv/x:/x:ro,rshared",
            f"'/srv/x:/x:ro,rshared' {MOUNT} "
            "{type: bind, source: /srv/x, target: /x, readOnly: true, propagation: rshared}",
        ),
        (
            "/srv/x:/x:z",
            f"'/srv/x:/x:z' {MOUNT} {{type: bind, source: /srv/x, target: /x, selinux: z}}",
        ),
        (
            "/srv/x:/x:Z,ro,cached",
            f"'/srv/x:/x:Z,ro,cached' {MOUNT} "
            "{type: bind, source: /srv/x, target: /x, selinux: Z, readOnly: true}",
        ),
        (
            "db:/x:nocopy",
            f"'db:/x:nocopy' {MOUNT} {{type: volume, source: db, target: /x, noCopy: true}} "
            "where db names a Volume of this set",
        ),
        (
            "db:/x:shared,z",
            f"'db:/x:shared,z' {MOUNT} {{type: volume, source: db, target: /x}} "
            "where db names a Volume of this set; the options shared, z cannot be written here",
        ),
        (
            "/srv/x:/x:nocopy",
            f"'/srv/x:/x:nocopy' {MOUNT} {{type: bind, source: /srv/x, target: /x}}; "
            "the option nocopy cannot be written here",
        ),
        (
            "/srv/my data:/data",
            f"'/srv/my data:/data' {MOUNT} {{type: bind, source: \"/srv/my data\", target: /data}}",
        ),
    ],
)
def test_mount_string(value: str, message: str) -> None:
    assert _message(mount_string, value) == ("mount_string", message)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("all", f"'all' {GPUS} {{count: all}}"),
        ("device=0,1", f'\'device=0,1\' {GPUS} {{deviceIDs: ["0", "1"]}}'),
        ('"device=0,1"', f'\'"device=0,1"\' {GPUS} {{deviceIDs: ["0", "1"]}}'),
        ("device=GPU-3a2b", f"'device=GPU-3a2b' {GPUS} {{deviceIDs: [GPU-3a2b]}}"),
        ("2", f"'2' {GPUS} {{count: 2}}"),
        (2, f"2 {GPUS} {{count: 2}}"),
        (
            "count=all,driver=nvidia",
            f"'count=all,driver=nvidia' {GPUS} {{count: all, driver: nvidia}}",
        ),
        ("driver=nvidia", f"'driver=nvidia' {GPUS} {{count: 1, driver: nvidia}}"),
        (
            "count=2,capabilities=compute,utility",
            f"'count=2,capabilities=compute,utility' {GPUS} "
            "{count: 2, capabilities: [compute, utility, gpu]}",
        ),
        (
            "gpu0",
            f"'gpu0' {GPUS} "
            '{count: all}, {count: 2} or {deviceIDs: ["0", "1"]}, for example',
        ),
    ],
)
def test_gpus_string(value: Any, message: str) -> None:
    assert _message(gpus_string, value) == ("gpus_string", message)


@pytest.mark.parametrize("value", [-1, "-1", " -1 "])
def test_memory_swap_minus_one(value: Any) -> None:
    assert _message(memory_swap_minus_one, value) == (
        "memory_swap_unlimited",
        f"memorySwap: -1 {SWAP}",
    )


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (
            unresolved_variable,
            "nginx:${TAG}",
            f"'nginx:${{TAG}}' holds the variable ${{TAG}}; {NO_VARS}",
        ),
        (
            unresolved_variable,
            "${DATA_DIR:-/srv/data}",
            "'${DATA_DIR:-/srv/data}' holds the variable ${DATA_DIR:-/srv/data}; "
            f"{NO_VARS}, such as '/srv/data' (the default filled in)",
        ),
        (
            unresolved_variable,
            "/srv/${APP-shop}/${ENV:-prod}",
            "'/srv/${APP-shop}/${ENV:-prod}' holds the variable ${APP-shop}; "
            f"{NO_VARS}, such as '/srv/shop/prod' (the defaults filled in)",
        ),
        (
            unresolved_variable,
            "/srv/${APP}/${ENV:-prod}",
            f"'/srv/${{APP}}/${{ENV:-prod}}' holds the variable ${{APP}}; {NO_VARS}",
        ),
        (
            unresolved_variable,
            "${UID:?set UID}",
            f"'${{UID:?set UID}}' holds the variable ${{UID:?set UID}}; {NO_VARS}",
        ),
        (
            unresolved_variable,
            "$$/${X:+on}",
            f"'$$/${{X:+on}}' holds the variable ${{X:+on}}; {NO_VARS}",
        ),
        (
            unresolved_variable_strict,
            "nginx:$TAG",
            f"'nginx:$TAG' holds the variable $TAG; {NO_VARS}",
        ),
        (
            unresolved_variable_strict,
            "app:${TAG:-1.27}",
            f"'app:${{TAG:-1.27}}' holds the variable ${{TAG:-1.27}}; {NO_VARS}, "
            "such as 'app:1.27' (the default filled in)",
        ),
        # The string hints answer a variable first: it is what has to change first.
        (
            port_string,
            "${WEB_PORT:-8080}:80",
            "'${WEB_PORT:-8080}:80' holds the variable ${WEB_PORT:-8080}; "
            f"{NO_VARS}, such as '8080:80' (the default filled in)",
        ),
        (port_string, "$PORT:80", f"'$PORT:80' holds the variable $PORT; {NO_VARS}"),
        (
            mount_string,
            "$HOME/data:/data",
            f"'$HOME/data:/data' holds the variable $HOME; {NO_VARS}",
        ),
        (
            mount_string,
            "${DATA}:/data:ro",
            f"'${{DATA}}:/data:ro' holds the variable ${{DATA}}; {NO_VARS}",
        ),
    ],
)
def test_unresolved_variable(hint: Hint, value: str, message: str) -> None:
    assert _message(hint, value) == ("unresolved_variable", message)


_OBJECT = {"containerPort": 80, "hostPort": 8080}


@pytest.mark.parametrize(
    ("hint", "value"),
    [
        # Objects, other types and strings that are not the habit: the model answers them.
        (port_string, _OBJECT),
        (port_string, True),
        (port_string, 0),
        (port_string, None),
        (port_string, "http"),
        (port_string, "80/foo"),
        (port_string, "8080:80:90:100"),
        (port_string, "1.2.3.4 :80:80"),
        (mount_string, {"type": "bind", "source": "/srv", "target": "/srv"}),
        (mount_string, 3),
        (mount_string, "data"),
        (mount_string, "/x:ro"),
        (mount_string, ":/x"),
        (mount_string, "a:b:c:d"),
        (gpus_string, {"count": "all"}),
        (gpus_string, True),
        (gpus_string, 0),
        (gpus_string, None),
        (memory_swap_minus_one, "1Gi"),
        (memory_swap_minus_one, 1073741824),
        (memory_swap_minus_one, 0),
        (memory_swap_minus_one, True),
        (memory_swap_minus_one, None),
        (memory_swap_minus_one, "-1Gi"),
        # A bare $ is legal in paths and user names (host$); $$ is compose's escaped $.
        (unresolved_variable, "/srv/$HOME/x"),
        (unresolved_variable, "host$"),
        (unresolved_variable, "$$HOME"),
        (unresolved_variable, "${1}"),
        (unresolved_variable, "${"),
        (unresolved_variable, "nginx:1.27"),
        (unresolved_variable, 8080),
        (unresolved_variable, None),
        (unresolved_variable, ["${X}"]),
        (unresolved_variable_strict, "nginx:1.27"),
        (unresolved_variable_strict, "$$"),
        (unresolved_variable_strict, "price$"),
        (unresolved_variable_strict, 1000),
    ],
)
def test_not_the_habit_passes_unchanged(hint: Hint, value: Any) -> None:
    assert hint(value) is value


class _Toy(BaseModel):
    swap: Annotated[int, BeforeValidator(memory_swap_minus_one)]
    ports: list[Annotated[dict[str, int], BeforeValidator(port_string)]] = []


def test_usable_as_before_validators() -> None:
    assert _Toy.model_validate({"swap": 5, "ports": [_OBJECT]}).ports == [_OBJECT]
    with pytest.raises(ValidationError) as caught:
        _Toy.model_validate({"swap": "-1", "ports": [{"containerPort": 80}, "8080:80"]})
    errors = {(e["loc"], e["type"]): e["msg"] for e in caught.value.errors()}
    assert errors == {
        (("swap",), "memory_swap_unlimited"): f"memorySwap: -1 {SWAP}",
        (("ports", 1), "port_string"): f"'8080:80' {PORT}: {{containerPort: 80, hostPort: 8080}}",
    }
