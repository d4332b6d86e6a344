"""The employee state's stored form (version 3: `seen` as packed digests, `pos` per source): round trip, duplicates, old versions."""

from __future__ import annotations

import msgspec
import pytest

from builders import device, vpn
from telltales.detectors.engine import DIGEST_BYTES, SEEN_IDS, STATE_VERSION, Engine, event_digest, seen_before
from telltales.schemas.config import Config


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Config())


def run(engine: Engine, events, state=None):
    steps = []
    for event in events:
        step = engine.observe(event, state, None)
        state = step.state
        steps.append(step)
    return state, steps


def test_state_round_trips_and_remembers_the_last_sixteen_ids_packed(engine):
    events = [vpn(hours=h, event_id=f"id-{h}") for h in range(20)]
    state, steps = run(engine, events)
    assert not any(s.duplicate for s in steps)
    assert state.v == STATE_VERSION == 3
    assert state.seen == b"".join(event_digest(f"id-{h}") for h in range(20 - SEEN_IDS, 20))
    assert len(state.seen) == SEEN_IDS * DIGEST_BYTES
    assert engine.decode_state(engine.encode_state(state)) == state


def test_a_repeated_id_is_a_duplicate_only_while_remembered(engine):
    state, _ = run(engine, [device(hours=h, event_id=f"id-{h}") for h in range(20)])
    again = engine.observe(device(hours=19, event_id="id-19"), state, None)
    assert again.duplicate and again.state is state and not again.signals
    forgotten = engine.observe(device(hours=3, event_id="id-3"), state, None)  # pushed out by 16 newer ids
    assert not forgotten.duplicate
    assert forgotten.state.seen.endswith(event_digest("id-3"))


def test_a_digest_matches_only_at_digest_boundaries():
    seen = bytes(range(16))
    assert seen_before(seen, bytes(range(8))) and seen_before(seen, bytes(range(8, 16)))
    assert not seen_before(seen, bytes(range(4, 12)))  # the tail of one digest and the head of the next
    assert not seen_before(b"", bytes(8))


def test_a_version_1_state_is_read_with_its_applied_ids_still_known(engine):
    """States written before the upgrade (changelogs, RocksDB) keep working: v1's ints are the same 8 bytes."""
    state, _ = run(engine, [vpn(hours=h, event_id=f"id-{h}") for h in range(3)])
    as_ints = [int.from_bytes(state.seen[i:i + DIGEST_BYTES], "big", signed=True)
               for i in range(0, len(state.seen), DIGEST_BYTES)]
    old = msgspec.msgpack.encode([1, state.last, as_ints, msgspec.msgpack.decode(engine.encode_state(state))[3],
                                  msgspec.msgpack.decode(engine.encode_state(state))[4]])
    migrated = engine.decode_state(old)
    assert migrated == state and migrated.v == STATE_VERSION
    assert engine.observe(vpn(hours=2, event_id="id-2"), migrated, None).duplicate


def test_an_unknown_state_version_is_refused_with_the_versions_named(engine):
    future = msgspec.msgpack.encode([4, 1000.0, b"", {}, []])
    with pytest.raises(ValueError, match=r"^employee state version 4 is not supported \(expected 3, 2 or 1\)$"):
        engine.decode_state(future)


def test_a_version_2_state_is_read_with_no_source_positions(engine):
    state, _ = run(engine, [vpn(hours=h, event_id=f"id-{h}") for h in range(3)])
    v2 = msgspec.msgpack.encode([2, *msgspec.msgpack.decode(engine.encode_state(state))[1:5]])
    migrated = engine.decode_state(v2)
    assert migrated == state and migrated.pos == {} and migrated.v == STATE_VERSION
    assert engine.observe(vpn(hours=2, event_id="id-2"), migrated, None).duplicate


def redeliver(engine, events, state, sources):
    steps = [engine.observe(event, state, None, source) for event, source in zip(events, sources, strict=True)]
    return [s.duplicate for s in steps]


def test_a_redelivery_longer_than_the_id_window_changes_nothing_given_source_positions(engine):
    """After a crash or a rebalance Kafka redelivers from the committed offset: maybe 40 of one employee's events."""
    events = [vpn(hours=h, event_id=f"id-{h}") for h in range(40)]
    sources = [(7, 100 + i, 1_772_000_000 + i) for i in range(40)]
    state = None
    for event, source in zip(events, sources, strict=True):
        state = engine.observe(event, state, None, source).state
    assert state.pos == {7: (139, 1_772_000_039)}
    # Every one of the 40 is a duplicate; by ids alone the 24 oldest would be applied again.
    assert redeliver(engine, events, state, sources) == [True] * 40
    assert redeliver(engine, events, state, [None] * 40) == [False] * 24 + [True] * 16
    encoded = engine.encode_state(state)
    assert engine.decode_state(encoded) == state
    # The next record of the source, another source, and a topic created again (low offset, newer time) apply.
    newer = vpn(hours=41, event_id="id-41")
    assert not engine.observe(newer, state, None, (7, 140, 1_772_000_040)).duplicate
    assert not engine.observe(newer, state, None, (8, 0, 1_772_000_040)).duplicate
    assert not engine.observe(newer, state, None, (7, 3, 1_772_900_000)).duplicate


def test_source_positions_are_bounded(engine):
    state = None
    for i in range(12):
        state = engine.observe(vpn(hours=i, event_id=f"id-{i}"), state, None, (i, i, 1_772_000_000 + i)).state
    assert list(state.pos) == list(range(4, 12))  # the eight newest sources
