"""Property tests: whatever bytes arrive, the decoder returns an event or a published rejection, never raises.

Accepted events are stable: re-encoding and re-decoding one gives an equal value (names
are normalised once, ids derived once), and the published JSON Schema accepts what the
decoder accepts.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telltales.schemas import jsonschema as published
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import EVENT_TYPES
from telltales.schemas.rejections import CODES, LATER_STAGE_CODES, Rejection

DECODE_CODES = set(CODES) - LATER_STAGE_CODES
FUZZ = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FILE_DECODER = Decoder()
TOPIC_DECODERS = {event_type: Decoder(event_type) for event_type in EVENT_TYPES}
VALIDATORS = {name: jsonschema.Draft202012Validator(published.load(name), format_checker=jsonschema.FormatChecker())
              for name in EVENT_TYPES}


def shipped_valid_events() -> list[dict[str, Any]]:
    folder = Path(str(resources.files("telltales.schemas") / "examples" / "valid"))
    return [json.loads(line) for path in sorted(folder.glob("*.jsonl"))
            for line in path.read_bytes().splitlines() if line]


SEEDS = shipped_valid_events()


def assert_well_behaved(decoder: Decoder, data: bytes) -> None:
    """The decoder's contract on any input; for an accepted event, also stability and schema agreement."""
    result = decoder.decode(data)
    if isinstance(result, Rejection):
        assert result.code in DECODE_CODES, result
        assert isinstance(result.path, str) and result.message
        return
    again = decoder.decode(msgspec.json.encode(result))
    assert again == result, "re-decoding an accepted event changed it"
    document = json.loads(data)
    event_type = type(result).__struct_config__.tag
    assert VALIDATORS[event_type].is_valid({**document, "event_type": event_type}), "the published schema refuses it"


# --- (a) arbitrary bytes ---------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    assert_well_behaved(FILE_DECODER, data)


TOKENS = [b"{", b"}", b"[", b"]", b":", b",", b" ", b'"', b"\\", b'"event_type"', b'"vpn_login"',
          b'"device_snapshot"', b'"employee_id"', b'"e1"', b'"ts"', b'"2026-03-02T09:00:00Z"', b'"src_ip"',
          b'"192.0.2.1"', b'"latency"', b'"rtt_ms"', b'"min"', b"0", b"-3", b"1e400", b"0.5", b"true", b"null",
          b"NaN", b"\xff", b"\xef\xbb\xbf", b"\\u0000", b"\\ud800"]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join), st.sampled_from([None, *EVENT_TYPES]))
def test_json_token_soup(data: bytes, topic: str | None) -> None:
    assert_well_behaved(TOPIC_DECODERS[topic] if topic else FILE_DECODER, data)


# --- (b) mutated valid events ---------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
OTHER_TYPES = [0, -1, 2.5, "", "x", True, None, [], {}, ["AnyDesk.exe"], {"min": 1}]


def slots(value: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) for every value nested in `value`."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((value, key))
        found.extend(slots(child))
    return found


def mutate(data: st.DataObject, document: dict[str, Any]) -> bytes:
    kind = data.draw(st.sampled_from(["drop", "retype", "random", "add", "garbage", "truncate", "flip"]))
    if kind in ("drop", "retype", "random", "add"):
        container, key = data.draw(st.sampled_from(slots(document)))
        if kind == "drop":
            del container[key]
        elif kind == "retype":
            container[key] = data.draw(st.sampled_from(OTHER_TYPES))
        elif kind == "random":
            container[key] = data.draw(JSON_VALUES)
        else:
            target = container if isinstance(container, dict) else document
            target[data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
        return json.dumps(document, ensure_ascii=data.draw(st.booleans())).encode()
    encoded = json.dumps(document).encode()
    at = data.draw(st.integers(0, len(encoded)))
    if kind == "garbage":
        return encoded[:at] + data.draw(st.binary(min_size=1, max_size=8)) + encoded[at:]
    if kind == "truncate":
        return encoded[:at]
    at = min(at, len(encoded) - 1)
    return encoded[:at] + bytes([data.draw(st.integers(0, 255))]) + encoded[at + 1:]


@FUZZ
@given(st.data())
def test_mutated_valid_events(data: st.DataObject) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(SEEDS)))
    decoder = FILE_DECODER
    if data.draw(st.booleans()):  # as a topic delivers it: the type implied, event_type usually absent
        decoder = TOPIC_DECODERS[document["event_type"]]
        if data.draw(st.booleans()):
            del document["event_type"]
    assert_well_behaved(decoder, mutate(data, document))


def test_every_seed_is_valid_and_stable() -> None:
    """The mutation test starts from valid events; if the seeds were broken it would test only rejections."""
    assert len(SEEDS) >= 16
    for seed in SEEDS:
        assert not isinstance(FILE_DECODER.decode(json.dumps(seed).encode()), Rejection)
        assert_well_behaved(FILE_DECODER, json.dumps(seed).encode())
