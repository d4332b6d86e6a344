"""home_mismatch: sustained logins far from the claimed home fire; one trip, org networks and VPNs do not."""

from __future__ import annotations

import ipaddress

import msgspec
import pytest

from builders import CHICAGO, LONDON, SHENYANG, geo, home_employee, vpn
from telltales.detectors.base import Context, Org
from telltales.detectors.home_mismatch import HomeMismatch

ORG = Org(office_networks=(ipaddress.ip_network("198.51.100.0/24"),),
          vpn_egress_networks=(ipaddress.ip_network("192.0.2.0/24"),))
TORONTO = {"city": "Toronto", "country": "CA", "lat": 43.65, "lon": -79.38}
PHOENIX = {"city": "Phoenix", "country": "US", "lat": 33.45, "lon": -112.07}
DETROIT = {"city": "Detroit", "country": "US", "lat": 42.33, "lon": -83.05}
WINDSOR = {"city": "Windsor", "country": "CA", "lat": 42.31, "lon": -83.04}
LAGOS = {"city": "Lagos", "country": "NG", "lat": 6.52, "lon": 3.38}
CHICAGO_HOME = home_employee("e1", CHICAGO)


def feed(events, employee=CHICAGO_HOME, detector=None, state=None):
    detector = detector or HomeMismatch(ORG)
    state = state if state is not None else detector.initial_state()
    signals = []
    for event in events:
        state, raised = detector.observe(event, state, Context(org=ORG, employee=employee))
        signals.extend(raised)
    return state, signals


def daily(place, days, start_day=0, per_day=2, ip="203.0.113.10", **fields):
    """`per_day` logins a day from `place`, for `days` days."""
    return [vpn("e1", 24 * (start_day + d) + 2 * i, ip, geo=geo(place), **fields)
            for d in range(days) for i in range(per_day)]


def test_working_from_china_with_a_chicago_home_fires_once_sustained():
    _, early = feed(daily(SHENYANG, 2))
    assert early == []  # two days could be a trip
    _, signals = feed(daily(SHENYANG, 4))
    assert signals and signals[-1].data["high_risk"] is True and signals[-1].data["countries"] == ["CN"]
    assert signals[-1].data["far_days"] == 4 and signals[-1].data["km"] > 10_000
    assert "Shenyang" in signals[-1].summary and "high-risk" in signals[-1].summary


def test_score_grows_with_far_days_and_with_country_risk():
    _, china = feed(daily(SHENYANG, 7))
    _, canada = feed(daily(TORONTO, 7))
    _, arizona = feed(daily(PHOENIX, 7))
    assert china[0].score < china[-1].score == pytest.approx(1.0)
    assert china[-1].score > canada[-1].score > arizona[-1].score > 0


def test_a_business_trip_does_not_fire():
    _, signals = feed(daily(CHICAGO, 10) + daily(LONDON, 4, start_day=10))
    assert signals == []


def test_far_logins_from_a_device_never_used_at_home_are_no_trip():
    # Two days at home on the usual laptop, then another machine logs in from London: one far day is enough,
    # and the trip discount does not apply (foreign factor 0.75 only).
    home = daily(CHICAGO, 2, per_day=1, device_id="laptop-1")
    _, signals = feed(home + daily(LONDON, 1, start_day=3, per_day=4, device_id="desktop-x"))
    assert [round(s.score, 2) for s in signals] == [0.75]
    assert signals[0].data["device_never_near_home"] is True and "never used near home" in signals[0].summary


def test_the_usual_laptop_abroad_a_listed_loaner_or_the_rule_off_stays_a_trip():
    home = daily(CHICAGO, 2, per_day=1, device_id="laptop-1")
    assert feed(home + daily(LONDON, 1, start_day=3, per_day=4, device_id="laptop-1"))[1] == []
    loaner = home_employee("e1", CHICAGO, devices=["laptop-1", "Loaner-7"])
    assert feed(home + daily(LONDON, 1, start_day=3, per_day=4, device_id="loaner-7"), employee=loaner)[1] == []
    off = HomeMismatch(ORG, {"never_home_device": False})
    assert feed(home + daily(LONDON, 1, start_day=3, per_day=4, device_id="desktop-x"), detector=off)[1] == []
    # Without a device ever seen at home (a new hire abroad from day one) the three far days still decide.
    assert feed(daily(LONDON, 2, per_day=4, device_id="desktop-x"))[1] == []


def trip_with_second_device(laptop_place, laptop_days, second_place, second_days):
    """Two days at home on the usual laptop, then its far logins (09:00 UTC) and a second device's (17:00, 18:00)."""
    events = daily(CHICAGO, 2, per_day=1, device_id="laptop-1")
    for day in sorted(set(laptop_days) | set(second_days)):
        if day in laptop_days:
            events.append(vpn("e1", 24 * day, geo=geo(laptop_place), device_id="laptop-1"))
        if day in second_days:
            events += [vpn("e1", 24 * day + h, geo=geo(second_place), device_id="ipad-x") for h in (8, 9)]
    return events


