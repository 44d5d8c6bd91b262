"""Local-driver volumes judged by what they mount: the mount type allowlist, overlay
directories and other host paths named in ``o``, judged as binds (red-team issue 13)."""

from __future__ import annotations

import pytest

from reconciler.policy import Policy
from tests.policy.support import admit_text, container, messages, policy, volume

MOUNTS = "  image: x\n  mounts: [{type: volume, source: data, target: /d}]\n"
MOUNTS_RO = "  image: x\n  mounts: [{type: volume, source: data, target: /d, readOnly: true}]\n"
ALLOW = policy("binds:\n  - {path: /srv/app}\n  - {path: /srv/data, readWrite: true}\n")
ETC = (
    "bind source /etc is always denied (a policy bind entry naming a subdirectory of /etc can "
    "re-allow it, read-only)"
)


def mounted(opts: str, pol: Policy | None = None, spec: str = MOUNTS) -> list[str]:
    """The messages for the volume ``data`` with these driverOpts, mounted by ``web``."""
    return messages(admit_text(volume(f"{{driverOpts: {opts}}}"), container(spec), policy=pol))


def test_an_overlay_of_etc_is_judged_as_a_bind_of_etc() -> None:
    found = mounted("{type: overlay, device: overlay, o: 'lowerdir=/etc:/srv/app/conf'}")
    assert found == [
        '[baseline/bind-mounts] container "web": volume "data" is an overlay (device=overlay, '
        f"o=lowerdir=/etc:/srv/app/conf, type=overlay): {ETC} (m.yaml:11:27)"
    ]


def test_every_overlay_directory_is_a_bind_source() -> None:
    opts = (
        "{type: overlay, device: overlay, "
        "o: 'lowerdir=/srv/app/conf,upperdir=/etc/shadow,workdir=/proc/1/root'}"
    )
    assert [m.split("): ", 1)[1] for m in mounted(opts)] == [
        "bind source /etc/shadow is under /etc, always denied (a policy bind entry naming a "
        "subdirectory of /etc can re-allow it, read-only) (m.yaml:11:27)",
        "bind source /proc/1/root is under /proc, always denied (m.yaml:11:27)",
    ]


def test_overlay_layers_follow_the_read_only_rules() -> None:
    # Lower layers are never written; upperdir takes the container's writes; workdir is
    # written when the overlay is mounted, even for a read-only container mount.
    opts = (
        "{type: overlay, device: overlay, "
        "o: 'lowerdir=/srv/app/conf,upperdir=/srv/app/data,workdir=/srv/data'}"
    )
    assert mounted(opts, ALLOW, MOUNTS_RO) == []
    assert [m.split("): ", 1)[1] for m in mounted(opts, ALLOW)] == [
        "bind source /srv/app/data is allowed read-only only: set readOnly: true, or give its "
        "policy entry readWrite: true (m.yaml:11:27)"
    ]
    work_in_app = opts.replace("workdir=/srv/data", "workdir=/srv/app/data")
    assert [m.split("): ", 1)[1] for m in mounted(work_in_app, ALLOW, MOUNTS_RO)] == [
        "bind source /srv/app/data is allowed read-only only: set readOnly: true, or give its "
        "policy entry readWrite: true (m.yaml:11:27)"
    ]


def test_escaped_colons_data_only_layers_and_relative_directories() -> None:
    opts = r"{type: overlay, device: o, o: 'lowerdir=/srv/app/conf::/srv/a\:b,upperdir=x'}"
    assert messages(admit_text(volume(f"{{driverOpts: {opts}}}"))) == [
        "[baseline/volume-options] volume \"data\": overlay directory 'x' (upperdir) must be an "
        "absolute path (m.yaml:4:47)",
        '[baseline/bind-mounts] volume "data": it is an overlay (device=o, '
        r"o=lowerdir=/srv/app/conf::/srv/a\:b,upperdir=x, type=overlay): bind source /srv/a:b "
        "does not exist; reconcile never creates bind sources: create it (with the owner and "
        "mode the service needs) first (m.yaml:4:47)",
    ]


def test_an_unmounted_overlay_is_judged_at_its_options() -> None:
    doc = volume("{driverOpts: {type: overlay, device: overlay, o: 'lowerdir=/etc:/tmp/x'}}")
    assert messages(admit_text(doc)) == [
        '[baseline/bind-mounts] volume "data": it is an overlay (device=overlay, '
        f"o=lowerdir=/etc:/tmp/x, type=overlay): {ETC} (m.yaml:4:53)"
    ]


