"""The DLQ envelope (SPEC section 5): a rejected input, bounded in size, with the reason it was refused."""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Final, Literal

import msgspec
import msgspec.structs
from msgspec import Meta

from .rejections import Rejection

DEFAULT_MAX_ORIGINAL_BYTES: Final = 64 * 1024


class KafkaSource(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    topic: str
    partition: Annotated[int, Meta(ge=0)]
    offset: Annotated[int, Meta(ge=0)]
    key: str | None = None  # UTF-8 of the raw key; undecodable bytes escaped as \xNN


class FileSource(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    file: str
    line: Annotated[int, Meta(ge=1)]


class DlqEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    original_b64: Annotated[str, Meta(description="Base64 of the original bytes, cut to dlq.max_original_bytes.")]
    truncated: Annotated[bool, Meta(description="True when original_b64 holds only the first bytes.")]
    sha256: Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="SHA-256 of the whole original.")]
    size: Annotated[int, Meta(ge=0, description="Size of the whole original, bytes.")]
    source: Annotated[dict[str, str | int | None], Meta(
        description="Where the input came from: a Kafka record or a file line.",
        extra_json_schema={"oneOf": [
            {"type": "object", "required": ["topic", "partition", "offset"], "additionalProperties": False,
             "properties": {"topic": {"type": "string"}, "partition": {"type": "integer", "minimum": 0},
                            "offset": {"type": "integer", "minimum": 0}, "key": {"type": ["string", "null"]}}},
            {"type": "object", "required": ["file", "line"], "additionalProperties": False,
             "properties": {"file": {"type": "string"}, "line": {"type": "integer", "minimum": 1}}},
        ]},
    )]
    stage: Literal["decode", "adapter", "detector"]
    code: Annotated[str, Meta(description="A code from the published list (telltales.schemas.rejections.CODES).")]
    path: Annotated[str, Meta(description="Dotted path of the offending value; empty for the whole message.")]
    message: str
    time: Annotated[str, Meta(description="RFC 3339 time the input was rejected.")]
    adapter: str | None = None


def envelope(
    original: bytes,
    rejection: Rejection,
    source: KafkaSource | FileSource,
    *,
    time: str,
    stage: Literal["decode", "adapter", "detector"] = "decode",
    adapter: str | None = None,
    max_original_bytes: int = DEFAULT_MAX_ORIGINAL_BYTES,
) -> DlqEnvelope:
    """Wrap a rejected input; the original is cut to `max_original_bytes` so the write never fails on size."""
    kept = original[:max_original_bytes]
    return DlqEnvelope(
        original_b64=base64.b64encode(kept).decode("ascii"),
        truncated=len(kept) < len(original),
        sha256=hashlib.sha256(original).hexdigest(),
        size=len(original),
        source=msgspec.structs.asdict(source),
        stage=stage,
        adapter=adapter,
        code=rejection.code,
        path=rejection.path,
        message=rejection.message,
        time=time,
    )


def encode(env: DlqEnvelope) -> bytes:
    return msgspec.json.encode(env)


def decode_key(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="backslashreplace")
