"""Validation of raw event values against the exported contracts (tests/fixtures/contracts/).

The contracts are JSON Schema documents generated from the zod schemas the producers enforce.
They use a small set of keywords; this module implements exactly that set and refuses a schema
with any other keyword, so a contract that grows a new rule breaks the job loudly instead of
being half-enforced. (The ``jsonschema`` package would need ``rpds-py``, a compiled wheel that
EMR Serverless would only get through a custom image; these few keywords do not justify one.)

Two rules of the zod schemas cannot be expressed in JSON Schema and are checked here as the
producers check them: each event's ``event_id`` is derived from its key fields.

The raw zone is the log and keeps what was landed under an older contract: a bar of contract v1
(before ``revision``) stays valid here, as the v2 bar without ``revision``, so a rerun over an
old window does not quarantine its history; the lake reads it as revision 0, older than any.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

TOPIC_FILES = {
    "crypto.bars": "crypto.bars.schema.json",
    "crypto.trades": "crypto.trades.schema.json",
    "crypto.assets": "crypto.assets.schema.json",
}

_SUPPORTED = {
    "$id", "$schema", "type", "properties", "required", "additionalProperties", "const", "enum",
    "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "format",
    "description", "anyOf",
}

# zod's own patterns (carried in "pattern") are the contract; "format" adds these checks.
_FORMATS: dict[str, Callable[[str], bool]] = {
    "email": lambda value: re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) is not None,
    "uri": lambda value: re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+", value) is not None,
    "date-time": lambda value: re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", value) is not None,
}

# event_id rules of the zod refinements (functions/shared/contracts.ts).
EVENT_ID_RULES: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "crypto.bars": ("alpaca:{symbol}:{start}", lambda e: f"alpaca:{e['symbol']}:{e['start']}"),
    "crypto.trades": ("sim:{trade_id}", lambda e: f"sim:{e['trade_id']}"),
    "crypto.assets": ("coinapi:{asset_id}:{fetch_date}", lambda e: f"coinapi:{e['asset_id']}:{e['fetch_date']}"),
}


# Per topic, the field the previous contract version lacked: that version is the current schema
# without it (bars v1 = bars v2 without ``revision``).
_PREVIOUS_VERSION_WITHOUT: dict[str, str] = {"crypto.bars": "revision"}


def previous_version(schema: dict[str, Any], without: str) -> tuple[int, dict[str, Any]] | None:
    """(version, schema) of the contract version before ``schema``: the same rules without the
    field ``without``; None when ``schema`` has no such field or no numeric ``schema_version``."""
    current = schema.get("properties", {}).get("schema_version", {}).get("const")
    if without not in schema.get("properties", {}) or not isinstance(current, int) or current < 2:
        return None
    properties = {name: sub for name, sub in schema["properties"].items() if name != without}
    properties["schema_version"] = {**properties["schema_version"], "const": current - 1}
    required = [name for name in schema.get("required", []) if name != without]
    return current - 1, {**schema, "properties": properties, "required": required}


class UnsupportedSchema(ValueError):
    """The contract uses a JSON Schema keyword this validator does not implement."""


def _check_supported(schema: dict[str, Any], where: str = "#") -> None:
    unknown = set(schema) - _SUPPORTED
    if unknown:
        raise UnsupportedSchema(f"{where}: unsupported JSON Schema keyword(s) {sorted(unknown)}")
    for name, sub in schema.get("properties", {}).items():
        _check_supported(sub, f"{where}/properties/{name}")
    for index, sub in enumerate(schema.get("anyOf", [])):
        _check_supported(sub, f"{where}/anyOf/{index}")
    if isinstance(schema.get("additionalProperties"), dict):
        raise UnsupportedSchema(f"{where}: additionalProperties must be a boolean")
    if "format" in schema and schema["format"] not in _FORMATS:
        raise UnsupportedSchema(f"{where}: unsupported format {schema['format']!r}")


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and math.isfinite(value) and value.is_integer()
        )
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "null":
        return value is None
    raise UnsupportedSchema(f"unknown type {expected!r}")


def _errors(schema: dict[str, Any], value: Any, path: str) -> list[str]:
    if "anyOf" in schema:
        branches = [_errors(sub, value, path) for sub in schema["anyOf"]]
        if all(branches):
            return [f"{path}: matches none of anyOf ({'; '.join(b[0] for b in branches)})"]
    expected = schema.get("type")
    if expected is not None:
        types = expected if isinstance(expected, list) else [expected]
        if not any(_type_ok(value, t) for t in types):
            return [f"{path}: expected {'|'.join(types)}, got {type(value).__name__}"]
    errors: list[str] = []
    if "const" in schema and not (value == schema["const"] and type(value) is not bool):
        errors.append(f"{path}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
        # JSON Schema patterns are ECMA-262 searches; \Z instead of $ so a trailing newline fails.
        if "pattern" in schema and re.search(_ecma_anchor(schema["pattern"]), value) is None:
            errors.append(f"{path}: does not match {schema['pattern']}")
        if "format" in schema and not _FORMATS[schema["format"]](value):
            errors.append(f"{path}: not a valid {schema['format']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: less than {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: greater than {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{path}: not greater than {schema['exclusiveMinimum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing required property {name!r}")
        if schema.get("additionalProperties") is False:
            for name in value:
                if name not in properties:
                    errors.append(f"{path}: unexpected property {name!r}")
        for name, sub in properties.items():
            if name in value:
                errors.extend(_errors(sub, value[name], f"{path}.{name}"))
    return errors


_ANCHOR_CACHE: dict[str, str] = {}


def _ecma_anchor(pattern: str) -> str:
    cached = _ANCHOR_CACHE.get(pattern)
    if cached is None:
        cached = re.sub(r"(?<!\\)\$$", r"\\Z", pattern)
        _ANCHOR_CACHE[pattern] = cached
    return cached


@dataclass(frozen=True)
class Violation:
    reason: str  # QuarantineReason: malformed_json | schema_violation | null_value | unknown_topic
    detail: str


class ContractValidator:
    """Validates event values (JSON text) of each topic against its contract."""

    def __init__(self, schemas: dict[str, dict[str, Any]]):
        for schema in schemas.values():
            _check_supported(schema)
        self._schemas = schemas
        self._previous: dict[str, tuple[int, dict[str, Any]]] = {}
        for topic, without in _PREVIOUS_VERSION_WITHOUT.items():
            found = previous_version(schemas[topic], without) if topic in schemas else None
            if found is not None:
                self._previous[topic] = found

    @classmethod
    def from_directory(cls, directory: str) -> "ContractValidator":
        schemas = {}
        for topic, name in TOPIC_FILES.items():
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                schemas[topic] = json.load(handle)
        return cls(schemas)

    @property
    def schemas(self) -> dict[str, dict[str, Any]]:
        return self._schemas

    def violation(self, topic: str, value: str | None) -> Violation | None:
        """None when the value honours the contract of its topic, else the first reason."""
        schema = self._schemas.get(topic)
        if schema is None:
            return Violation("unknown_topic", f"no contract for topic {topic!r}")
        if value is None:
            return Violation("null_value", "record value is null")
        try:
            event = json.loads(value)
        except ValueError as error:
            return Violation("malformed_json", f"value is not JSON: {error}")
        previous = self._previous.get(topic)
        if previous is not None and isinstance(event, dict) and event.get("schema_version") == previous[0]:
            schema = previous[1]
        errors = _errors(schema, event, "$")
        if errors:
            return Violation("schema_violation", "; ".join(errors[:5]))
        template, derive = EVENT_ID_RULES[topic]
        if event["event_id"] != derive(event):
            return Violation("schema_violation", f"$.event_id: must be {template}")
        return None
