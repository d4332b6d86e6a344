"""The DLQ envelope: bounded, self-describing, and valid against its published schema."""

from __future__ import annotations

import base64
import hashlib
import json

import jsonschema
import msgspec
import pytest

from telltales.schemas import jsonschema as published
from telltales.schemas.decoder import Decoder
from telltales.schemas.dlq import (DEFAULT_MAX_ORIGINAL_BYTES, DlqEnvelope, FileSource, KafkaSource, decode_key,
                                   encode, envelope)
from telltales.schemas.rejections import Rejection

SCHEMA = jsonschema.Draft202012Validator(published.load("dlq_envelope"), format_checker=jsonschema.FormatChecker())
WHEN = "2026-03-02T12:30:00Z"
REJECTION = Rejection("out_of_range", "latency.rtt_ms.min", "`latency.rtt_ms.min` is -3; must be ≥ 0")


def kafka(key: bytes | None = b"emp-31150") -> KafkaSource:
    return KafkaSource("telemetry.remote_access", 3, 918273, decode_key(key))


def published_form(env: DlqEnvelope) -> dict:
    """The envelope as it is written, read back as plain JSON and checked against the committed schema."""
    document = json.loads(encode(env))
    SCHEMA.validate(document)
    return document


@pytest.mark.parametrize("size", [0, 1, 100, 2048, 2049, 10_000])
def test_original_is_cut_at_the_bound(size: int) -> None:
    original = bytes(i % 251 for i in range(size))
    env = envelope(original, REJECTION, kafka(), time=WHEN, max_original_bytes=2048)
    kept = base64.b64decode(env.original_b64)
    assert kept == original[:2048]
    assert env.truncated is (size > 2048)
    assert (env.size, env.sha256) == (size, hashlib.sha256(original).hexdigest())
    published_form(env)


def test_default_bound_is_64_kib() -> None:
    original = b"{" + b"x" * (DEFAULT_MAX_ORIGINAL_BYTES * 3)
    env = envelope(original, Rejection("too_large", "", "message is big"), kafka(), time=WHEN)
    assert len(base64.b64decode(env.original_b64)) == DEFAULT_MAX_ORIGINAL_BYTES == 64 * 1024
    assert env.truncated and env.size == len(original)
    assert len(encode(env)) < DEFAULT_MAX_ORIGINAL_BYTES * 4 // 3 + 1024


def test_a_zero_bound_keeps_only_the_hash() -> None:
    env = envelope(b"secret-ish payload", REJECTION, kafka(), time=WHEN, max_original_bytes=0)
    assert (env.original_b64, env.truncated, env.size) == ("", True, 18)


def test_envelope_carries_the_rejection_and_its_source() -> None:
    document = published_form(envelope(b"{}", REJECTION, kafka(), time=WHEN))
    assert {k: document[k] for k in ("stage", "code", "path", "message", "time", "adapter")} == {
        "stage": "decode", "code": "out_of_range", "path": "latency.rtt_ms.min",
        "message": "`latency.rtt_ms.min` is -3; must be ≥ 0", "time": WHEN, "adapter": None}
    assert document["source"] == {"topic": "telemetry.remote_access", "partition": 3, "offset": 918273,
                                  "key": "emp-31150"}


def test_file_source_and_adapter_stage() -> None:
    env = envelope(b'{"eventType":"user.session.start"}', Rejection("adapter_error", "client.ipAddress", "missing"),
                   FileSource("exports/okta.jsonl", 17), time=WHEN, stage="adapter", adapter="okta")
    document = published_form(env)
    assert document["source"] == {"file": "exports/okta.jsonl", "line": 17}
    assert (document["stage"], document["adapter"]) == ("adapter", "okta")


def test_kafka_key_that_is_not_utf8_is_escaped_not_lost() -> None:
    env = envelope(b"\xff\xfe", Decoder().decode(b"\xff\xfe"), kafka(b"emp-\xff\x0040882"), time=WHEN)
    document = published_form(env)
    assert document["source"]["key"] == "emp-\\xff\x0040882"
    assert document["code"] == "not_utf8"
    assert base64.b64decode(document["original_b64"]) == b"\xff\xfe"


def test_kafka_record_without_a_key() -> None:
    assert published_form(envelope(b"{}", REJECTION, kafka(None), time=WHEN))["source"]["key"] is None


def test_envelope_round_trips_through_its_typed_form() -> None:
    env = envelope(b"\x00" * 300, REJECTION, kafka(), time=WHEN, max_original_bytes=100)
    assert msgspec.json.decode(encode(env), type=DlqEnvelope) == env


@pytest.mark.parametrize("change", [
    {"truncated": "no"}, {"sha256": "ABC"}, {"size": -1}, {"stage": "parse"},
    {"source": {"topic": "t", "partition": 0}}, {"source": {"file": "f.jsonl", "line": 0}}, {"extra": 1},
])
def test_schema_refuses_a_broken_envelope(change: dict) -> None:
    """The validator used above is not a rubber stamp."""
    document = {**json.loads(encode(envelope(b"{}", REJECTION, kafka(), time=WHEN))), **change}
    assert not SCHEMA.is_valid(document)
