"""Bytes → typed event, or a `Rejection` that says exactly what is wrong. Never raises on input.

Fast path: msgspec decodes and validates straight into the frozen Structs of `events`.
Slow path, only for rejects: the message is parsed again and checked against the
published JSON Schema with `jsonschema`, which names the offending value and the rule it
broke ("`latency.rtt_ms.min` is -3; must be ≥ 0"). The two agree because the schema
files are generated from the same types (a test checks every shipped example).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any, Final

import msgspec
from msgspec.structs import force_setattr

from .events import EVENT_TYPES, Event
from .rejections import Rejection

DEFAULT_MAX_EVENT_BYTES: Final = 1024 * 1024

_ANY_EVENT: Final = Event
_KNOWN: Final = ", ".join(EVENT_TYPES)
_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


class Decoder:
    """Decodes events of one topic (`event_type` given) or of a file (each line names its type).

    >>> d = Decoder()
    >>> e = d.decode(b'{"event_type":"vpn_login","employee_id":"e1","ts":"2026-03-02T09:00:00Z","src_ip":"203.0.113.9"}')
    >>> type(e).__name__, e.employee_id, len(e.event_id)
    ('VpnLogin', 'e1', 32)
    >>> Decoder("vpn_login").decode(b'{"employee_id":"e1","ts":"2026-03-02T09:00:00Z","src_ip":"1.2.3.4","geo":{"lat":-91,"lon":0}}')
    Rejection(code='out_of_range', path='geo.lat', message='`geo.lat` is -91; must be ≥ -90')
    """

    __slots__ = ("event_type", "max_event_bytes", "_type", "_decode")

    def __init__(self, event_type: str | None = None, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if event_type is not None and event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}; known: {_KNOWN}")
        self.event_type = event_type
        self.max_event_bytes = max_event_bytes
        self._type = EVENT_TYPES[event_type] if event_type else _ANY_EVENT
        # A Decoder instance resolves the type once; `msgspec.json.decode(data, type=...)` looks it up per call.
        self._decode = msgspec.json.Decoder(self._type).decode

    def decode(self, data: bytes) -> Event | Rejection:
        if len(data) > self.max_event_bytes:
            return too_large(len(data), self.max_event_bytes)
        # msgspec skips the bytes of unknown fields unchecked, so UTF-8 is checked here, once
        # (and only for the rare message that is not plain ASCII).
        if not data.isascii() and (bad := _not_utf8(data)) is not None:
            return bad
        try:
            event = self._decode(data)
        except msgspec.ValidationError as exc:
            return self._explain(data, str(exc))
        except msgspec.DecodeError as exc:
            return _malformed(data, str(exc))
        except UnicodeDecodeError:
            return _not_utf8(data) or Rejection("not_utf8", "", "invalid UTF-8 in a string")
        except RecursionError:
            return _TOO_DEEP
        if event.event_id is None:
            force_setattr(event, "event_id", derive_event_id(event))
        return event

    def _explain(self, data: bytes, fast_reason: str) -> Rejection:
        """Find the precise reason for a message the fast path refused."""
        # msgspec stops at the first type error, so the rest of the message may still be
        # malformed or too deep: that is the more fundamental reason.
        try:
            document = json.loads(data, parse_constant=_refuse_constant)
        except RecursionError:
            return _TOO_DEEP
        except ValueError:
            return _unreadable(data, fast_reason)
        if not isinstance(document, dict):
            return Rejection("not_object", "", f"expected a JSON object, got {_json_type(document)}")
        declared = document.get("event_type")
        if self.event_type is None:
            if not isinstance(declared, str) or declared not in EVENT_TYPES:  # [] or {} are unhashable
                shown = "missing" if "event_type" not in document else json.dumps(declared, ensure_ascii=False)
                return Rejection("unknown_event_type", "event_type", f"`event_type` is {shown}; must be one of {_KNOWN}")
            event_type = declared
        else:
            if declared is not None and declared != self.event_type:
                return Rejection("event_type_mismatch", "event_type",
                                 f"`event_type` is {json.dumps(declared, ensure_ascii=False)} "
                                 f"but this topic carries {self.event_type}")
            event_type = self.event_type
            document = {**document, "event_type": event_type}
        error = _schema_error(event_type, document)
        return error if error is not None else _from_msgspec(fast_reason)


def read_object(data: bytes) -> dict[str, Any] | Rejection:
    """Bytes → a JSON object with no typing (a vendor record for an adapter), or why they are not one.

    >>> read_object(b'{"eventType": "user.session.start"}')
    {'eventType': 'user.session.start'}
    >>> read_object(b'[1, 2]')
    Rejection(code='not_object', path='', message='expected a JSON object, got an array')
    """
    if not data.isascii() and (bad := _not_utf8(data)) is not None:
        return bad
    document = _parse(data)
    if isinstance(document, (Rejection, dict)):
        return document
    return Rejection("not_object", "", f"expected a JSON object, got {_json_type(document)}")


def too_large(size: int, limit: int) -> Rejection:
    """The rejection for a `size`-byte message over `limit`; readers that skip such a line unread use it too."""
    return Rejection("too_large", "", f"message is {size} bytes; the limit is {limit}")


def derive_event_id(event: Event) -> str:
    """A stable id for an event that came without one: a hash of its canonical decoded form.

    The canonical form is the normalised Struct encoded with fields in contract order and
    `event_type` filled in, so the same event read from a file or a topic gets the same id.
    """
    digest = _BLAKE2B_16.copy()
    digest.update(_encode(event))
    return digest.hexdigest()


_encode: Final = msgspec.json.Encoder().encode  # same bytes as msgspec.json.encode, without its per-call setup
_BLAKE2B_16: Final = hashlib.blake2b(digest_size=16)  # copied per event: cheaper than parsing the parameters


_TOO_DEEP: Final = Rejection("too_deep", "", "JSON nesting is too deep")


def _not_utf8(data: bytes) -> Rejection | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection("not_utf8", "", f"invalid UTF-8 at byte {exc.start}")
    return None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _unreadable(data: bytes, fast_reason: str) -> Rejection:
    """Why a message that failed typed decoding is not readable JSON either."""
    parsed = _parse(data)
    return parsed if isinstance(parsed, Rejection) else _from_msgspec(fast_reason)


def _parse(data: bytes) -> Any:
    """The untyped JSON value of `data`, or the `Rejection` saying why it is none."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        return _malformed(data, str(exc))
    except RecursionError:
        return _TOO_DEEP
    except msgspec.ValidationError as exc:  # e.g. an integer too large for any number type
        return _from_msgspec(str(exc))
    except UnicodeDecodeError:
        return _not_utf8(data) or Rejection("not_utf8", "", "invalid UTF-8 in a string")


