"""baseline_anomaly: per-employee EW baselines; only sustained, extreme departures signal."""

from __future__ import annotations

import random

import msgspec

from builders import device, remote, vpn
from telltales.detectors.base import Context, Org
from telltales.detectors.baseline_anomaly import BaselineAnomaly

ORG = Org()


def feed(events, detector=None, state=None, late=False):
    detector = detector or BaselineAnomaly(ORG)
    state = state if state is not None else detector.initial_state()
    signals = []
    for event in events:
        state, raised = detector.observe(event, state, Context(org=ORG, employee=None, late=late))
        signals.extend(raised)
    return state, signals


def probe(hours, ms, employee_id="e1"):
    return device(employee_id, hours, latency={"vantage": "ord", "rtt_ms": {"min": ms, "n": 10}})


def normal_life(rng: random.Random, employee_id="e1", days=20):
    """Hourly RTT probes with jitter and a few remote sessions of heavy-tailed size a day."""
    events = []
    for day in range(days):
        for hour in range(0, 24, 2):
            events.append(probe(day * 24 + hour, 12.0 * rng.lognormvariate(0, 0.15), employee_id))
        for k in range(3):
            events.append(remote(employee_id, day * 24 + 8 + 3 * k, "ssh",
                                 bytes_in=int(2e5 * rng.lognormvariate(0, 1.0)), bytes_out=int(4e4 * rng.lognormvariate(0, 1.0)),
                                 duration_s=600 * rng.lognormvariate(0, 0.8)))
        events.append(vpn(employee_id, day * 24 + 7.5, asn={"number": 7922 if rng.random() < 0.9 else 21928}))
    return events


def test_normal_noisy_life_across_many_employees_raises_nothing():
    rng = random.Random(11)
    total = 0
    for i in range(30):
        _, signals = feed(normal_life(rng, f"e{i}"))
        total += len(signals)
    assert total == 0


def test_a_sustained_jump_in_round_trip_signals_with_the_numbers():
    state, _ = feed(normal_life(random.Random(3), days=5))
    _, signals = feed([probe(200 + h, 160.0) for h in range(6)], state=state)
    [s] = signals  # once, on the fourth extreme probe; not re-raised within a day
    assert s.data["extreme_events"] == 4 and s.data["features"]["rtt_ms"]["value"] == 160.0
    assert 10 < s.data["features"]["rtt_ms"]["usual"] < 15 and s.score == 0.3


def test_one_outlier_or_two_do_not_signal():
    state, _ = feed(normal_life(random.Random(3), days=5))
    events = [probe(200, 160.0), probe(201, 12.0), probe(202, 170.0), probe(203, 12.5), probe(204, 11.8)]
    assert feed(events, state=state)[1] == []


def test_nothing_is_scored_during_warm_up():
    assert feed([probe(h, 12.0 if h < 10 else 500.0) for h in range(19)])[1] == []


def test_a_rarely_used_asn_counts_as_an_extreme_event():
    state, _ = feed(normal_life(random.Random(5), days=25))  # 25 logins: past warm-up
    state = msgspec.structs.replace(state, asns=[7922], an=0.0)
    events = [probe(300 + h, 180.0) for h in range(3)] + [vpn("e1", 303.5, asn={"number": 64500, "org": "Astrill"})]
    _, signals = feed(events, state=state)
    [s] = signals
    assert s.data["features"]["new_asn"]["asn"] == 64500 and "AS64500" in s.summary


def test_late_events_are_learned_but_never_judged():
    state, _ = feed(normal_life(random.Random(3), days=5))
    late, signals = feed([probe(1 + h / 10, 160.0) for h in range(6)], state=state, late=True)
    assert signals == [] and late.mask == state.mask and late.n[0] > state.n[0]


def test_state_is_bounded_and_round_trips():
    state, _ = feed(normal_life(random.Random(9), days=30))
    encoded = msgspec.msgpack.encode(state)
    assert len(encoded) <= BaselineAnomaly.max_state_bytes
    assert msgspec.msgpack.decode(encoded, type=type(state)) == state


def test_a_lasting_change_becomes_the_new_normal():
    state, _ = feed(normal_life(random.Random(3), days=5))
    state, _ = feed([probe(200 + h, 160.0) for h in range(40)], state=state)
    assert state.mask == 0  # the last 8 probes at 160 ms were no longer extreme
    assert 60 < 2.718281828 ** state.m[0] < 160
