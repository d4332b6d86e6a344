"""latency_physics: the fibre bound on where a device can be, and the keystroke delay of a remote operator."""

from __future__ import annotations

import ipaddress

import msgspec
import pytest

from builders import CHICAGO, LONDON, device, geo, home_employee, remote, vpn
from telltales.detectors.base import Context, Org
from telltales.detectors.latency_physics import LatencyPhysics, ew_update
from telltales.schemas.config import VantagePoint

ORG = Org(
    vantage_points={"ord": VantagePoint(lat=41.98, lon=-87.90, name="Chicago"),
                    "iad": VantagePoint(lat=38.94, lon=-77.45, name="Ashburn"),
                    "lhr": VantagePoint(lat=51.47, lon=-0.45, name="London")},
    vpn_egress_networks=(ipaddress.ip_network("192.0.2.0/24"),),
)
CHICAGOAN = home_employee("e1", CHICAGO)


def feed(events, employee=CHICAGOAN, detector=None, state=None):
    """Run events through one detector; return (final state, all signals)."""
    detector = detector or LatencyPhysics(ORG)
    state = state if state is not None else detector.initial_state()
    signals = []
    for event in events:
        state, raised = detector.observe(event, state, Context(org=ORG, employee=employee))
        signals.extend(raised)
    return state, signals


def rtt(vantage, ms, hours=0.0, **fields):
    return device("e1", hours, latency={"vantage": vantage, "rtt_ms": {"min": ms, "n": 20}}, **fields)


def typing(hours, input_ms, rtt_ms=12.0, vantage="ord", tool="ssh", **fields):
    latency = {"vantage": vantage, "input_ms": {"min": input_ms, "n": 40}}
    if rtt_ms is not None:
        latency["rtt_ms"] = {"min": rtt_ms, "n": 20}
    return remote("e1", hours, tool, latency=latency, **fields)


# Feasibility ---------------------------------------------------------------------------------

def test_device_too_close_to_a_far_vantage_makes_the_claimed_home_impossible():
    # Within 300 km of Ashburn for over an hour, with no login placing the employee there; Chicago is 921 km away.
    _, signals = feed([rtt("iad", 3.0, 0), rtt("iad", 3.0, 1.5)])
    [s] = signals  # the first measurement waits for confirmation
    assert s.data["kind"] == "feasibility" and s.score == 0.8  # misses even the light-in-vacuum bound (capped: alone it must not open a case)
    assert s.data["bound_km"] == 300 and s.data["home_distance_km"] == 921 and s.data["miss_km"] == 621
    assert s.data["beyond_light_speed"] is True and s.data["unexplained_for_h"] == 1.5
    assert "300 km" in s.summary and "621 km" in s.summary


def test_missing_only_the_fibre_bound_scores_lower():
    _, [s] = feed([rtt("iad", 7.0, 0), rtt("iad", 7.0, 1.5)])  # fibre bound 700 km, vacuum 1,049 km, home 921 km
    assert s.data["beyond_light_speed"] is False
    assert 0.6 < s.score < 0.8


def test_home_inside_the_bound_is_quiet_and_the_margin_absorbs_geocoding_error():
    assert feed([rtt("ord", 12.0), rtt("iad", 9.0, 1), rtt("iad", 9.0, 3)])[1] == []  # 921 km < 900 + 100 km margin


def test_a_feasible_measurement_clears_an_unconfirmed_one():
    state, signals = feed([rtt("iad", 3.0, 0), rtt("ord", 1.0, 1.0), rtt("iad", 3.0, 1.5)])
    assert signals == [] and state.fz != 0  # the last one starts a new wait


def test_a_login_from_home_moments_earlier_contradicts_physics_at_once():
    # The IP says Chicago 30 minutes ago; the device answers London in 2 ms: the IP location is a proxy.
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(CHICAGO, 20)), rtt("lhr", 2.0, 0.5)]
    _, [s] = feed(events)
    assert s.score == 0.8 and s.data["located_login"]["verdict"] == "contradicts" and "proxy" in s.summary