def _malformed(data: bytes, reason: str) -> Rejection:
    if (bad := _not_utf8(data)) is not None:
        return bad
    if data.startswith(b"\xef\xbb\xbf"):
        return Rejection("bad_json", "", "the message starts with a UTF-8 byte-order mark; send plain UTF-8 JSON")
    if not data.strip():
        return Rejection("bad_json", "", "the message is empty")
    return Rejection("bad_json", "", reason.replace("JSON is malformed: ", "malformed JSON: "))


def _from_msgspec(reason: str) -> Rejection:
    match = _MSGSPEC_PATH.search(reason)
    path = _dotted_msgspec(match["path"]) if match else ""
    text = reason[: match.start()] if match else reason
    if "RFC3339" in text or "ISO8601" in text or "not an IPv4 or IPv6" in text:
        code = "bad_format"
    elif "out of range" in text:
        code = "out_of_range"
    elif "together" in text or "below" in text:
        code = "inconsistent"
    else:
        code = "bad_value"
    return Rejection(code, path, f"`{path}`: {text}" if path else text)


def _dotted_msgspec(path: str) -> str:
    return path.lstrip(".")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


@functools.cache
def _validator(event_type: str):  # -> jsonschema.Validator; imported lazily: only rejects pay for it
    import jsonschema

    from . import jsonschema as published

    schema = published.load(event_type)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def _schema_error(event_type: str, document: dict[str, Any]) -> Rejection | None:
    import jsonschema.exceptions

    try:
        error = jsonschema.exceptions.best_match(_validator(event_type).iter_errors(document))
    except RecursionError:
        return Rejection("too_deep", "", "JSON nesting is too deep")
    if error is None:
        return None
    return _describe(_leaf(error))


def _leaf(error):
    """Descend through anyOf (optional fields are `T | null`) to the branch whose type matched."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        typed = [e for e in error.context if e.validator != "type"]
        deeper = typed or error.context
        error = max(deeper, key=lambda e: len(e.absolute_path))
        if error.validator in ("format",) and error.parent is not None and error.parent.validator == "anyOf":
            return error.parent
    return error


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error) -> Rejection:
    path = _path(error.absolute_path)
    value = error.instance
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    rule = error.validator_value
    where = f"`{path}`" if path else "the event"
    match error.validator:
        case "required":
            missing = next((name for name in rule if name not in value), rule[0])
            full = f"{path}.{missing}" if path else missing
            return Rejection("missing_field", full, f"`{full}` is required")
        case "type":
            return Rejection("wrong_type", path, f"{where} is {_json_type(value)} ({shown}); must be {_type_name(rule)}")
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            return Rejection("out_of_range", path, f"{where} is {shown}; must be {_BOUND[error.validator]} {rule}")
        case "minLength":
            return Rejection("too_long", path, f"{where} is {shown}; must have at least {rule} character(s)")
        case "maxLength":
            return Rejection("too_long", path, f"{where} has {len(value)} characters; at most {rule} allowed")
        case "maxItems":
            return Rejection("too_long", path, f"{where} has {len(value)} items; at most {rule} allowed")
        case "enum" | "const":
            allowed = rule if isinstance(rule, list) else [rule]
            return Rejection("bad_value", path, f"{where} is {shown}; must be one of {', '.join(map(str, allowed))}")
        case "pattern" | "format" | "anyOf":
            expected = error.schema.get("description") if isinstance(error.schema, dict) else None
            if not expected and error.parent is not None and isinstance(error.parent.schema, dict):
                expected = error.parent.schema.get("description")
            return Rejection("bad_format", path, f"{where} is {shown}; expected {_expectation(expected)}")
    return Rejection("bad_value", path, f"{where} is {shown}: {error.message}")


_BOUND: Final = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _expectation(description: str | None) -> str:
    """'Local wall-clock time HH:MM.' -> 'local wall-clock time HH:MM' (the first clause of a field's description)."""
    if not description:
        return "the documented format"
    text = description.split(";")[0].rstrip(". ")
    return text[0].lower() + text[1:] if text[:1].isupper() and text[1:2].islower() else text


def _type_name(rule) -> str:
    names = {"object": "an object", "array": "an array", "string": "a string", "number": "a number",
             "integer": "an integer", "boolean": "a boolean", "null": "null"}
    rules = rule if isinstance(rule, list) else [rule]
    return " or ".join(names.get(r, r) for r in rules)
