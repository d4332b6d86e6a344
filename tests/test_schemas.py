"""The shipped examples, the published JSON Schemas and the decoder tell the same story.

Every example is judged as labelled; a third-party validator (jsonschema, Draft 2020-12)
agrees with the decoder on each one that is JSON; the committed schema files are what the
code generates; names are normalised and event ids derived once, at decode.
"""

from __future__ import annotations

import base64
import doctest
import hashlib
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from telltales.schemas import decoder as decoder_module
from telltales.schemas import jsonschema as published
from telltales.schemas import vocabulary
from telltales.schemas.decoder import Decoder
from telltales.schemas.dlq import DlqEnvelope
from telltales.schemas.events import EVENT_TYPES
from telltales.schemas.rejections import CODES, LATER_STAGE_CODES, Rejection

EXAMPLES = Path(str(resources.files("telltales.schemas") / "examples"))
SCHEMA_DIR = Path(str(resources.files("telltales.schemas") / "json"))
HEX32 = re.compile(r"^[0-9a-f]{32}$")


# --- reading the examples -------------------------------------------------------------

def lines_of(path: Path) -> list[tuple[int, bytes]]:
    """(line number, bytes) of each non-empty line, split on b"\\n" only, as `schema check` reads them."""
    return [(n, line) for n, line in enumerate(path.read_bytes().split(b"\n"), 1) if line]


def load_expected(directory: Path) -> dict[str, dict[str, Any]]:
    return json.loads((directory / "expected.json").read_text("utf-8"))


def example_line(directory: Path, key: str) -> bytes:
    name, number = key.rsplit(":", 1)
    return dict(lines_of(directory / name))[int(number)]


def decoder_for(key: str) -> Decoder:
    """File lines name their type; lines under invalid/topic/ are messages of the topic named by the file."""
    return Decoder(Path(key.split(":")[0]).stem) if key.startswith("topic/") else Decoder()


def valid_examples() -> list[pytest.param]:
    return [pytest.param(path.stem, line, id=f"{path.name}:{n}")
            for path in sorted((EXAMPLES / "valid").glob("*.jsonl")) for n, line in lines_of(path)]


INVALID = EXAMPLES / "invalid"
EXPECTED = load_expected(INVALID)
DLQ = EXAMPLES / "dlq"


def invalid_examples() -> list[pytest.param]:
    return [pytest.param(key, example_line(INVALID, key), label, id=key) for key, label in EXPECTED.items()]


def strict_json(data: bytes) -> tuple[bool, Any]:
    """(True, document) when the bytes are one JSON text by RFC 8259: UTF-8, no BOM, no NaN, not absurdly deep."""
    def refuse(name: str) -> None:
        raise ValueError(name)

    try:
        return True, json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError):
        return False, None


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


VALIDATORS = {name: validator(name) for name in [*EVENT_TYPES, "dlq_envelope"]}


def schema_accepts(document: Any, topic_type: str | None = None) -> bool:
    """What a platform team's validator says: the schema named by event_type (or by the topic) must accept it."""
    if not isinstance(document, dict):
        return False
    if topic_type is not None:
        document = {"event_type": topic_type, **document}
    schema = VALIDATORS.get(document.get("event_type"))
    return schema is not None and schema.is_valid(document)


# --- examples judged as labelled ---------------------------------------------------------

def test_there_are_several_valid_examples_of_every_event_type() -> None:
    for event_type in EVENT_TYPES:
        assert len(lines_of(EXAMPLES / "valid" / f"{event_type}.jsonl")) >= 4, event_type
    assert len(lines_of(DLQ / "valid.jsonl")) >= 3


@pytest.mark.parametrize(("event_type", "line"), valid_examples())
def test_valid_example_decodes_to_its_type(event_type: str, line: bytes) -> None:
    event = Decoder().decode(line)
    assert not isinstance(event, Rejection), event
    assert type(event) is EVENT_TYPES[event_type]
    assert event.event_id


@pytest.mark.parametrize(("key", "line", "label"), invalid_examples())
def test_invalid_example_is_rejected_as_labelled(key: str, line: bytes, label: dict[str, Any]) -> None:
    result = decoder_for(key).decode(line)
    assert isinstance(result, Rejection), f"{key} was accepted"
    assert (result.code, result.path) == (label["code"], label["path"]), result.message
    assert result.message


def test_every_invalid_line_is_labelled_and_every_label_has_a_line() -> None:
    on_disk = {f"{path.relative_to(INVALID).as_posix()}:{n}"
               for path in INVALID.rglob("*.jsonl") for n, _ in lines_of(path)}
    assert on_disk == set(EXPECTED)


def test_every_code_a_decoder_can_produce_has_an_invalid_example() -> None:
    labelled = {label["code"] for label in EXPECTED.values()}
    assert labelled == set(CODES) - LATER_STAGE_CODES
    assert all(label["code"] in CODES for label in EXPECTED.values())