@pytest.mark.parametrize(
    ("fstype", "why"),
    [
        ("proc", ": it would mount every process of the host"),
        ("sysfs", ": it would mount the host's /sys, writable"),
        ("cgroup2", ": it would mount the host's cgroup tree, writable"),
        ("debugfs", ""),
        ("fuse.sshfs", ""),
    ],
)
def test_mount_types_outside_the_allowlist_are_refused(fstype: str, why: str) -> None:
    doc = volume(f"{{driverOpts: {{type: {fstype}, device: {fstype}}}}}")
    refusal = (
        f'[baseline/volume-options] volume "data": mount type {fstype} is not allowed (allowed: '
        "btrfs, cifs, ext2, ext3, ext4, nfs, nfs4, overlay, smb3, tmpfs, xfs, or o=bind)"
        f"{why} (m.yaml:4:21)"
    )
    assert messages(admit_text(doc, container(MOUNTS))) == [refusal]
    # Exempting the volume is the only way through: no policy entry allows a mount type.
    exempt = policy("rules:\n  baseline/volume-options: {exempt: [data]}\n")
    assert messages(admit_text(doc, container(MOUNTS), policy=exempt)) == []


def test_the_allowed_types_mount_nothing_of_the_host() -> None:
    docs = (
        volume("{driverOpts: {type: tmpfs, device: tmpfs, o: 'size=10m,uid=1000'}}", "t"),
        volume("{driverOpts: {type: nfs4, device: ':/export', o: 'addr=10.0.0.1,ro'}}", "n"),
        volume("{driverOpts: {type: smb3, device: //srv/share, o: 'password=/x'}}", "s"),
        volume("{driverOpts: {size: 10G}}", "q"),
        volume("{}", "plain"),
    )
    assert messages(admit_text(*docs)) == []


def test_options_the_local_driver_does_not_know_are_refused() -> None:
    doc = volume("{driverOpts: {type: tmpfs, device: tmpfs, mountpoint: /etc}}")
    assert messages(admit_text(doc)) == [
        '[baseline/volume-options] volume "data": driver option mountpoint is not one the local '
        "driver knows (device, o, size, type) (m.yaml:4:49)"
    ]


def test_a_bind_needs_an_absolute_device_and_a_device_needs_a_type() -> None:
    # Relative paths resolve against the Engine's working directory, which is usually /.
    assert messages(admit_text(volume("{driverOpts: {type: none, o: bind, device: etc}}"))) == [
        '[baseline/volume-options] volume "data": a bind needs an absolute device path, not '
        "'etc' (m.yaml:4:42)"
    ]
    assert messages(admit_text(volume("{driverOpts: {device: /srv/app}}"))) == [
        '[baseline/volume-options] volume "data": a device needs a type (the local driver '
        "refuses it) (m.yaml:4:21)"
    ]


def test_bind_wins_over_the_type_and_its_options() -> None:
    # With o=bind the kernel ignores the type and the data: only device is mounted.
    opts = "{type: proc, device: /srv/app/conf, o: 'bind,ro,lowerdir=/etc'}"
    assert mounted(opts, ALLOW) == []


def test_the_last_of_ro_and_rw_wins() -> None:
    assert mounted("{type: none, device: /srv/app/conf, o: 'rw,bind,ro'}", ALLOW) == []
    assert len(mounted("{type: none, device: /srv/app/conf, o: 'ro,bind,rw'}", ALLOW)) == 1
    # The Engine takes " ro" for filesystem data, not the flag: that bind is read-write.
    assert len(mounted("{type: none, device: /srv/app/conf, o: 'bind, ro'}", ALLOW)) == 1


def test_paths_in_block_filesystem_options_are_judged() -> None:
    found = mounted("{type: ext4, device: /dev/zero, o: 'journal_path=/dev/sda'}")
    assert found == [
        '[baseline/devices] container "web": volume "data" mounts a block device (device=/dev/'
        "zero, o=journal_path=/dev/sda, type=ext4): device /dev/sda is physical memory, an I/O "
        "port or a raw disk: always denied (m.yaml:11:27)"
    ]
    assert mounted("{type: xfs, device: /dev/zero, o: 'logdev=/srv/data'}", ALLOW) == []


def test_cifs_passwords_are_masked_in_messages() -> None:
    found = mounted("{type: cifs, device: /etc, o: 'bind,username=me,password=hunter2'}")
    assert found == [
        '[baseline/bind-mounts] container "web": volume "data" is a bind (device=/etc, '
        f"o=bind,username=me,password=********, type=cifs): {ETC} (m.yaml:11:27)"
    ]


def test_restricted_refuses_an_overlay_of_host_directories() -> None:
    doc = container(
        '  image: x\n  user: "1"\n  capabilities: {drop: [ALL]}\n'
        "  securityOpt: [no-new-privileges]\n"
        "  mounts: [{type: volume, source: data, target: /d}]\n"
    )
    opts = "{driverOpts: {type: overlay, device: o, o: 'lowerdir=/srv/app:/srv/data'}}"
    found = messages(admit_text(volume(opts), doc, policy=policy("profile: restricted\n")))
    assert [m.split(" (device=")[0] for m in found] == [
        '[restricted/bind-mounts] container "web": volume "data" is an overlay of /srv/app',
        '[restricted/bind-mounts] container "web": volume "data" is an overlay of /srv/data',
    ]


def test_the_privileged_profile_judges_no_volume() -> None:
    doc = volume("{driverOpts: {type: proc, device: proc}}")
    assert messages(admit_text(doc, policy=policy("profile: privileged\n"))) == []
