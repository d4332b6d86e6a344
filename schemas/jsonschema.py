"""Generates the published JSON Schema (2020-12) files from the typed events, and loads them.

The files under `schemas/json/` are the contract platform teams read; they are produced
by `python -m telltales.schemas.jsonschema` and a test fails when the committed files
differ from what this module generates.
"""

from __future__ import annotations

import functools
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Final

import msgspec

from .dlq import DlqEnvelope
from .events import EVENT_TYPES

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
ID_BASE: Final = "https://telltales.dev/schemas/"

_DESCRIPTIONS: Final[dict[str, str]] = {
    "vpn_login": "A VPN or SSO login seen by a gateway. `geo`/`asn` are enriched from GeoIP when absent; present values win.",
    "remote_session": "A remote-access session (RDP, SSH, RMM tool) touching the employee's device. "
                      "`direction: inbound` means someone controls this employee's device.",
    "device_snapshot": "What an endpoint agent reports about a device; every field but ts/employee_id is optional.",
    "employee": "A directory record: the claimed home, time zone, working hours and approved tools. "
                "On the compacted directory topic a tombstone (null value) erases the employee.",
    "dlq_envelope": "A rejected input, with the reason, as written to the DLQ topic or the --dlq file.",
}


def _schema_for(name: str, struct: type) -> dict[str, Any]:
    generated = msgspec.json.schema(struct)
    defs = generated["$defs"]
    root = defs.pop(struct.__name__)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": f"{ID_BASE}{name}.schema.json",
        "title": name,
        "description": _DESCRIPTIONS[name],
        **{k: v for k, v in root.items() if k not in ("title", "description")},
    }
    if name in EVENT_TYPES:
        # Required in files; on Kafka the topic implies it, and the decoder fills it in.
        schema["required"] = ["event_type", *[r for r in schema.get("required", []) if r != "event_type"]]
    if defs:
        schema["$defs"] = dict(sorted(defs.items()))
    return schema


def generate() -> dict[str, dict[str, Any]]:
    """Every published schema, by name."""
    structs: dict[str, type] = {**EVENT_TYPES, "dlq_envelope": DlqEnvelope}
    return {name: _schema_for(name, struct) for name, struct in structs.items()}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The committed schema file for `name` (an event type or "dlq_envelope")."""
    text = (resources.files("telltales.schemas") / "json" / f"{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in generate().items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(schema), "utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "json"
    for path in write(target):
        print(path)
