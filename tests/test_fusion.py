"""Fusion: noisy-OR of decaying per-detector evidence, and the case lifecycle (SPEC section 6)."""

from __future__ import annotations

import doctest
import io

import orjson
import pytest

from builders import at

from telltales.detectors import fusion as fusion_module
from telltales.detectors.base import Signal
from telltales.detectors.engine import Engine
from telltales.detectors.fusion import BAND_HYSTERESIS, Fusion, FusionState
from telltales.schemas.config import ConfigError, parse
from telltales.streams.replay import replay

HOUR = 3600.0


def fusion(**overrides) -> Fusion:
    settings = dict(half_life_s=72 * HOUR, create_threshold=50.0, close_threshold=25.0, case_ttl_s=14 * 24 * HOUR,
                    weights={"a": 1.0, "b": 1.0, "c": 1.0, "shadowed": 1.0}, shadow=frozenset({"shadowed"}))
    return Fusion(**(settings | overrides))


def signal(detector: str, score: float, hours: float = 0.0) -> Signal:
    return Signal(detector=detector, employee_id="e1", time=hours * HOUR, score=score, summary=f"{detector} {score}",
                  event_ids=(f"{detector}-{hours}",))


def feed(f: Fusion, *batches, state: FusionState | None = None):
    """Fold batches of signals in order; return the final state and every case record emitted."""
    state = state or FusionState()
    records = []
    for batch in batches:
        state, changes = f.add(state, list(batch), "e1")
        records.extend(changes)
    return state, records


def test_independent_tells_combine_by_noisy_or_and_one_weak_tell_stays_below_the_threshold():
    f = fusion()
    state, records = feed(f, [signal("a", 0.3)])
    assert f.risk(state, 0.0) == 30.0 and records == []
    state, records = feed(f, [signal("b", 0.4)], state=state)
    assert f.risk(state, 0.0) == pytest.approx(100 * (1 - 0.7 * 0.6))
    assert [(r.activity, r.case.band, r.case.detectors) for r in records] == [("create", 1, ("a", "b"))]


def test_a_detector_counts_once_with_its_strongest_current_signal():
    f = fusion()
    state, _ = feed(f, [signal("a", 0.3), signal("a", 0.45), signal("a", 0.2)])
    assert f.risk(state, 0.0) == 45.0


def test_contributions_halve_every_half_life():
    f = fusion()
    state, _ = feed(f, [signal("a", 0.4)])
    assert f.risk(state, 72 * HOUR) == pytest.approx(20.0)
    assert f.risk(state, 144 * HOUR) == pytest.approx(10.0)


def test_shadow_detectors_never_raise_risk():
    f = fusion()
    state, records = feed(f, [signal("shadowed", 1.0), signal("a", 0.3)])
    assert f.risk(state, 0.0) == 30.0 and records == [] and "shadowed" not in state.active


def test_updates_on_band_change_or_new_detector_and_close_after_decay():
    f = fusion()
    state, records = feed(f, [signal("a", 0.6)], [signal("a", 0.6, 1)], [signal("b", 0.1, 2)],
                          [signal("c", 0.9, 3)])
    assert [(r.activity, r.case.band, r.reason) for r in records] == [
        ("create", 1, "risk reached the create threshold"),
        ("update", 1, "new detector b"),
        ("update", 3, "new detector c"),
    ]
    assert len({r.case.number for r in records}) == 1
    state, closing = f.sweep(state, 30 * 24 * HOUR, "e1")
    assert [(c.activity, c.case.open) for c in closing] == [("close", False)]
    _, again = feed(f, [signal("a", 0.7, 31 * 24)], state=state)
    assert again[0].activity == "create" and again[0].case.number == 2


