"""The stable, published list of rejection codes carried by DLQ envelopes and `schema check` output.

Codes are never renamed or reused; new ones are appended. Each has one line a platform
engineer can act on.
"""

from __future__ import annotations

from typing import Final

import msgspec

CODES: Final[dict[str, str]] = {
    # stage: decode
    "too_large": "The message is larger than decode.max_event_bytes.",
    "not_utf8": "The bytes are not valid UTF-8.",
    "bad_json": "The text is not one JSON value (truncated, NaN/Infinity, trailing data, a byte-order mark ...).",
    "too_deep": "JSON nesting is deeper than the decoder allows.",
    "not_object": "The JSON value is not an object.",
    "unknown_event_type": "`event_type` is missing (required in files) or not one of the known types.",
    "event_type_mismatch": "`event_type` names a different type than the topic carries.",
    "missing_field": "A required field is absent.",
    "wrong_type": "A field has the wrong JSON type.",
    "out_of_range": "A number is outside its documented range.",
    "too_long": "A string or list is longer than its documented bound (or empty where it must not be).",
    "bad_value": "A value is not one of the allowed values.",
    "bad_format": "A string does not have the documented format (time with offset, IP address, hex id, HH:MM ...).",
    "inconsistent": "Fields contradict each other (e.g. p50 below min, lat without lon).",
    "key_mismatch": "The Kafka message key is not the event's employee_id.",
    # stage: adapter
    "adapter_error": "A vendor adapter could not map the record to a canonical event.",
    # stage: detector
    "detector_error": "A detector raised while processing an otherwise valid event.",
    # stage: adapter (appended)
    "unknown_identity": "A vendor record names a user or host that no employee record lists as its id or alias.",
}

STAGES: Final = ("decode", "adapter", "detector")

# Codes a later stage gives (the worker's key check, an adapter, a detector): decoding alone never does.
LATER_STAGE_CODES: Final = frozenset({"key_mismatch", "adapter_error", "unknown_identity", "detector_error"})


class Rejection(msgspec.Struct, frozen=True):
    """Why an input was refused: a code from `CODES`, the JSON path of the offending value, a message."""

    code: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
