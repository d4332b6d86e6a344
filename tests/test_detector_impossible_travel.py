"""impossible_travel: faster than a flight between located logins; VPN hops and org networks are not travel."""

from __future__ import annotations

import ipaddress

import pytest

from builders import CHICAGO, LONDON, NEW_YORK, SEOUL, geo, vpn
from telltales.detectors.base import Context, Org
from telltales.detectors.impossible_travel import ImpossibleTravel

ORG = Org(office_networks=(ipaddress.ip_network("198.51.100.0/24"),),
          vpn_egress_networks=(ipaddress.ip_network("192.0.2.0/24"),))
MILWAUKEE = {"city": "Milwaukee", "country": "US", "lat": 43.04, "lon": -87.91}
FRANKFURT = {"city": "Frankfurt", "country": "DE", "lat": 50.11, "lon": 8.68}
US_CENTROID = {"country": "US", "lat": 37.75, "lon": -97.82}  # a country-level GeoIP record


def feed(events, tolerance_s: float = 3600.0, detector=None):
    """Run events in arrival order, computing `late` as the engine does."""
    detector = detector or ImpossibleTravel(ORG)
    state, newest, signals = detector.initial_state(), 0.0, []
    for event in events:
        when = event.ts.timestamp()
        state, raised = detector.observe(event, state, Context(org=ORG, employee=None,
                                                               late=newest - when > tolerance_s))
        newest = max(newest, when)
        signals.extend(raised)
    return state, signals


def login(hours, place, ip="203.0.113.10", accuracy_km=20.0, **fields):
    return vpn("e1", hours, ip, geo=geo(place, accuracy_km), **fields)


def test_seoul_to_chicago_in_an_hour_is_near_certain():
    _, signals = feed([login(0, SEOUL, "203.0.113.77"), login(1, CHICAGO)])
    [signal] = signals
    assert signal.score == pytest.approx(1.0)
    assert signal.data["kmh"] > 9000 and signal.data["from_ip"] == "203.0.113.77"
    assert "Seoul" in signal.summary and "km/h" in signal.summary


def test_score_grows_with_how_far_above_the_limit():
    _, [near] = feed([login(0, CHICAGO), login(1, NEW_YORK, "203.0.113.11")])  # ~1,100 km/h
    _, [far] = feed([login(0, CHICAGO), login(1, LONDON, "203.0.113.11")])
    assert 0.5 <= near.score < 0.7 < far.score


def test_a_real_flight_is_not_impossible():
    # O'Hare to Heathrow is ~6,350 km: a login before boarding and one after landing 9 h later (~700 km/h).
    _, signals = feed([login(0, CHICAGO), login(9, LONDON, "203.0.113.11"), login(30, CHICAGO)])
    assert signals == []


@pytest.mark.parametrize("second", [login(0.1, MILWAUKEE, "203.0.113.11"),
                                    login(0.1, US_CENTROID, "203.0.113.11", accuracy_km=1000)])
def test_geoip_jitter_never_fires(second):
    _, signals = feed([login(0, CHICAGO), second])
    assert signals == []


def test_accuracy_radii_are_subtracted():
    # Chicago → New York in 1 h is impossible with city-level radii, not with 400 km ones.
    _, signals = feed([login(0, CHICAGO, accuracy_km=400), login(1, NEW_YORK, "203.0.113.11", accuracy_km=400)])
    assert signals == []


def test_anonymizer_hop_is_reported_as_such_and_does_not_move_the_last_place():
    astrill = {"type": "vpn", "provider": "Astrill"}
    _, signals = feed([login(0, CHICAGO), login(1, SEOUL, "203.0.113.77", anonymizer=astrill),
                       login(2, CHICAGO)])
    [hop] = signals  # the return to Chicago is compared with Chicago, not with the VPN exit
    assert hop.score <= 0.1 and hop.data["hop"] == "anonymizer" and hop.data["provider"] == "Astrill VPN"
    assert "not travel" in hop.summary


def test_hosting_asn_counts_as_a_hop_even_without_a_flag():
    _, [hop] = feed([login(0, CHICAGO), login(1, FRANKFURT, "203.0.113.90", asn={"number": 16509, "org": "AMAZON-02"})])
    assert hop.data["hop"] == "anonymizer" and hop.data["anonymizer"] == "hosting"


@pytest.mark.parametrize("org_ip", ["192.0.2.8", "198.51.100.7"], ids=["corporate-vpn", "office-nat"])
def test_organisation_networks_are_not_places(org_ip):
    _, signals = feed([login(0, CHICAGO), login(1, FRANKFURT, org_ip), login(2, CHICAGO), login(3, FRANKFURT, org_ip)])
    assert signals == []


def test_late_event_never_creates_travel():
    state, signals = feed([login(10, CHICAGO), login(0, SEOUL, "203.0.113.77"), login(11, CHICAGO)])
    assert signals == []
    assert state.ip == "203.0.113.10" and state.lat == CHICAGO["lat"]


def test_out_of_order_within_tolerance_still_compares_but_keeps_the_newest_place():
    state, [signal] = feed([login(1, CHICAGO), login(0.5, SEOUL, "203.0.113.77")])
    assert signal.score == pytest.approx(1.0)
    assert state.place == "Chicago, US"


def test_simultaneous_logins_far_apart():
    _, [signal] = feed([login(0, CHICAGO), login(0, LONDON, "203.0.113.11")])
    assert signal.score == pytest.approx(1.0)


def test_failed_logins_and_logins_without_location_are_ignored():
    detector = ImpossibleTravel(ORG)
    state, _ = feed([login(0, CHICAGO)], detector=detector)
    for event in (login(1, SEOUL, "203.0.113.77", outcome="failure"), vpn("e1", 1, "203.0.113.77"),
                  vpn("e1", 1, "203.0.113.77", geo={"country": "KR"})):
        new, signals = detector.observe(event, state, Context(org=ORG, employee=None))
        assert new is state and signals == []


def test_state_is_small_after_a_long_run():
    import msgspec

    places = [CHICAGO, NEW_YORK, LONDON, SEOUL]
    long_ip = "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
    state, _ = feed([login(h * 5, places[h % 4] | {"city": "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"},
                           long_ip) for h in range(500)])
    assert len(msgspec.msgpack.encode(state)) <= ImpossibleTravel.max_state_bytes