def test_a_risk_wobbling_at_a_band_edge_sends_no_update_until_it_falls_clearly_below():
    f = fusion(weights={"a": 1.0, "b": 1.0})
    state, records = feed(f, [signal("a", 0.9)])  # critical
    assert [(r.activity, r.case.band) for r in records] == [("create", 3)]
    # Decay to just under the 90 edge: the case stays critical, no record.
    just_under = 72 * HOUR * 0.02  # 0.9 → ~0.887
    state, changes = f.sweep(state, just_under, "e1")
    assert changes == [] and state.case.band == 3 and f.risk(state, just_under) < 90
    # Back over the edge: still critical, still nothing to say.
    state, changes = f.add(state, [signal("a", 0.91, just_under / HOUR)], "e1")
    assert changes == [] and state.case.band == 3
    # Clearly below (more than BAND_HYSTERESIS under 90): one update to high.
    later = 72 * HOUR * 0.2  # 0.91 → ~0.79
    assert f.risk(state, later) < 90 - BAND_HYSTERESIS
    state, changes = f.sweep(state, later, "e1")
    assert [(c.activity, c.case.band, c.reason) for c in changes] == [("update", 2, "risk band 3 → 2")]


@pytest.mark.parametrize(("risk", "current", "held"), [
    (95, 0, 3), (80, 1, 2), (88, 3, 3), (85, 3, 3), (84.9, 3, 2), (70, 3, 2), (69.9, 3, 1), (72, 2, 2),
    (69.9, 2, 1), (60, 1, 1), (30, 2, 0),
])
def test_held_band(risk, current, held):
    assert fusion().held_band(risk, current) == held


# Place agreement ------------------------------------------------------------------------------

def placed(detector: str, score: float, *places, hours: float = 0.0) -> Signal:
    """A signal whose data names places: (tell, UTC offset, tolerance) triples."""
    return Signal(detector=detector, employee_id="e1", time=hours * HOUR, score=score, summary=f"{detector} {score}",
                  data={"places": [list(p) for p in places]}, event_ids=(f"{detector}-{hours}",))


CLOCK_SEOUL = ("device_clock", 9.0, 0.5)
KOREAN = ("input_language", 9.0, 0.5)
HOURS_NEAR_SEOUL = ("activity_hours", 10.5, 2.0)
WEAK = {"a": 0.3, "b": 0.3, "c": 0.3, "shadowed": 0.3}


def test_tells_agreeing_on_one_foreign_place_add_evidence_that_explains_itself():
    f = fusion(weights=WEAK, place_weight=0.45)
    state, records = feed(f, [placed("a", 1.0, CLOCK_SEOUL, KOREAN)])  # one detector, two tells: clock and language
    agreement = state.active["place_agreement"]
    assert agreement.score == pytest.approx(1 - 2 / 24) and agreement.weight == 0.45
    assert agreement.data == {"utc_offset_h": 9.0, "tells": ["device_clock", "input_language"], "detectors": ["a"],
                              "chance": 0.083}
    assert "UTC+9" in agreement.summary and "device_clock" in agreement.summary and "input_language" in agreement.summary
    assert f.risk(state, 0.0) == pytest.approx(100 * (1 - 0.7 * (1 - 0.45 * (1 - 2 / 24))), abs=1e-3)
    assert [(r.activity, sorted(r.evidence)) for r in records] == [("create", ["a", "place_agreement"])]


def test_looser_tells_agree_with_more_chance_and_three_agree_with_less():
    f = fusion(weights=WEAK, place_weight=0.45)
    state, _ = feed(f, [placed("a", 0.45, KOREAN), placed("b", 0.5, HOURS_NEAR_SEOUL)])
    assert state.active["place_agreement"].score == pytest.approx(1 - 2 * 2.5 / 24)
    assert state.active["place_agreement"].data["detectors"] == ["a", "b"]
    state, _ = feed(f, [placed("a", 1.0, CLOCK_SEOUL, KOREAN), placed("b", 0.5, HOURS_NEAR_SEOUL)])
    assert state.active["place_agreement"].score == pytest.approx(1 - (2 / 24) * (5 / 24))