def test_the_malformed_examples_are_what_their_codes_say() -> None:
    """Guard the raw bytes: an editor that 'fixes' the file would silently weaken the examples."""
    raw = {key: example_line(INVALID, key) for key, label in EXPECTED.items()
           if label["code"] in ("not_utf8", "too_deep", "too_large")}
    assert {EXPECTED[key]["code"] for key in raw} == {"not_utf8", "too_deep", "too_large"}
    for key, line in raw.items():
        match EXPECTED[key]["code"]:
            case "not_utf8":
                with pytest.raises(UnicodeDecodeError):
                    line.decode("utf-8")
            case "too_deep":
                assert line.count(b"[") >= 100_000
            case "too_large":
                assert len(line) > decoder_module.DEFAULT_MAX_EVENT_BYTES


# --- the decoder and a third-party validator agree ---------------------------------------

def agreement_cases() -> list[pytest.param]:
    cases = []
    for param in valid_examples():
        _, line = param.values
        cases.append(pytest.param(line, None, True, False, id=f"valid/{param.id}"))
    for param in invalid_examples():
        key, line, label = param.values
        topic_type = Path(key.split(":")[0]).stem if key.startswith("topic/") else None
        cases.append(pytest.param(line, topic_type, False, label.get("beyond_schema", False), id=f"invalid/{key}"))
    return [case for case in cases if strict_json(case.values[0])[0]]


@pytest.mark.parametrize(("line", "topic_type", "decoder_accepts", "beyond_schema"), agreement_cases())
def test_decoder_and_jsonschema_agree(line: bytes, topic_type: str | None, decoder_accepts: bool,
                                      beyond_schema: bool) -> None:
    """valid ⇔ accepted; `beyond_schema` lines are the documented rules JSON Schema cannot state."""
    result = Decoder(topic_type).decode(line)
    assert (not isinstance(result, Rejection)) == decoder_accepts
    _, document = strict_json(line)
    assert schema_accepts(document, topic_type) == (decoder_accepts or beyond_schema)


def test_only_lines_that_are_not_json_drop_out_of_the_agreement() -> None:
    not_json = {key for key in EXPECTED if not strict_json(example_line(INVALID, key))[0]}
    assert not_json == {key for key, label in EXPECTED.items() if label["code"] in ("bad_json", "not_utf8", "too_deep")}
    assert all(strict_json(line)[0] for _, line in (p.values for p in valid_examples()))


# --- DLQ envelope examples ----------------------------------------------------------------

@pytest.mark.parametrize(("number", "line"), lines_of(DLQ / "valid.jsonl"))
def test_valid_dlq_example(number: int, line: bytes) -> None:
    envelope = msgspec.json.decode(line, type=DlqEnvelope)
    assert VALIDATORS["dlq_envelope"].is_valid(json.loads(line))
    assert msgspec.json.encode(envelope) == line
    assert envelope.code in CODES
    kept = base64.b64decode(envelope.original_b64)
    if envelope.truncated:
        assert len(kept) < envelope.size
    else:
        assert (len(kept), hashlib.sha256(kept).hexdigest()) == (envelope.size, envelope.sha256)


@pytest.mark.parametrize(("key", "label"), load_expected(DLQ).items())
def test_invalid_dlq_example_fails_the_schema_as_labelled(key: str, label: dict[str, str]) -> None:
    error = jsonschema.exceptions.best_match(VALIDATORS["dlq_envelope"].iter_errors(json.loads(example_line(DLQ, key))))
    assert error is not None, f"{key} was accepted"
    assert (".".join(map(str, error.absolute_path)), error.validator) == (label["path"], label["keyword"])


# --- the published schema files -------------------------------------------------------