def test_a_second_device_at_the_place_where_the_usual_laptop_is_stays_a_trip():
    # A traveller's tablet at the London hotel the usual laptop logs in from: two far days are a trip.
    state, signals = feed(trip_with_second_device(LONDON, (3, 4), LONDON, (3, 4)))
    assert signals == [] and state.trip_place[0] == state.days[-1][0]
    # The same two days with the laptop in London and the other device in Lagos: another machine elsewhere.
    _, signals = feed(trip_with_second_device(LONDON, (3, 4), LAGOS, (3, 4)))
    assert signals and all(round(s.score, 2) == 0.75 and s.data["device_never_near_home"] for s in signals)
    # The laptop was in London three days before the other device shows up there: no longer together.
    _, signals = feed(trip_with_second_device(LONDON, (3,), LONDON, (6, 7)))
    assert signals and signals[-1].data["device_never_near_home"] is True and round(signals[-1].score, 2) == 0.75


@pytest.mark.parametrize("ip", ["192.0.2.8", "198.51.100.7"], ids=["corporate-vpn", "office-nat"])
def test_organisation_networks_are_not_counted(ip):
    state, signals = feed(daily(SHENYANG, 7, ip=ip))
    assert signals == [] and state.days == []


def test_anonymized_logins_are_not_counted():
    _, signals = feed(daily(SHENYANG, 7, anonymizer={"type": "vpn", "provider": "Astrill"}))
    assert signals == []


def test_a_cross_border_commute_is_not_far():
    _, signals = feed(daily(WINDSOR, 7), employee=home_employee("e1", DETROIT, tz="America/Detroit"))
    assert signals == []


def test_country_alone_decides_without_coordinates():
    _, signals = feed([vpn("e1", 24 * d, geo={"country": "RU"}) for d in range(5)])
    assert signals and signals[-1].data["countries"] == ["RU"] and "km" not in signals[-1].data


def test_coarse_country_level_location_is_not_far():
    us_centroid = {"country": "US", "lat": 37.75, "lon": -97.82}  # 1,000 km radius: "somewhere in the US"
    _, signals = feed([vpn("e1", 24 * d, geo=geo(us_centroid, 1000)) for d in range(7)])
    assert signals == []


def test_quiet_without_a_directory_record_or_a_location():
    detector = HomeMismatch(ORG)
    state = detector.initial_state()
    for event, employee in ((daily(SHENYANG, 1)[0], None), (vpn("e1", 0), CHICAGO_HOME),
                            (daily(SHENYANG, 1, outcome="failure")[0], CHICAGO_HOME)):
        new, signals = detector.observe(event, state, Context(org=ORG, employee=employee))
        assert new is state and signals == []


def test_a_new_home_restarts_the_window():
    state, signals = feed(daily(SHENYANG, 5))
    assert signals
    moved = home_employee("e1", SHENYANG, tz="Asia/Shanghai")
    state, signals = feed(daily(SHENYANG, 1, start_day=5), employee=moved, state=state)
    assert signals == [] and len(state.days) == 1


def test_window_is_bounded_and_forgets_old_days():
    state, _ = feed(daily(SHENYANG, 60, per_day=3))
    assert len(state.days) == HomeMismatch.params["max_days"]
    assert len(msgspec.msgpack.encode(state)) <= HomeMismatch.max_state_bytes
    # The largest state: three home devices, the newest far place of one, 14 days of saturated counts abroad.
    at_home = [vpn("e1", 24 * d + h, geo=geo(CHICAGO), device_id=f"laptop-{h}") for d in range(5) for h in (1, 2, 3)]
    abroad = daily(SHENYANG, 40, start_day=5, per_day=260, device_id="laptop-3")
    largest, _ = feed(at_home + abroad + daily(CHICAGO, 14, start_day=45, per_day=260))
    assert len(largest.near_devices) == 3 and largest.trip_place and len(largest.days) == 14
    assert len(msgspec.msgpack.encode(largest)) <= HomeMismatch.max_state_bytes
    # After a month at home, the old far days are gone.
    state, signals = feed(daily(CHICAGO, 30, start_day=60) + daily(SHENYANG, 1, start_day=90), state=state)
    assert signals == [] and sum(entry[1] for entry in state.days) == 2


def test_late_event_lands_on_its_own_day():
    state, _ = feed(daily(CHICAGO, 3, start_day=5) + daily(SHENYANG, 1, start_day=2))
    assert [entry[0] - state.days[0][0] for entry in state.days] == [0, 3, 4, 5]
    assert state.days[0][1:] == (2, 0, "CN")