def test_a_recent_circle_at_another_vantage_still_binds_the_device():
    # 2 ms from London, then 10 minutes later 70 ms from Chicago: Chicago fits the newest circle,
    # but the London circle (200 km + 10 min at airliner speed) still excludes it.
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(CHICAGO, 20)), rtt("lhr", 2.0, 0.5), rtt("ord", 70.0, 0.5 + 1 / 6)]
    _, signals = feed(events)
    assert len(signals) == 2
    second = signals[1].data
    assert {c["vantage"] for c in second["circles"]} == {"ord", "lhr"} and second["vantage"] == "lhr"
    assert second["bound_km"] == 350


def test_an_old_circle_is_forgotten():
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(CHICAGO, 20)), rtt("lhr", 2.0, 0.5), rtt("ord", 70.0, 13.5)]
    assert len(feed(events)[1]) == 1


def test_business_traveller_whose_login_agrees_with_physics_scores_low():
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(LONDON, 20)), rtt("lhr", 2.0, 1)]
    _, [s] = feed(events)
    assert s.score == pytest.approx(0.8 * 0.2)
    assert s.data["located_login"]["verdict"] == "agrees" and "travel" in s.summary


def test_a_direct_slip_then_vpn_logins_is_not_a_trip():
    # The offshore-VPN pattern: one direct login from London slips out, then every login comes
    # through a consumer VPN while the device keeps answering London's vantage in 2 ms.
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(LONDON, 20)),
              vpn("e1", 1, "198.51.100.77", geo=geo(CHICAGO, 20), anonymizer={"type": "vpn", "provider": "Astrill"}),
              rtt("lhr", 2.0, 2)]
    _, [s] = feed(events)
    assert s.data["located_login"]["verdict"] == "masked" and s.score == 0.8
    assert "anonymizer" in s.summary


def test_a_measurement_discounted_as_travel_is_judged_again_when_vpn_logins_follow_the_slip():
    # The slip, then the one tight measurement (agrees with the slip: travel, 0.16), then the VPN is back:
    # the same verdict as the previous test, given at the login because no tight measurement may follow.
    astrill = {"type": "vpn", "provider": "Astrill"}
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(LONDON, 20)), rtt("lhr", 2.0, 0.5),
              vpn("e1", 1, "198.51.100.77", geo=geo(CHICAGO, 20), anonymizer=astrill),
              vpn("e1", 2, "198.51.100.77", geo=geo(CHICAGO, 20), anonymizer=astrill)]
    state, signals = feed(events)
    assert [(round(s.score, 2), s.data["located_login"]["verdict"]) for s in signals] == [(0.16, "agrees"),
                                                                                          (0.8, "masked")]
    assert "anonymizer" in signals[1].summary and signals[1].data["rtt_min_ms"] == 2.0 and state.tv == []


def test_a_traveller_logging_in_directly_again_before_a_vpn_login_stays_a_traveller():
    # Hard negative: the hotel login after the measurement shows they are still there; an evening VPN
    # login afterwards re-judges nothing, and neither does the organisation's own VPN egress.
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(LONDON, 20)), rtt("lhr", 2.0, 0.5),
              vpn("e1", 1, "192.0.2.10", geo=geo(CHICAGO, 20), anonymizer={"type": "vpn", "provider": "corp"}),
              vpn("e1", 9, "203.0.113.9", geo=geo(LONDON, 20)),
              vpn("e1", 12, "198.51.100.77", geo=geo(CHICAGO, 20), anonymizer={"type": "vpn", "provider": "Proton"})]
    _, signals = feed(events)
    assert [round(s.score, 2) for s in signals] == [0.16]
    # iCloud Private Relay is on by default on ordinary devices: it masks nothing, before or after a measurement.
    relay = {"type": "relay", "provider": "iCloud Private Relay"}
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(LONDON, 20)), rtt("lhr", 2.0, 0.5),
              vpn("e1", 1, "172.226.0.9", geo=geo(CHICAGO, 20), anonymizer=relay), rtt("lhr", 2.0, 2)]
    _, signals = feed(events)
    assert [(round(s.score, 2), s.data["located_login"]["verdict"]) for s in signals] == [(0.16, "agrees")] * 2


