"""work_hours: a circular activity profile judged against the declared working day in the claimed time zone."""

from __future__ import annotations

import math
import random

import msgspec
import pytest

from builders import CHICAGO, device, employee, home_employee, remote, vpn
from telltales.detectors.base import Context, Org
from telltales.detectors.work_hours import WorkHours, centroid_se_h

ORG = Org()
CHICAGOAN = home_employee("e1", CHICAGO)  # America/Chicago, 09:00–17:00; in March 2026 before DST: UTC−6


def utc(day: int, hour: float) -> float:
    """Builder hours (after T0 = Monday 09:00 UTC) for `hour` UTC on `day`."""
    return day * 24 + hour - 9


def logins(days: int, utc_hours, *, start_day: int = 0):
    return [vpn("e1", utc(d, h)) for d in range(start_day, start_day + days) for h in utc_hours]


def feed(events, who=CHICAGOAN, detector=None, state=None, late=False):
    detector = detector or WorkHours(ORG)
    state = state if state is not None else detector.initial_state()
    signals = []
    for event in events:
        state, raised = detector.observe(event, state, Context(org=ORG, employee=who, late=late))
        signals.extend(raised)
    return state, signals


SEOUL_DAYTIME_UTC = (0.5, 2, 3.5, 5, 6.5, 8)  # 09:30–17:00 in Seoul = 18:30–02:00 in Chicago
CHICAGO_DAYTIME_UTC = (15, 16.5, 18, 19.5, 21, 22.5)  # 09:00–16:30 in Chicago


def test_an_operative_on_asian_daytime_shows_a_us_night_centroid():
    _, signals = feed(logins(7, SEOUL_DAYTIME_UTC))
    assert signals, "a week of Seoul-daytime activity must signal"
    s = signals[0]
    assert 8.0 < s.data["shift_h"] < 11.0 and 20.0 < s.data["centroid_local_h"] < 23.5
    assert s.data["days"] >= 5 and s.data["events"] >= 10 and s.data["centroid_se_h"] <= 1.0 and 0.7 < s.score <= 1.0
    assert "America/Chicago" in s.summary


def test_ordinary_working_days_and_sessions_are_quiet():
    events = logins(14, CHICAGO_DAYTIME_UTC) + [remote("e1", utc(d, 17)) for d in range(14)]
    assert feed(events)[1] == []


def test_declared_night_shift_is_respected():
    night = home_employee("e1", CHICAGO)
    night = msgspec.structs.replace(night, work_hours=msgspec.structs.replace(night.work_hours, start="18:00", end="02:00"))
    assert feed(logins(10, SEOUL_DAYTIME_UTC), who=night)[1] == []


def test_needs_a_week_of_history_and_a_concentrated_profile():
    assert feed(logins(4, SEOUL_DAYTIME_UTC * 2))[1] == []  # 48 events but only 4 days
    round_the_clock = logins(10, [h + 0.5 for h in range(0, 24, 3)])
    assert feed(round_the_clock)[1] == []  # no centroid to speak of


def test_enough_history_means_a_centroid_known_to_the_hour():
    # Two logins a day in Seoul's working day: a tight profile, known to the hour after a week of 14 events.
    _, light = feed(logins(7, (1, 6)))
    assert light and light[0].data["events"] < 30 and light[0].data["centroid_se_h"] <= 1.0
    # 40 events over 14 hours (R̄ 0.41, above min_concentration): the centroid is not yet known to the hour
    # after five days; after seven it is.
    spread = [vpn("e1", utc(d, h)) for d in range(7) for h in (20, 22, 0, 2, 4, 6, 8, 10)]
    state, loose = feed(spread[:40])
    assert loose == [] and state.n == 40
    assert centroid_se_h(math.hypot(state.c, state.s) / state.w, state.w) > 1.0
    assert feed(spread)[1]


def test_quiet_without_a_time_zone_and_default_hours_without_work_hours():
    events = logins(7, SEOUL_DAYTIME_UTC)
    assert feed(events, who=None)[1] == []
    assert feed(events, who=employee("e1", home={"country": "US"}))[1] == []
    no_hours = employee("e1", timezone="America/Chicago")
    _, signals = feed(events, who=no_hours)
    assert signals and "assumed" in signals[0].data["declared_hours"]
    assert feed(events, who=no_hours, detector=WorkHours(ORG, {"default_work_hours": ""}))[1] == []


def test_re_raised_at_most_twice_a_day():
    _, signals = feed(logins(10, SEOUL_DAYTIME_UTC))
    times = [s.time for s in signals]
    assert len(signals) >= 3 and all(b - a >= 12 * 3600 for a, b in zip(times, times[1:]))


def test_failed_logins_and_inventory_snapshots_are_not_activity():
    events = [vpn("e1", utc(d, h), outcome="failure") for d in range(7) for h in SEOUL_DAYTIME_UTC]
    events += [device("e1", utc(d, h), hostname="lt-1") for d in range(7) for h in SEOUL_DAYTIME_UTC]
    state, signals = feed(events)
    assert signals == [] and state.n == 0
    typing = device("e1", 0, latency={"vantage": "ord", "input_ms": {"min": 20}})
    assert feed([typing])[0].n == 1


def test_fading_is_order_free_and_late_events_raise_nothing():
    events = logins(6, SEOUL_DAYTIME_UTC)
    in_order, _ = feed(events)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    detector = WorkHours(ORG)
    mixed, _ = feed(shuffled, detector=detector)
    assert (mixed.c, mixed.s, mixed.w) == pytest.approx((in_order.c, in_order.s, in_order.w))
    assert math.hypot(in_order.c, in_order.s) / in_order.w > 0.75  # a 7.5-hour day is concentrated
    _, raised = feed(logins(7, SEOUL_DAYTIME_UTC), late=True)
    assert raised == []


def test_state_is_small_and_round_trips():
    state, _ = feed(logins(40, SEOUL_DAYTIME_UTC))
    encoded = msgspec.msgpack.encode(state)
    assert len(encoded) <= WorkHours.max_state_bytes
    assert msgspec.msgpack.decode(encoded, type=type(state)) == state


def test_a_shifted_day_names_the_offset_it_would_be_a_normal_day_at():
    _, signals = feed(logins(7, SEOUL_DAYTIME_UTC))
    [(tell, offset, tolerance)] = signals[0].data["places"]
    # The middle of 09:00–17:00 (13:00) at the activity centroid (~04:15 UTC) is UTC+8.75: Seoul is UTC+9.
    assert tell == "activity_hours" and tolerance == 2.0 and abs(offset - 9.0) <= 1.0