def test_committed_schema_files_are_what_the_code_generates() -> None:
    generated = published.generate()
    assert {p.name for p in SCHEMA_DIR.glob("*.schema.json")} == {f"{name}.schema.json" for name in generated}
    for name, schema in generated.items():
        committed = (SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8")
        assert committed == published.render(schema), (
            f"{name}.schema.json is stale: run `python -m telltales.schemas.jsonschema`")


@pytest.mark.parametrize("name", [*EVENT_TYPES, "dlq_envelope"])
def test_schema_files_are_valid_draft_2020_12_schemas(name: str) -> None:
    schema = published.load(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    if name in EVENT_TYPES:
        assert schema["required"][0] == "event_type"


# --- normalisation at decode ------------------------------------------------------------

def encode(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode()


def decode_ok(fields: dict[str, Any], event_type: str | None = None):
    event = Decoder(event_type).decode(encode(fields))
    assert not isinstance(event, Rejection), event
    return event


def vpn_fields(**fields: Any) -> dict[str, Any]:
    return {"event_type": "vpn_login", "employee_id": "emp-1", "ts": "2026-03-02T09:00:00+01:00",
            "src_ip": "198.51.100.7", **fields}


def snapshot_fields(**fields: Any) -> dict[str, Any]:
    return {"event_type": "device_snapshot", "employee_id": "emp-1", "ts": "2026-03-02T09:00:00-05:00", **fields}


@pytest.mark.parametrize(("raw", "canonical"), [
    ("AnyDesk.exe", "anydesk"),
    ("TeamViewer_Service.exe", "teamviewer"),
    (r"C:\Program Files\AnyDesk\AnyDesk.exe", "anydesk"),
    ("/Applications/Slack.app/Contents/MacOS/Slack", "slack"),
    ("remoting_host.exe", "chrome_remote_desktop"),
    ("Code.exe", "code"),
    ("AnyDesk .exe", "anydesk"),  # one pass of canonical_tool leaves "anydesk "
    ("AnyDesk.exe.exe", "anydesk"),
])
def test_tool_and_process_names_are_canonical(raw: str, canonical: str) -> None:
    session = decode_ok({"event_type": "remote_session", "employee_id": "emp-1",
                         "ts": "2026-03-02T09:00:00Z", "tool": raw})
    snapshot = decode_ok(snapshot_fields(processes=[raw]))
    employee = decode_ok({"event_type": "employee", "employee_id": "emp-1", "approved_remote_tools": [raw]})
    assert session.tool == snapshot.processes[0] == employee.approved_remote_tools[0] == canonical


def test_hex_ids_and_macs_are_lower_case() -> None:
    snapshot = decode_ok(snapshot_fields(
        usb_devices=[{"vendor_id": "1D6B", "product_id": "0104", "interface_classes": ["0E", "03"]}],
        gateway_mac="A4-2B-B0-11-22-01", wifi={"bssid": "F0:9F:C2:AA:BB:CC"}))
    usb = snapshot.usb_devices[0]
    assert (usb.vendor_id, usb.product_id, usb.interface_classes) == ("1d6b", "0104", ["0e", "03"])
    assert snapshot.gateway_mac == "a4:2b:b0:11:22:01"
    assert snapshot.wifi.bssid == "f0:9f:c2:aa:bb:cc"


def test_country_codes_are_upper_case() -> None:
    login = decode_ok(vpn_fields(geo={"country": "kp"}))
    employee = decode_ok({"event_type": "employee", "employee_id": "emp-1", "home": {"country": "us"}})
    assert (login.geo.country, employee.home.country) == ("KP", "US")


@pytest.mark.parametrize("name", ["Setup .exe", "AnyDesk.exe.exe"])
def test_normalising_a_tool_name_twice_changes_nothing(name: str) -> None:
    once = vocabulary.canonical_tool(name)
    assert vocabulary.canonical_tool(once) == once


# --- event ids ---------------------------------------------------------------------------

def test_absent_event_id_is_derived_as_32_hex() -> None:
    assert HEX32.match(decode_ok(vpn_fields()).event_id)


def test_file_line_and_topic_message_get_the_same_event_id() -> None:
    from_file = decode_ok(vpn_fields())
    on_topic = {k: v for k, v in vpn_fields().items() if k != "event_type"}
    from_topic = decode_ok(on_topic, event_type="vpn_login")
    assert from_file.event_id == from_topic.event_id
    assert from_file == from_topic


def test_key_order_and_unknown_fields_do_not_change_the_event_id() -> None:
    plain = decode_ok(vpn_fields(geo={"country": "US", "city": "Austin"}))
    shuffled = dict(reversed(vpn_fields(geo={"city": "Austin", "country": "us"}).items()))
    extra = vpn_fields(geo={"country": "US", "city": "Austin", "postal": "73301"}, okta_raw={"a": [1, 2]})
    assert decode_ok(shuffled).event_id == decode_ok(extra).event_id == plain.event_id


def test_different_events_get_different_event_ids() -> None:
    ids = {decode_ok(vpn_fields(**change)).event_id for change in
           ({}, {"src_ip": "198.51.100.8"}, {"ts": "2026-03-02T09:00:01+01:00"}, {"employee_id": "emp-2"},
            {"outcome": "failure"})}
    assert len(ids) == 5


def test_supplied_event_id_is_kept() -> None:
    assert decode_ok(vpn_fields(event_id="okta-7f3a")).event_id == "okta-7f3a"


def test_unknown_extra_fields_are_accepted_and_ignored() -> None:
    with_extra = decode_ok(vpn_fields(vendor={"raw": [1, {"x": None}]}, risk_hint="new device"))
    assert with_extra == decode_ok(vpn_fields())
    assert not hasattr(with_extra, "risk_hint")


# --- doctests -------------------------------------------------------------------------------

@pytest.mark.parametrize("module", [vocabulary, decoder_module], ids=lambda m: m.__name__)
def test_docstring_examples_run(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