def test_traveller_whose_laptop_probes_before_the_first_login_abroad_is_not_a_proxy():
    # Last login at home 13 h ago (time enough to fly to London), the probe comes before the VPN login there.
    events = [vpn("e1", 0, "203.0.113.9", geo=geo(CHICAGO, 20)), rtt("lhr", 2.0, 13),
              vpn("e1", 13.01, "203.0.113.77", geo=geo(LONDON, 20)), rtt("lhr", 2.0, 14.5)]
    _, signals = feed(events)
    assert [round(s.score, 2) for s in signals] == [0.16]


def test_corporate_vpn_egress_and_anonymizer_logins_are_not_locations():
    events = [vpn("e1", 0, "192.0.2.5", geo=geo(LONDON, 20)),  # the org's own egress
              vpn("e1", 0.5, "203.0.113.9", geo=geo(LONDON, 20), anonymizer={"type": "vpn"}),
              rtt("lhr", 2.0, 1), rtt("lhr", 2.0, 2.5)]
    state, [s] = feed(events)
    assert state.loc == [] and s.score == 0.8 and "located_login" not in s.data


def test_without_a_directory_record_or_a_known_vantage_it_stays_quiet():
    state, signals = feed([rtt("iad", 3.0), rtt("iad", 3.0, 2)], employee=None)
    assert signals == [] and "iad" in state.vp  # still remembers the measurement
    assert feed([rtt("sin", 3.0), rtt("sin", 3.0, 2)])[1] == []
    assert feed([device("e1", 0, latency={"rtt_ms": {"min": 1.0}})])[1] == []


def test_a_late_measurement_raises_no_feasibility_signal():
    detector = LatencyPhysics(ORG)
    state, _ = feed([vpn("e1", 10, "203.0.113.9", geo=geo(CHICAGO, 20))], detector=detector)
    late, raised = detector.observe(rtt("lhr", 2.0, 1), state, Context(org=ORG, employee=CHICAGOAN, late=True))
    assert raised == [] and late.vp == state.vp


# Slow round trips (soft) ----------------------------------------------------------------------

def test_sustained_slow_rtt_for_the_home_distance_is_a_capped_soft_tell():
    state, signals = feed([rtt("ord", 165.0, h) for h in (0, 3, 6)])
    assert [s.data["kind"] for s in signals] == ["slow_rtt"]
    assert signals[0].score == pytest.approx(0.3) and signals[0].data["sessions"] == 3


def test_one_slow_session_or_a_traveller_far_away_is_not_slow():
    assert feed([rtt("ord", 165.0, h / 10) for h in range(6)])[1] == []  # one sitting is one session
    travelling = [vpn("e1", 0, "203.0.113.9", geo=geo(LONDON, 20))] + [rtt("ord", 110.0, h) for h in (1, 4, 7)]
    assert feed(travelling)[1] == []


# Remote human ----------------------------------------------------------------------------------

def test_keystroke_delay_far_above_rtt_in_three_sessions_is_a_remote_human():
    _, signals = feed([typing(h, 110.0) for h in (0, 5, 24)])
    [s] = signals  # not on the first or second session
    assert s.data["kind"] == "remote_human" and s.data["excess_ms"] == 98 and s.data["sessions"] == 3
    assert 0.8 < s.score < 0.9 and "98 ms" in s.summary


def test_one_slow_sitting_never_signals():
    # Many samples in one sitting are one session.
    assert feed([typing(h / 10, 110.0) for h in range(8)])[1] == []


def test_a_session_with_any_fast_echo_is_local():
    events = []
    for h in (0, 5, 24):
        events += [typing(h, 110.0), typing(h + 0.2, 16.0)]
    assert feed(events)[1] == []


