"""Every bad-input case has a fixture under invalid/ and the exact problems it must produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.loading import load

INVALID = Path(__file__).parent / "invalid"
TAG_HINT = "are not allowed; remove the tag (quote the value if you want a string)"
NO_DOCUMENTS = (
    "file has no documents (it is empty or only comments); add a manifest or delete the file"
)
NAME_RULE = (
    "is not a valid name: use letters, digits, '_', '.' and '-', starting with a letter or digit"
)

# fixture -> [(line, column, field path, message)], in the order problems are reported.
CASES: dict[str, list[tuple[int, int, str, str]]] = {
    # YAML level
    "syntax-error.yaml": [
        (
            7,
            1,
            "",
            "YAML syntax error: expected ',' or ']', but got "
            "'<stream end>' (while parsing a flow sequence started at line 6, "
            "column 12)",
        )
    ],
    "tab-indent.yaml": [
        (5, 1, "", "tabs are not allowed for indentation in YAML; indent with spaces")
    ],
    "duplicate-key.yaml": [
        (7, 3, "spec.image", "duplicate key 'image': it appears on lines 5 and 7; keep one")
    ],
    "anchor-alias.yaml": [
        (
            5,
            10,
            "spec.image",
            "anchors (&img) are not allowed; write the value out where it is used",
        ),
        (6, 13, "spec.command[0]", "aliases (*img) are not allowed; write the value out"),
    ],
    "merge-key.yaml": [(5, 3, "spec", "merge keys (<<) are not allowed; write the keys out")],
    "tag-python-object.yaml": [
        (5, 10, "spec.image", f"explicit tags (!!python/object:os.system) {TAG_HINT}")
    ],
    "tag-custom.yaml": [(5, 10, "spec.image", f"explicit tags (!secret) {TAG_HINT}")],
    "tag-str.yaml": [(5, 10, "spec.image", f"explicit tags (!!str) {TAG_HINT}")],
    "yaml11-directive.yaml": [
        (2, 1, "", "%YAML 1.1 is not supported: manifests are YAML 1.2; remove the directive")
    ],
    "tag-directive.yaml": [(2, 1, "", "%TAG directives are not allowed; tags are not supported")],
    "not-utf8.yaml": [(3, 21, "", "file is not valid UTF-8 (byte 0xE9); save it as UTF-8")],
    "utf16-bom.yaml": [
        (1, 1, "", "file is encoded as UTF-16; manifests must be UTF-8 (save it as UTF-8)")
    ],
    "utf16-no-bom.yaml": [
        (
            1,
            2,
            "",
            "file contains NUL bytes: it is binary, or UTF-16/UTF-32 "
            "without a byte-order mark; manifests must be UTF-8",
        )
    ],
    "utf32.yaml": [
        (1, 1, "", "file is encoded as UTF-32; manifests must be UTF-8 (save it as UTF-8)")
    ],
    "control-character.yaml": [
        (3, 23, "", "the character U+0007 is not allowed in YAML; remove it")
    ],
    "too-deep.yaml": [(6, 42, "", "nesting is deeper than 32 levels")],
    "too-many-documents.yaml": [(1003, 1, "", "file has more than 1000 documents; split it")],
    "empty.yaml": [(0, 0, "", NO_DOCUMENTS)],
    "comments-only.yaml": [(0, 0, "", NO_DOCUMENTS)],
    "non-string-keys.yaml": [
        (6, 5, "metadata.labels", 'key 1 is a number, not a string; quote it: "1"'),
        (7, 5, "metadata.labels", 'key true is a boolean, not a string; quote it: "true"'),
        (8, 5, "metadata.labels", 'key null is empty (null), not a string; quote it: "null"'),
    ],
    "special-floats.yaml": [
        (
            6,
            21,
            "spec.resources.cpus",
            '.nan is not a finite number; quote it if you mean the text ".nan"',
        ),
        (
            6,
            35,
            "spec.resources.memory",
            '.inf is not a finite number; quote it if you mean the text ".inf"',
        ),
    ],
    "huge-integer.yaml": [
        (
            6,
            21,
            "spec.resources.pids",
            "the number 99999999999999999999 is too "
            "large (above 64 bits); quote it if you mean the text",
        )
    ],
    "top-level-list.yaml": [
        (
            1,
            1,
            "",
            "a manifest must be a mapping with apiVersion, kind, metadata and spec, not a list",
        )
    ],
    "top-level-scalar.yaml": [
        (
            1,
            1,
            "",
            "a manifest must be a mapping with apiVersion, kind, metadata and spec, not a string",
        )
    ],
    # envelope
    "missing-api-version.yaml": [(1, 1, "apiVersion", "is required; use reconcile/v1")],
    "wrong-api-version.yaml": [
        (1, 13, "apiVersion", "'v1' is not a supported apiVersion; use reconcile/v1")
    ],
    "missing-kind.yaml": [(1, 1, "kind", "is required: one of Container, Network, Volume")],
    "kind-typo.yaml": [(2, 7, "kind", "'Contaner' is not a known kind; did you mean Container?")],
    # fields
    "image-float.yaml": [
        (5, 10, "spec.image", 'must be a string; YAML read 3.10 as a number, quote it: "3.10"')
    ],
    "privileged-string.yaml": [
        (
            6,
            15,
            "spec.privileged",
            "must be true or false, not the string 'no'; write it without quotes",
        )
    ],
    "tmpfs-mode-unquoted.yaml": [
        (
            9,
            13,
            "spec.mounts[0].mode",
            "write the mode as a quoted octal "
            'string such as "1777"; unquoted, YAML reads 644 as a decimal '
            "number",
        )
    ],
    "unknown-field-typo.yaml": [(5, 3, "spec.imag", "unknown field 'imag'; did you mean image?")],
    "unknown-field-k8s.yaml": [
        (6, 3, "spec.imagePullPolicy", "unknown field 'imagePullPolicy'; did you mean pullPolicy?")
    ],
    "missing-image.yaml": [(4, 1, "spec.image", "is required")],
    "env-nul.yaml": [(6, 3, "spec.env", "the value of DB_PASSWORD contains a NUL character")],
    # Keys brought from compose and docker run: each says what it is called here.
    "compose-habits.yaml": [
        (
            6,
            3,
            "spec.volumes",
            "unknown field 'volumes'; here it is mounts: [{type: volume, "
            "source: NAME, target: /path}] (or type: bind with a host path as source)",
        ),
        (
            7,
            3,
            "spec.cap_add",
            "unknown field 'cap_add'; here it is capabilities: {add: [NET_ADMIN]}",
        ),
        (
            8,
            3,
            "spec.labels",
            "unknown field 'labels'; here it is metadata.labels (labels go "
            "under metadata, beside name)",
        ),
        (9, 3, "spec.environment", "unknown field 'environment'; here it is env: {KEY: value}"),
        (
            10,
            17,
            "spec.healthcheck.disable",
            "unknown field 'disable'; here it is test: [NONE] "
            "(a healthcheck that turns the image's own off)",
        ),
    ],
    "restart-policy-invalid.yaml": [
        (
            6,
            18,
            "spec.restartPolicy",
            "'sometimes' must be no, always, unless-stopped, on-failure or on-failure:N",
        )
    ],
    "pull-policy-case.yaml": [
        (
            6,
            15,
            "spec.pullPolicy",
            "must be 'IfNotPresent', 'Always' or 'Never'; did you mean Always?",
        )
    ],
    "mount-type-unknown.yaml": [
        (
            7,
            14,
            "spec.mounts[0].type",
            "'nfs' is not a valid type; use one of 'volume', 'bind', 'tmpfs'",
        )
    ],
    "invalid-container-name.yaml": [(3, 18, "metadata.name", f"'My Web' {NAME_RULE}")],
    "invalid-volume-name.yaml": [(3, 18, "metadata.name", f"'-data' {NAME_RULE}")],
    "invalid-network-name.yaml": [(3, 18, "metadata.name", "name is longer than 63 characters")],
    "several-errors.yaml": [
        (5, 3, "spec.imag", "unknown field 'imag'; did you mean image?"),
        (
            6,
            15,
            "spec.privileged",
            "must be true or false, not the string 'yes'; write it without quotes",
        ),
        (
            8,
            23,
            "spec.ports[0].containerPort",
            "'http' is not a port (1-65535) or a range of ports such as \"8000-8010\"",
        ),
        (
            8,
            41,
            "spec.ports[0].hostPort",
            '70000 is not a port (1-65535) or a range of ports such as "8000-8010"',
        ),
    ],
    # values written as compose or docker run would: answered with our spelling
    "value-habits.yaml": [
        (
            5,
            10,
            "spec.image",
            "'nginx:${TAG:-1.27}' holds the variable ${TAG:-1.27}; reconcile does not "
            "interpolate variables in manifests: write the value itself, such as 'nginx:1.27' "
            "(the default filled in)",
        ),
        (
            6,
            11,
            "spec.ports[0]",
            "'8080:80' is the compose and docker run -p spelling; ports are objects here: "
            "{containerPort: 80, hostPort: 8080}",
        ),
        (
            7,
            12,
            "spec.mounts[0]",
            "'./data:/data:ro' is the compose and docker run -v spelling; mounts are objects "
            "here: {type: bind, source: ./data, target: /data, readOnly: true}",
        ),
        (
            8,
            9,
            "spec.gpus",
            "'all' is the docker run --gpus spelling; gpus is an object here: {count: all}",
        ),
        (
            9,
            42,
            "spec.resources.memorySwap",
            "memorySwap: -1 (unlimited swap, as docker run and compose read it) cannot be "
            "written here, where memorySwap is memory plus swap: leave it out for no swap "
            "beyond memory, or write twice memory (memory: 512Mi, memorySwap: 1Gi) for the "
            "Engine's default, as much swap again",
        ),
    ],
    # across documents
    "dangling-references.yaml": [
        (
            6,
            27,
            "spec.mounts[0].source",
            "no Volume named 'web-dta' is defined in these manifests; did you mean 'web-data'?",
        ),
        (7, 14, "spec.networks[0]", "no Network named 'backend' is defined in these manifests"),
        (8, 15, "spec.dependsOn[0]", "no Container named 'db' is defined in these manifests"),
        (9, 3, "spec.pidMode", "no Container named 'sidecar' is defined in these manifests"),
    ],
    "self-dependency.yaml": [(6, 15, "spec.dependsOn[0]", "a container cannot depend on itself")],
    "dependency-cycle.yaml": [
        (
            7,
            15,
            "spec.dependsOn[0]",
            "dependency cycle: a -> b -> c -> a; no start order can satisfy it",
        )
    ],
}


def test_every_fixture_has_a_case() -> None:
    on_disk = {p.name for p in INVALID.iterdir() if p.is_file()}
    assert on_disk == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_fixture(name: str) -> None:
    path = INVALID / name
    result = load([path])
    got = [
        (p.location.file, p.location.line, p.location.column, p.field, p.message)
        for p in result.problems
    ]
    want = [(str(path), line, col, field, message) for line, col, field, message in CASES[name]]
    assert got == want


def test_a_document_with_problems_is_left_out_but_its_neighbours_are_kept() -> None:
    result = load([INVALID / "dangling-references.yaml"])
    assert [(m.kind, m.name) for m in result.manifests] == [
        ("Container", "web"),
        ("Volume", "web-data"),
    ]


def test_duplicate_names_across_files_name_both_places() -> None:
    folder = INVALID / "duplicate-name"
    result = load([folder])
    one, two = folder / "one.yaml", folder / "two.yaml"
    assert [str(p) for p in result.problems] == [
        f"{two}:4:12: metadata.name: Volume 'data' is defined twice: at {one}:3:12 and at "
        f"{two}:4:12; names must be unique per kind"
    ]


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    # Generated, not a fixture: a megabyte of YAML has no place in the repository.
    from reconciler.manifests.constants import MAX_FILE_BYTES

    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    result = load([big])
    assert [str(p) for p in result.problems] == [
        f"{big}: file is larger than the limit of {MAX_FILE_BYTES} bytes "
        f"({big.stat().st_size} bytes); split it into several files"
    ]
