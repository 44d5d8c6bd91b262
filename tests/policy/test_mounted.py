"""The policy's look at what a running container really mounted, on literal mount tables."""

from __future__ import annotations

from reconciler.policy import Policy
from reconciler.policy.mounted import (
    MountEntry,
    check_mounted,
    host_path,
    parse_mountinfo,
)

HOST = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
25 22 0:21 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw
31 22 8:17 / /srv rw,relatime shared:9 - ext4 /dev/sdb1 rw
40 22 8:17 /shared /mnt/shared\\040dir rw shared:9 - ext4 /dev/sdb1 rw
"""

# A container whose /data is /srv/app/data, /conf is /tmp/x/conf (a tmpfs on the host) and
# whose /peek really is the host's /etc (swapped in while the Engine started it).
CONTAINER = """\
600 500 0:90 / / rw - overlay overlay rw
610 600 8:17 /app/data /data rw,relatime - ext4 /dev/sdb1 rw
611 600 0:21 /x/conf /conf ro,relatime - tmpfs tmpfs rw
612 600 8:1 /etc /peek ro,relatime - ext4 /dev/sda1 rw
"""

CID = "0123abcd" * 8


class FakeProc:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read(self, path: str) -> str | None:
        return self.files.get(path)


def proc(pid: int = 42) -> FakeProc:
    return FakeProc(
        {
            f"{pid}/cgroup": f"12:pids:/docker/{CID}\n",
            f"{pid}/mountinfo": CONTAINER,
            "1/mountinfo": HOST,
        }
    )


def test_mountinfo_lines_are_read_with_their_escapes() -> None:
    entries = parse_mountinfo(HOST)
    assert entries[3] == MountEntry("8:17", "/shared", "/mnt/shared dir")
    assert [e.mount_point for e in entries] == ["/", "/tmp", "/srv", "/mnt/shared dir"]


def test_a_mount_maps_to_the_host_path_it_shows() -> None:
    host = parse_mountinfo(HOST)
    inside = {e.mount_point: e for e in parse_mountinfo(CONTAINER)}
    assert host_path(inside["/data"], host) == "/srv/app/data"
    assert host_path(inside["/conf"], host) == "/tmp/x/conf"
    assert host_path(inside["/peek"], host) == "/etc"
    assert host_path(MountEntry("8:17", "/shared/a", "/a"), host) == "/mnt/shared dir/a"
    assert host_path(MountEntry("9:9", "/x", "/x"), host) is None


def test_what_was_admitted_and_is_mounted_passes() -> None:
    policy = Policy(profile="privileged")
    mounts = [("/srv/app/data", "/data"), ("/tmp/x/conf", "/conf")]
    assert check_mounted("web", CID, 42, mounts, policy, proc=proc()) == []


def test_a_swapped_source_is_caught_by_what_is_mounted() -> None:
    # Admitted as /srv/app/peek; the container got the host's /etc. The path string is fine
    # again by now, so only the mount table can tell.
    policy = Policy()
    [violation, *more] = check_mounted(
        "web", CID, 42, [("/srv/app/peek", "/peek")], policy, proc=proc()
    )
    assert violation.rule_id == "baseline/bind-mounts"
    assert violation.mode == "enforce"
    assert violation.message == (
        "the bind mount at /peek is /etc on the host, not /srv/app/peek as the policy "
        "admitted: a path component was swapped while the Engine started the container"
    )
    assert any("/etc" in v.message for v in more), more  # /etc itself is denied too


def test_a_process_of_another_host_or_container_is_not_judged() -> None:
    policy = Policy()
    mounts = [("/srv/app/peek", "/peek")]
    assert check_mounted("web", "f" * 64, 42, mounts, policy, proc=proc()) == []
    assert check_mounted("web", CID, 0, mounts, policy, proc=proc()) == []
    assert check_mounted("web", CID, 42, mounts, policy, proc=FakeProc({})) == []