@pytest.mark.parametrize("batch", [
    [placed("a", 0.45, KOREAN), placed("b", 0.5, ("activity_hours", -3.0, 2.0))],  # Korea and Brazil: no place
    [placed("a", 0.45, KOREAN)],  # one tell agrees with nothing
    [placed("a", 0.45, KOREAN), placed("b", 0.45, KOREAN)],  # one tell seen by two detectors is still one tell
    [placed("a", 0.45, KOREAN), placed("shadowed", 1.0, CLOCK_SEOUL)],  # shadow-mode tells take no part
], ids=["disagreeing", "alone", "same-tell", "shadow"])
def test_no_agreement_without_two_independent_counted_tells_on_one_place(batch):
    f = fusion(weights=WEAK, place_weight=0.45)
    state, _ = feed(f, batch)
    assert "place_agreement" not in state.active


def test_agreement_respects_weights_and_can_be_turned_off():
    batch = [placed("a", 1.0, CLOCK_SEOUL), placed("b", 0.45, KOREAN)]
    state, _ = feed(fusion(weights={"a": 0.3, "b": 0.0}, place_weight=0.45), batch)
    assert "place_agreement" not in state.active  # a zero-weight detector contributes no tell
    state, records = feed(fusion(weights=WEAK, place_weight=0.0), batch)
    assert "place_agreement" not in state.active and records == []  # weight 0: the rule is off
    low, _ = feed(fusion(weights=WEAK, place_weight=0.2), batch)
    assert low.active["place_agreement"].weight == 0.2


def test_agreement_decays_from_its_oldest_tell():
    f = fusion(weights=WEAK, place_weight=0.45)
    state, _ = feed(f, [placed("a", 0.45, KOREAN, hours=0)], [placed("b", 0.5, HOURS_NEAR_SEOUL, hours=24)])
    agreement = state.active["place_agreement"]
    assert agreement.time == 0.0 and agreement.event_ids == ("a-0", "b-24")
    assert f.decayed(agreement, 72 * HOUR) == pytest.approx(0.45 * agreement.score / 2)


def test_the_configuration_sets_the_agreement_weight():
    assert Engine(parse("")).fusion.place_weight == 0.45
    assert Engine(parse("[fusion]\nplace_agreement_weight = 0.0\n")).fusion.place_weight == 0.0
    with pytest.raises(ConfigError, match="place_agreement_weight"):
        parse("[fusion]\nplace_agreement_weight = 1.5\n")


def test_docstring_examples_run():
    assert doctest.testmod(fusion_module).failed == 0


def korean_clock_and_layout_events() -> bytes:
    """A Chicago employee whose laptop runs on Seoul time with a Korean layout, snapshots every 2 h for a day."""
    lines = [{"event_type": "employee", "employee_id": "e1", "timezone": "America/Chicago",
              "home": {"city": "Chicago", "country": "US", "lat": 41.88, "lon": -87.63}}]
    lines += [{"event_type": "device_snapshot", "employee_id": "e1", "ts": at(2 * i), "timezone": "Asia/Seoul",
               "keyboard_layouts": ["com.apple.keylayout.US", "com.apple.inputmethod.Korean.2SetKorean"]}
              for i in range(12)]
    return b"\n".join(orjson.dumps(line) for line in lines) + b"\n"


def test_replay_with_place_agreement_is_byte_identical_and_names_it(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(korean_clock_and_layout_events())
    outputs = []
    for _ in range(2):
        out = io.BytesIO()
        replay([str(events)], parse(""), out, None)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    [created] = [f for f in map(orjson.loads, outputs[0].splitlines()) if f["activity_id"] == 1]
    assert [e["name"] for e in created["evidences"]] == ["place_agreement", "locale_timezone"]
    assert created["evidences"][0]["data"]["observed"]["tells"] == ["device_clock", "input_language"]
    # Without the rule the same laptop stays below the threshold: the clock and the layout alone are weak.
    out = io.BytesIO()
    replay([str(events)], parse("[fusion]\nplace_agreement_weight = 0.0\n"), out, None)
    assert [f for f in map(orjson.loads, out.getvalue().splitlines()) if f["activity_id"] == 1] == []
