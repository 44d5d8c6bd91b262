"""The JSON Schema of the manifest language, for editors (yaml-language-server) and CI.

Generated from the pydantic models; a copy ships as ``reconciler/manifests/manifest.schema.json``
and a test keeps it equal to this output. Regenerate it with
``reconcile schema > reconciler/manifests/manifest.schema.json``.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_ID = "https://reconcile.invalid/schema/v1/manifest.schema.json"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SHIPPED_PATH = "manifest.schema.json"


def manifest_schema() -> dict[str, Any]:
    """The schema of one manifest document (any kind), as a JSON-compatible dict."""
    from reconciler.manifests import any_manifest

    body = any_manifest().json_schema(by_alias=True)
    _close_objects(body)
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "reconcile manifest (reconcile/v1)",
        "description": "One document of a reconcile manifest file: a Container, Volume or "
        "Network. Files may hold several documents separated by '---'.",
        **body,
    }


def render() -> str:
    """The schema as text, exactly as shipped: sorted keys, two-space indent, final newline."""
    return json.dumps(manifest_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _close_objects(node: Any) -> None:
    """Mark every model object ``additionalProperties: false``.

    The models refuse unknown keys with a validator of their own (to suggest the closest
    field), which pydantic cannot see, so the schema would otherwise allow any key. Free-form
    maps (env, labels) have ``additionalProperties`` already and are left alone.
    """
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for item in node:
            _close_objects(item)
