"""Where the Engine is, on literals: ssh URLs and the ssh command they become, which docker
context wins (the docker CLI's ``resolveContextName``), and a context store written by hand
in the layout ``docker context create`` writes (tests/docker/test_remote_engines.py uses the
real one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.runtime.docker import addresses, contexts
from reconciler.runtime.docker.addresses import Address, Ssh, Tls

DIAL = "docker system dial-stdio"


@pytest.mark.parametrize(
    ("url", "ssh", "argv_tail"),
    [
        (
            "ssh://root@127.0.0.1:2222",
            Ssh(host="127.0.0.1", user="root", port="2222"),
            ["-l", "root", "-p", "2222", "--", "127.0.0.1", DIAL],
        ),
        ("ssh://build-host", Ssh(host="build-host"), ["--", "build-host", DIAL]),
        (
            "ssh://deploy@build-host/run/user/1000/docker.sock",
            Ssh(host="build-host", user="deploy", socket_path="/run/user/1000/docker.sock"),
            [
                "-l",
                "deploy",
                "--",
                "build-host",
                "docker --host=unix:///run/user/1000/docker.sock system dial-stdio",
            ],
        ),
        ("ssh://[::1]:22", Ssh(host="::1", port="22"), ["-p", "22", "--", "::1", DIAL]),
        (
            "ssh://me@host/var/run/my docker.sock",
            Ssh(host="host", user="me", socket_path="/var/run/my docker.sock"),
            [
                "-l",
                "me",
                "--",
                "host",
                "docker '--host=unix:///var/run/my docker.sock' system dial-stdio",
            ],
        ),
        # A user name that looks like an option stays a user name (-l takes the next word).
        ("ssh://-oProxyCommand=x@host", Ssh(host="host", user="-oProxyCommand=x"), None),
    ],
)
def test_ssh_urls_and_the_command_they_run(url: str, ssh: Ssh, argv_tail: list[str] | None) -> None:
    address = addresses.parse(url)
    assert address == Address(url=url, ssh=ssh)
    argv = ssh.argv(30)
    assert argv[:6] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-T"]
    if argv_tail is not None:
        assert argv[6:] == argv_tail
    assert argv[-3] == "--"


def test_a_slash_alone_is_the_remote_default_socket() -> None:
    assert addresses.parse("ssh://h/").ssh == Ssh(host="h", socket_path="/")
    assert Ssh(host="h", socket_path="/").remote_command() == DIAL


def config(tmp_path: Path, current: str | None = None) -> dict[str, str]:
    directory = tmp_path / "docker-config"
    directory.mkdir(exist_ok=True)
    if current is not None:
        (directory / "config.json").write_text(json.dumps({"currentContext": current}))
    return {"DOCKER_CONFIG": str(directory)}


@pytest.mark.parametrize(
    ("option", "environment", "current", "expected"),
    [
        (None, {}, None, ("default", "")),
        (None, {}, "lab", ("lab", "CONFIG")),
        (None, {"DOCKER_CONTEXT": "edge"}, "lab", ("edge", "DOCKER_CONTEXT")),
        # DOCKER_HOST means the default context, over DOCKER_CONTEXT and the config.
        (
            None,
            {"DOCKER_HOST": "tcp://e:2375", "DOCKER_CONTEXT": "edge"},
            "lab",
            ("default", "DOCKER_HOST"),
        ),
        # --context wins over everything, DOCKER_HOST included.
        (
            "ship",
            {"DOCKER_HOST": "tcp://e:2375", "DOCKER_CONTEXT": "edge"},
            "lab",
            ("ship", "--context"),
        ),
        # An empty DOCKER_HOST or DOCKER_CONTEXT is unset, as for the CLI.
        (None, {"DOCKER_HOST": "", "DOCKER_CONTEXT": ""}, "lab", ("lab", "CONFIG")),
        (None, {}, "", ("default", "")),
    ],
)
def test_which_context_wins(
    tmp_path: Path,
    option: str | None,
    environment: dict[str, str],
    current: str | None,
    expected: tuple[str, str],
) -> None:
    env = {**config(tmp_path, current), **environment}
    name, source = addresses.context_name(env, option=option)
    where = str(tmp_path / "docker-config" / "config.json")
    assert (name, source.replace(where, "CONFIG")) == expected


def test_an_unreadable_docker_config_is_an_error_only_when_it_decides(tmp_path: Path) -> None:
    env = config(tmp_path)
    (tmp_path / "docker-config" / "config.json").write_text("{not json")
    with pytest.raises(addresses.AddressError, match="cannot read the docker config"):
        addresses.from_env(env)
    assert addresses.from_env({**env, "DOCKER_HOST": "tcp://e:2375"}).port == 2375


def store(env: dict[str, str], name: str, endpoint: dict[str, object], *tls: str) -> Path:
    """A context as ``docker context create`` stores it."""
    digest = contexts.directory_name(name)
    root = Path(env["DOCKER_CONFIG"]) / "contexts"
    meta = root / "meta" / digest
    meta.mkdir(parents=True)
    document = {"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}}
    (meta / "meta.json").write_text(json.dumps(document))
    tls_dir = root / "tls" / digest / "docker"
    for file in tls:
        tls_dir.mkdir(parents=True, exist_ok=True)
        (tls_dir / file).write_text("pem\n")
    return tls_dir


def test_the_store_directory_is_the_sha256_of_the_name() -> None:
    assert contexts.directory_name("lab") == (
        "a51146d38077ff992eba84cf1d5e9b249073503eb74868699016153b031a38f7"
    )


def test_a_context_endpoint_is_followed(tmp_path: Path) -> None:
    env = config(tmp_path, "lab")
    store(env, "lab", {"Host": "ssh://root@10.0.0.7:2222", "SkipTLSVerify": False})
    assert addresses.from_env(env) == Address(
        url="ssh://root@10.0.0.7:2222",
        ssh=Ssh(host="10.0.0.7", user="root", port="2222"),
        context="lab",
    )
    store(env, "plain", {"Host": "tcp://10.0.0.8:2375", "SkipTLSVerify": False})
    assert addresses.from_env({**env, "DOCKER_CONTEXT": "plain"}) == Address(
        url="tcp://10.0.0.8:2375", host="10.0.0.8", port=2375, context="plain"
    )
    # The context names the Engine; DOCKER_TLS_VERIFY and DOCKER_CERT_PATH are the default
    # context's, as for the CLI.
    assert addresses.from_env({**env, "DOCKER_TLS_VERIFY": "1"}, context="plain").tls is None
    # --context default with DOCKER_HOST: the default context is DOCKER_HOST.
    assert addresses.from_env({**env, "DOCKER_HOST": "tcp://e:1"}, context="default").port == 1
    assert addresses.from_env(env, context="default").url == addresses.DEFAULT_HOST


def test_a_context_tls_material_is_used(tmp_path: Path) -> None:
    env = config(tmp_path)
    tls_dir = store(env, "secure", {"Host": "tcp://e:2376"}, "ca.pem", "cert.pem", "key.pem")
    assert addresses.from_env(env, context="secure").tls == Tls(
        verify=True,
        ca_file=str(tls_dir / "ca.pem"),
        cert_file=str(tls_dir / "cert.pem"),
        key_file=str(tls_dir / "key.pem"),
    )
    store(env, "skip", {"Host": "tcp://e:2376", "SkipTLSVerify": True})
    assert addresses.from_env(env, context="skip").tls == Tls(verify=False)
    ca_only = store(env, "ca", {"Host": "tcp://e:2376"}, "ca.pem")
    assert addresses.from_env(env, context="ca").tls == Tls(
        verify=True, ca_file=str(ca_only / "ca.pem")
    )
    # An ssh or unix endpoint takes no TLS, whatever the store holds.
    store(env, "over-ssh", {"Host": "ssh://h", "SkipTLSVerify": True}, "ca.pem")
    assert addresses.from_env(env, context="over-ssh").tls is None
    store(env, "half", {"Host": "tcp://e:2376"}, "cert.pem")
    with pytest.raises(addresses.AddressError, match=r"only one of cert\.pem and key\.pem"):
        addresses.from_env(env, context="half")


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        (None, r'the docker context "gone" \(from --context\) does not exist \(no .*meta.json\)'),
        ({"Host": "ssh://a:b@h"}, r'the docker context "gone": .*a password'),
        ({"Host": 5}, "Endpoints.docker.Host is not a string"),
    ],
)
def test_a_context_that_cannot_be_followed_is_an_error(
    tmp_path: Path, endpoints: dict[str, object] | None, message: str
) -> None:
    env = config(tmp_path)
    if endpoints is not None:
        store(env, "gone", endpoints)
    with pytest.raises(addresses.AddressError, match=message):
        addresses.from_env(env, context="gone")


def test_a_context_without_a_docker_endpoint_is_an_error(tmp_path: Path) -> None:
    env = config(tmp_path)
    tls_dir = store(env, "k8s", {})
    meta = tls_dir.parents[2] / "meta" / contexts.directory_name("k8s") / "meta.json"
    meta.write_text(json.dumps({"Name": "k8s", "Endpoints": {"kubernetes": {}}}))
    with pytest.raises(addresses.AddressError, match="has no docker endpoint"):
        addresses.from_env(env, context="k8s")
    # An empty Host is the default socket, as for the CLI's client.
    store(env, "empty", {"Host": ""})
    assert addresses.from_env(env, context="empty").socket_path == "/var/run/docker.sock"


def test_local_default_and_description() -> None:
    assert addresses.parse("unix:///var/run/docker.sock").local_default
    assert addresses.parse("unix:///run/docker.sock").local_default
    assert not addresses.parse("unix:///tmp/engine/docker.sock").local_default
    assert not addresses.parse("ssh://h").local_default
    assert Address(url="ssh://h", context="lab").describe() == "ssh://h (docker context lab)"
