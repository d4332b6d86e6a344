"""The decoder's rejections: exact codes, paths and messages, bounds, hostile input, and nothing valid lost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from telltales.schemas.decoder import DEFAULT_MAX_EVENT_BYTES, Decoder
from telltales.schemas.events import DeviceSnapshot, Employee, RemoteSession, VpnLogin
from telltales.schemas.rejections import CODES, Rejection

KNOWN = "vpn_login, remote_session, device_snapshot, employee"


def encode(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode()


def vpn(**fields: Any) -> dict[str, Any]:
    return {"event_type": "vpn_login", "employee_id": "emp-1", "ts": "2026-03-02T09:00:00-06:00",
            "src_ip": "203.0.113.9", **fields}


def session(**fields: Any) -> dict[str, Any]:
    return {"event_type": "remote_session", "employee_id": "emp-1", "ts": "2026-03-02T09:00:00+09:00",
            "tool": "AnyDesk.exe", **fields}


def snapshot(**fields: Any) -> dict[str, Any]:
    return {"event_type": "device_snapshot", "employee_id": "emp-1", "ts": "2026-03-02T09:00:00Z", **fields}


def employee(**fields: Any) -> dict[str, Any]:
    return {"event_type": "employee", "employee_id": "emp-1", **fields}


def without(fields: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in names}


def rejected(data: bytes, decoder: Decoder | None = None) -> Rejection:
    result = (decoder or Decoder()).decode(data)
    assert isinstance(result, Rejection), f"accepted: {result!r}"
    assert result.code in CODES
    return result


# --- exact messages ---------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "code", "path", "message"), [
    (session(latency={"rtt_ms": {"min": -3}}),
     "out_of_range", "latency.rtt_ms.min", "`latency.rtt_ms.min` is -3; must be ≥ 0"),
    (session(latency={"input_ms": {"min": 700001}}),
     "out_of_range", "latency.input_ms.min", "`latency.input_ms.min` is 700001; must be ≤ 600000.0"),
    (session(latency={"input_ms": {"min": 120, "p50": 95}}),
     "inconsistent", "latency.input_ms", "`latency.input_ms`: p50 (95.0) is below min (120.0)"),
    (without(vpn(), "src_ip"), "missing_field", "src_ip", "`src_ip` is required"),
    (vpn(asn={"org": "Example"}), "missing_field", "asn.number", "`asn.number` is required"),
    (vpn(src_ip=5), "wrong_type", "src_ip", "`src_ip` is a number (5); must be a string"),
    (vpn(src_ip="203.0.113.300"), "bad_format", "src_ip", '`src_ip` is "203.0.113.300"; expected IPv4 or IPv6 address'),
    (vpn(ts="2026-03-02T09:00:00"), "bad_format", "ts",
     '`ts` is "2026-03-02T09:00:00"; expected RFC 3339 time with an offset (Z or ±HH:MM)'),
    (vpn(ts="2026-02-30T09:00:00Z"), "bad_format", "ts", "`ts`: Invalid RFC3339 encoded datetime"),
    (vpn(geo={"lat": -91, "lon": 0}), "out_of_range", "geo.lat", "`geo.lat` is -91; must be ≥ -90"),
    (vpn(geo={"lat": 41.9}), "inconsistent", "geo", "`geo`: lat and lon must be given together"),
    (vpn(outcome="locked"), "bad_value", "outcome", '`outcome` is "locked"; must be one of failure, success'),
    (vpn(employee_id=""), "too_long", "employee_id", '`employee_id` is ""; must have at least 1 character(s)'),
    (vpn(employee_id="e" * 257), "too_long", "employee_id", "`employee_id` has 257 characters; at most 256 allowed"),
    (snapshot(usb_devices=[{"vendor_id": "1d6b"}, {"vendor_id": "xyz1"}]), "bad_format", "usb_devices[1].vendor_id",
     '`usb_devices[1].vendor_id` is "xyz1"; expected 4 hex digits, any case'),
    (snapshot(processes="AnyDesk.exe"), "wrong_type", "processes",
     '`processes` is a string ("AnyDesk.exe"); must be an array'),
    (employee(work_hours={"start": "9:00", "end": "17:00"}), "bad_format", "work_hours.start",
     '`work_hours.start` is "9:00"; expected local wall-clock time HH:MM'),
    (employee(hire_date="2024-02-30"), "bad_format", "hire_date",
     '`hire_date` is "2024-02-30"; expected calendar date YYYY-MM-DD'),
    (employee(status="fired"), "bad_value", "status", '`status` is "fired"; must be one of active, leave, terminated'),
])
def test_exact_rejection(fields: dict[str, Any], code: str, path: str, message: str) -> None:
    assert rejected(encode(fields)) == Rejection(code, path, message)


@pytest.mark.parametrize(("fields", "path", "message"), [
    (vpn(src_ip=["203.0.113.9"]), "src_ip", '`src_ip` is an array (["203.0.113.9"]); must be a string'),
    (vpn(geo="US"), "geo", '`geo` is a string ("US"); must be an object'),
    (vpn(asn={"number": 7922.5}), "asn.number", "`asn.number` is a number (7922.5); must be an integer"),
    (session(bytes_in=True), "bytes_in", "`bytes_in` is a boolean (true); must be an integer"),
    (session(duration_s="30"), "duration_s", '`duration_s` is a string ("30"); must be a number'),
    (session(tool=None), "tool", "`tool` is null (null); must be a string"),
    (employee(employee_id=10442), "employee_id", "`employee_id` is a number (10442); must be a string"),
    (employee(aliases=["jdoe", 7]), "aliases[1]", "`aliases[1]` is a number (7); must be a string"),
])
def test_wrong_types(fields: dict[str, Any], path: str, message: str) -> None:
    assert rejected(encode(fields)) == Rejection("wrong_type", path, message)


# --- event types ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "shown"), [
    (without(vpn(), "event_type"), "missing"),
    (vpn(event_type="vpn_logon"), '"vpn_logon"'),
    (vpn(event_type=None), "null"),
    (vpn(event_type=3), "3"),
])
def test_unknown_event_type_in_a_file(fields: dict[str, Any], shown: str) -> None:
    assert rejected(encode(fields)) == Rejection(
        "unknown_event_type", "event_type", f"`event_type` is {shown}; must be one of {KNOWN}")


def test_topic_decoder_implies_the_type_and_refuses_another() -> None:
    topic = Decoder("vpn_login")
    assert isinstance(topic.decode(encode(without(vpn(), "event_type"))), VpnLogin)
    assert isinstance(topic.decode(encode(vpn())), VpnLogin)
    assert rejected(encode(session()), topic) == Rejection(
        "event_type_mismatch", "event_type", '`event_type` is "remote_session" but this topic carries vpn_login')


def test_topic_decoder_explains_field_errors_of_its_type() -> None:
    message = encode(without(vpn(src_ip="nope"), "event_type"))
    assert rejected(message, Decoder("vpn_login")).path == "src_ip"


def test_unknown_topic_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown event type 'vpn'"):
        Decoder("vpn")


# --- size, encoding, syntax and depth ---------------------------------------------------------

def padded(size: int) -> bytes:
    """A valid vpn_login of exactly `size` bytes (an unknown field takes up the slack)."""
    base = encode(vpn(pad=""))
    return base.replace(b'"pad": ""', b'"pad": "' + b"x" * (size - len(base)) + b'"')


def test_too_large_with_a_configured_bound() -> None:
    decoder = Decoder(max_event_bytes=2048)
    assert isinstance(decoder.decode(padded(2048)), VpnLogin)
    assert rejected(padded(2049), decoder) == Rejection("too_large", "", "message is 2049 bytes; the limit is 2048")


def test_a_10_mb_line_is_refused_by_size_and_decodes_under_a_larger_bound() -> None:
    line = padded(10 * 1024 * 1024)
    assert rejected(line) == Rejection(
        "too_large", "", f"message is {len(line)} bytes; the limit is {DEFAULT_MAX_EVENT_BYTES}")
    assert isinstance(Decoder(max_event_bytes=16 * 1024 * 1024).decode(line), VpnLogin)


@pytest.mark.parametrize(("data", "bad"), [
    (b'{"event_type":"vpn_login","employee_id":"\xff","ts":"2026-03-02T09:00:00Z","src_ip":"203.0.113.9"}', b"\xff"),
    (b'{"event_type":"vpn_login","employee_id":"e1","ts":"2026-03-02T09:00:00Z","src_ip":"203.0.113.9","x":"\xff"}',
     b"\xff"),
    (b'{"event_type":"vpn_login","employee_id":"e1","\xff":1,"ts":"2026-03-02T09:00:00Z","src_ip":"203.0.113.9"}',
     b"\xff"),
    (b'{"employee_id":5,"x":"\xed\xa0\x80"}', b"\xed"),  # an encoded UTF-16 surrogate, after a type error
], ids=["known-field", "unknown-field", "key", "surrogate"])
def test_non_utf8_anywhere_is_refused_with_the_offending_byte(data: bytes, bad: bytes) -> None:
    assert rejected(data) == Rejection("not_utf8", "", f"invalid UTF-8 at byte {data.index(bad)}")


def test_latin1_text_is_not_utf8() -> None:
    data = encode(vpn(geo={"city": "São Paulo"})).replace("ã".encode(), "ã".encode("latin-1"))
    assert rejected(data).code == "not_utf8"


def test_every_truncation_of_a_valid_event_is_bad_json() -> None:
    line = encode(session(latency={"rtt_ms": {"min": 180.5, "p50": 190}}, peer_ip="2001:db8::5"))
    assert isinstance(Decoder().decode(line), RemoteSession)
    codes = {rejected(line[:cut]).code for cut in range(len(line))}
    assert codes == {"bad_json"}
    assert rejected(line[:40]).message == "Input data was truncated"


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize("fields", [session(latency={"rtt_ms": {"min": "@"}}), session(vendor_score="@")],
                         ids=["known-field", "unknown-field"])
def test_nan_and_infinity_are_not_json(constant: bytes, fields: dict[str, Any]) -> None:
    data = encode(fields).replace(b'"@"', constant)
    assert rejected(data).code == "bad_json"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "the message is empty"),
    (b" \r\n", "the message is empty"),
    (b"\xef\xbb\xbf" + encode(vpn()), "the message starts with a UTF-8 byte-order mark; send plain UTF-8 JSON"),
    (encode(vpn()) + encode(vpn()), "malformed JSON: trailing characters (byte "),
    (b"{'event_type': 'vpn_login'}", "malformed JSON: object keys must be strings (byte "),
], ids=["empty", "whitespace", "byte-order-mark", "two-objects", "python-repr"])
def test_other_bad_json(data: bytes, message: str) -> None:
    rejection = rejected(data)
    assert (rejection.code, rejection.path) == ("bad_json", "")
    assert rejection.message.startswith(message)


@pytest.mark.parametrize("data", [
    b"[" * 100_000,
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    encode(vpn(raw=0)).replace(b'"raw": 0', b'"raw": ' + b"[" * 100_000 + b"]" * 100_000),
    b'{"event_type":"vpn_login","employee_id":5,"raw":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
], ids=["open", "balanced", "objects", "in-unknown-field", "after-a-type-error"])
def test_deep_nesting_is_too_deep_not_a_crash(data: bytes) -> None:
    assert rejected(data) == Rejection("too_deep", "", "JSON nesting is too deep")


@pytest.mark.parametrize(("data", "got"), [
    (b"[1, 2]", "an array"), (b'"vpn_login"', "a string"), (b"null", "null"), (b"42", "a number"),
    (b"true", "a boolean"),
])
def test_not_an_object(data: bytes, got: str) -> None:
    assert rejected(data) == Rejection("not_object", "", f"expected a JSON object, got {got}")


def test_a_truncated_array_is_bad_json_not_an_array() -> None:
    assert rejected(b"[1, 2").code == "bad_json"


# --- nothing valid lost ------------------------------------------------------------------------

def test_a_mixed_batch_keeps_every_valid_event_in_order() -> None:
    valid = [vpn(), session(), snapshot(processes=["AnyDesk.exe"]), employee(), vpn(src_ip="2001:db8::1"),
             snapshot(usb_devices=[{"vendor_id": "1D6B", "product_id": "0104"}])]
    invalid = [b"", b"{", b"\xff", encode(vpn(src_ip="nope")), b"[" * 10_000, encode(without(session(), "tool")),
               padded(DEFAULT_MAX_EVENT_BYTES + 1)]
    batch = [encode(fields) for fields in valid]
    for i, bad in enumerate(invalid):
        batch.insert(2 * i, bad)
    results = [Decoder().decode(data) for data in batch]
    events = [r for r in results if not isinstance(r, Rejection)]
    assert [type(e) for e in events] == [VpnLogin, RemoteSession, DeviceSnapshot, Employee, VpnLogin, DeviceSnapshot]
    assert events[4].src_ip == "2001:db8::1"
    assert len({e.event_id for e in events}) == len(valid)
    assert sum(isinstance(r, Rejection) for r in results) == len(invalid)


def test_decoding_is_deterministic() -> None:
    line = encode(snapshot(processes=["AnyDesk.exe", "chrome.exe"], keyboard_layouts=["00000412"]))
    assert Decoder().decode(line) == Decoder().decode(line)