def test_local_typing_learns_a_baseline_and_stays_quiet():
    state, signals = feed([typing(h * 3, 15.0 + h % 3) for h in range(30)])
    assert signals == []
    assert state.bn == 29 and 3.0 < state.bm < 6.0  # every closed session; the open one is not learned yet


def test_noisy_personal_baseline_raises_the_bar_but_never_beyond_the_cap():
    detector = LatencyPhysics(ORG)
    noisy, _ = feed([typing(h * 3, 12.0 + (35 if h % 2 else 0)) for h in range(30)], detector=detector)
    assert 40.0 < detector._threshold(noisy) <= 80.0
    _, signals = feed([typing(200 + h * 3, 12.0 + 45) for h in range(4)], detector=detector, state=noisy)
    assert signals == []  # 45 ms excess is within this employee's own noise
    _, signals = feed([typing(300 + h * 3, 200.0) for h in range(4)], detector=detector, state=noisy)
    assert signals and signals[-1].data["kind"] == "remote_human"


def test_approved_it_admin_driving_the_device_is_left_out():
    admin = home_employee("e1", CHICAGO, approved_remote_tools=["TeamViewer"])
    events = [typing(h, 110.0, tool="teamviewer", direction="inbound") for h in (0, 5, 24)]
    assert feed(events, employee=admin)[1] == []
    # The same sessions with an unapproved tool are the tell.
    _, signals = feed([typing(h, 110.0, tool="anydesk", direction="inbound") for h in (0, 5, 24)], employee=admin)
    assert signals and signals[-1].data["tool"] == "anydesk"


def test_input_delay_pairs_with_a_recent_rtt_from_the_endpoint_probe():
    events = []
    for h in (0, 5, 24):
        events += [rtt("ord", 12.0, h), typing(h + 0.5, 110.0, rtt_ms=None)]
    _, signals = feed(events)
    assert [s.data["kind"] for s in signals] == ["remote_human"]
    stale = [rtt("ord", 12.0, 0)] + [typing(h, 110.0, rtt_ms=None) for h in (3, 8, 24)]
    assert feed(stale)[1] == []  # no RTT within the pairing window: nothing to compare with


def test_few_input_samples_and_late_events_do_not_count():
    few = [remote("e1", h, "ssh", latency={"vantage": "ord", "rtt_ms": {"min": 12}, "input_ms": {"min": 110, "n": 2}})
           for h in (0, 5, 24)]
    assert feed(few)[1] == []
    detector = LatencyPhysics(ORG)
    state, _ = feed([typing(h, 110.0) for h in (10, 15)], detector=detector)
    late, raised = detector.observe(typing(1, 110.0), state, Context(org=ORG, employee=CHICAGOAN, late=True))
    assert raised == [] and late.hm == state.hm


def test_baseline_update_matches_river_ewmean_and_ewvar():
    from river import stats

    mean, var, n = 0.0, 0.0, 0
    river_mean, river_var = stats.EWMean(0.05), stats.EWVar(0.05)
    for x in [3.0, 5.0, 4.0, 12.0, 2.0, 7.5, 3.3]:
        mean, var, n = ew_update(mean, var, n, x, 0.05)
        river_mean.update(x)
        river_var.update(x)
        assert mean == pytest.approx(river_mean.get()) and var == pytest.approx(river_var.get())


def test_state_stays_small_after_a_long_mixed_run():
    events = []
    for day in range(30):
        for i, vantage in enumerate(("ord", "iad", "lhr", "ord")):
            events.append(rtt(vantage, 12.0 + i, day * 24 + i))
        events.append(vpn("e1", day * 24 + 5, "203.0.113.9", geo=geo(CHICAGO, 20)))
        events.append(typing(day * 24 + 6, 15.0 + day % 5))
        events.append(typing(day * 24 + 9, 110.0))
    state, _ = feed(events)
    encoded = msgspec.msgpack.encode(state)
    assert len(encoded) <= LatencyPhysics.max_state_bytes and len(state.vp) <= 3
    assert msgspec.msgpack.decode(encoded, type=type(state)) == state
