"""Shared pieces of the manifest models: the strict base class, names, paths, metadata."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconciler.manifests import units
from reconciler.manifests.constants import LABEL_PREFIX, MAX_NAME_LENGTH


class Strict(BaseModel):
    """Base of every manifest model: frozen, strict types, camelCase keys, unknown keys refused.

    Unknown keys are refused by a validator of our own (rather than pydantic's ``extra=forbid``)
    so the error can suggest the closest known field.
    """

    model_config = ConfigDict(
        # Validators and serializers are built on first use, not at import: a command whose
        # manifests come from the load cache never validates and skips that cost (~150 ms).
        defer_build=True,
        extra="ignore",
        frozen=True,
        strict=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )
    _known_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._known_keys = frozenset(f.alias or name for name, f in cls.model_fields.items())

    @model_validator(mode="before")
    @classmethod
    def _refuse_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in cls._known_keys:
                    raise unknown_field(str(key), cls._known_keys)
        return data


# Keys people bring from compose files and `docker run`: where the key means that (a field
# the model must have), the field it stands for here (its "is required" is then not repeated)
# and how to write it.
HABITS: dict[str, tuple[str, str | None, str]] = {
    "volumes": (
        "mounts",
        "mounts",
        "mounts: [{type: volume, source: NAME, target: /path}] "
        "(or type: bind with a host path as source)",
    ),
    "entrypoint": (
        "command",
        "command",
        "command: [...] (it replaces the image's ENTRYPOINT; args replaces its CMD)",
    ),
    "cap_add": ("capabilities", "capabilities", "capabilities: {add: [NET_ADMIN]}"),
    "capAdd": ("capabilities", "capabilities", "capabilities: {add: [NET_ADMIN]}"),
    "cap_drop": ("capabilities", "capabilities", "capabilities: {drop: [ALL]}"),
    "capDrop": ("capabilities", "capabilities", "capabilities: {drop: [ALL]}"),
    "labels": ("image", None, "metadata.labels (labels go under metadata, beside name)"),
    "environment": ("env", "env", "env: {KEY: value}"),
    "restart": ("restartPolicy", "restartPolicy", "restartPolicy: unless-stopped"),
    "container_name": ("image", None, "metadata.name (a container is named by its metadata)"),
    "mem_limit": ("resources", "resources", "resources: {memory: 512Mi}"),
    "memory": ("resources", "resources", "resources: {memory: 512Mi}"),
    "cpus": ("resources", "resources", 'resources: {cpus: "0.5"}'),
    "read_only": (
        "readOnlyRootFilesystem",
        "readOnlyRootFilesystem",
        "readOnlyRootFilesystem: true",
    ),
    "disable": ("test", "test", "test: [NONE] (a healthcheck that turns the image's own off)"),
}


def unknown_field(key: str, known: frozenset[str] | set[str]) -> PydanticCustomError:
    """An ``unknown_field`` error naming what the key is called here (a habit from compose
    or ``docker run``), else the closest known key, if any is close."""
    habit = HABITS.get(key)
    if habit is not None and habit[0] in known:
        _, instead, how = habit
        return PydanticCustomError(
            "unknown_field",
            "unknown field {field}; here it is {hint}",
            {"field": repr(key), "hint": how, "instead": instead or ""},
        )
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    if not close:
        close = [k for k in sorted(known) if k.lower() == key.lower().replace("_", "")]
    hint = f"; did you mean {close[0]}?" if close else f"; known fields: {', '.join(sorted(known))}"
    return PydanticCustomError(
        "unknown_field", "unknown field {field}{hint}", {"field": repr(key), "hint": hint}
    )


_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def _check_name(value: str) -> str:
    if len(value) > MAX_NAME_LENGTH:
        raise PydanticCustomError(
            "invalid_name", "name is longer than {max} characters", {"max": MAX_NAME_LENGTH}
        )
    if not _NAME_RE.match(value):
        raise PydanticCustomError(
            "invalid_name",
            "{name} is not a valid name: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit",
            {"name": repr(value)},
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]
"""A container, volume or network name as the Engine accepts it (and DNS can carry)."""


def check_abs_path(value: str) -> str:
    """Refuse a path that is not absolute or holds a NUL or newline."""
    if not value.startswith("/"):
        raise PydanticCustomError(
            "not_absolute", "{path} must be an absolute path (start with /)", {"path": repr(value)}
        )
    if "\0" in value or "\n" in value:
        raise PydanticCustomError("bad_path", "path contains a NUL or newline character")
    return value


AbsPath = Annotated[str, AfterValidator(check_abs_path)]


def _to_str_scalar(value: Any) -> Any:
    """Integers become strings (``PORT: 8080``); booleans and floats stay and are refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


StrOrInt = Annotated[str, BeforeValidator(_to_str_scalar, json_schema_input_type=str | int)]
"""A string field that also takes a plain integer (env values, user ids)."""


def _size(value: Any) -> int:
    try:
        return units.parse_size(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_size", str(exc)) from None


def _duration(value: Any) -> int:
    try:
        return units.parse_duration_ns(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_duration", str(exc)) from None


def _cpus(value: Any) -> int:
    try:
        return units.parse_nano_cpus(value)
    except ValueError as exc:
        raise PydanticCustomError("invalid_cpus", str(exc)) from None


Size = Annotated[
    int, BeforeValidator(_size), Field(json_schema_extra={"type": ["string", "integer"]})
]
"""Bytes, written as ``256Mi``, ``1G`` or a plain integer."""
Duration = Annotated[
    int,
    BeforeValidator(_duration),
    PlainSerializer(units.format_duration, return_type=str),
    Field(json_schema_extra={"type": "string"}),
]
"""Nanoseconds, written as ``10s``, ``500ms``, ``1m30s``."""
NanoCpus = Annotated[
    int,
    BeforeValidator(_cpus),
    # Serialized as written ("0.5"), so a dumped manifest validates again (history, rollback).
    PlainSerializer(lambda nano: f"{nano / 1e9:.9g}", return_type=str),
    Field(json_schema_extra={"type": ["string", "number"]}),
]
"""Nano-CPUs, written as ``"0.5"``, ``1.5`` or ``"500m"``."""

_LABEL_KEY_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_./-]*$")


def _check_labels(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if key.startswith(LABEL_PREFIX):
            raise PydanticCustomError(
                "reserved_label",
                "label {key} uses the prefix {prefix}, which reconcile reserves for itself",
                {"key": repr(key), "prefix": repr(LABEL_PREFIX)},
            )
        if not _LABEL_KEY_RE.match(key) or len(key) > 253:
            raise PydanticCustomError(
                "invalid_label", "{key} is not a valid label key", {"key": repr(key)}
            )
    return value


Labels = Annotated[dict[str, StrOrInt], AfterValidator(_check_labels)]
