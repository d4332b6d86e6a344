"""anonymizer: VPN/proxy/Tor/hosting logins, Astrill strongest, sustained use stronger; the org's own egress exempt."""

from __future__ import annotations

import ipaddress

import msgspec
import pytest

from builders import CHICAGO, LONDON, SEOUL, SHENYANG, geo, home_employee, vpn
from telltales.detectors.anonymizer import Anonymizer, anonymity
from telltales.detectors.base import Context, Org

ORG = Org(office_networks=(ipaddress.ip_network("198.51.100.0/24"),),
          vpn_egress_networks=(ipaddress.ip_network("192.0.2.0/24"),))
ASTRILL = {"type": "vpn", "provider": "Astrill"}
NORD = {"type": "vpn", "provider": "NordVPN"}


def feed(events, detector=None, state=None, who=None):
    detector = detector or Anonymizer(ORG)
    state = state if state is not None else detector.initial_state()
    signals = []
    for event in events:
        state, raised = detector.observe(event, state, Context(org=ORG, employee=who))
        signals.extend(raised)
    return state, signals


def direct(hours=0.0):
    return vpn("e1", hours, "203.0.113.10", geo=geo(CHICAGO), asn={"number": 7922, "org": "Comcast Cable"})


def via(anonymizer=None, hours=0.0, ip="203.0.113.77", **fields):
    return vpn("e1", hours, ip, geo=geo(SEOUL), **({"anonymizer": anonymizer} if anonymizer else {}), **fields)


def test_astrill_scores_above_a_generic_vpn():
    _, [astrill] = feed([via(ASTRILL)])
    _, [nord] = feed([via(NORD)])
    assert astrill.score > nord.score
    assert astrill.data["astrill"] is True and astrill.data["provider"] == "Astrill VPN"
    assert "Astrill VPN" in astrill.summary and "203.0.113.77" in astrill.summary


def test_astrill_named_only_in_the_asn_organisation():
    _, [signal] = feed([via(asn={"number": 64500, "org": "Astrill Ltd"})])
    assert signal.data["astrill"] is True and signal.data["kind"] == "vpn"


@pytest.mark.parametrize("asn, kind", [({"number": 16509, "org": "AMAZON-02"}, "hosting"),
                                        ({"number": 64501, "org": "Example VPS Hosting Ltd"}, "hosting"),
                                        ({"number": 13335, "org": "CLOUDFLARENET"}, "relay")])
def test_hosting_and_relay_networks_by_asn(asn, kind):
    _, [signal] = feed([via(asn=asn)])
    assert signal.data["kind"] == kind and signal.data["asn"] == asn["number"]


def test_relay_scores_lowest_and_tor_above_vpn():
    scores = {kind: feed([via({"type": kind})])[1][0].score for kind in ("relay", "vpn", "tor")}
    assert scores["relay"] < scores["vpn"] < scores["tor"]


def test_sustained_use_scores_higher_than_one_login():
    _, signals = feed([via(NORD, h) for h in range(6)])
    assert signals[0].score < signals[-1].score == pytest.approx(0.4)
    _, occasional = feed([direct(h) for h in range(30)] + [via(NORD, 31)])
    assert occasional[0].score < signals[-1].score


def test_direct_logins_do_not_fire_but_are_counted():
    state, signals = feed([direct(h) for h in range(3)])
    assert signals == [] and (state.anonymized, state.direct) == (0, 3)


@pytest.mark.parametrize("ip", ["192.0.2.8", "198.51.100.7"], ids=["corporate-vpn", "office-nat"])
def test_organisation_egress_is_exempt_even_on_a_hosting_asn(ip):
    detector = Anonymizer(ORG)
    state = detector.initial_state()
    new, signals = detector.observe(via(ip=ip, asn={"number": 16509, "org": "AMAZON-02"}), state,
                                    Context(org=ORG, employee=None))
    assert new is state and signals == []


def test_failed_logins_are_ignored():
    detector = Anonymizer(ORG)
    state = detector.initial_state()
    new, signals = detector.observe(via(ASTRILL, outcome="failure"), state, Context(org=ORG, employee=None))
    assert new is state and signals == []


def test_counts_stay_bounded():
    state, _ = feed([direct(h) if h % 3 else via(NORD, h) for h in range(1000)])
    assert state.anonymized + state.direct <= Anonymizer.params["window"] + 1
    assert 0.2 < state.anonymized / (state.anonymized + state.direct) < 0.45
    assert len(msgspec.msgpack.encode(state)) <= Anonymizer.max_state_bytes


def test_anonymity_classification():
    assert anonymity(via({"type": "tor"})) == ("tor", "")
    assert anonymity(via({"type": "proxy", "provider": "ExpressVPN LLC"})) == ("proxy", "ExpressVPN")
    assert anonymity(direct()) is None
    assert anonymity(vpn("e1", 0)) is None


def test_a_flag_that_names_no_provider_takes_the_vpn_provider_the_asn_names():
    astrill_asn = {"number": 64500, "org": "Astrill Ltd"}
    assert anonymity(via({"type": "vpn"}, asn=astrill_asn)) == ("vpn", "Astrill VPN")
    assert anonymity(via({"type": "proxy"}, asn=astrill_asn)) == ("proxy", "Astrill VPN")
    # A hosting network is no provider's name; the flag's own provider always wins.
    assert anonymity(via({"type": "vpn"}, asn={"number": 14061, "org": "DigitalOcean, LLC"})) == ("vpn", "")
    assert anonymity(via(NORD, asn=astrill_asn)) == ("vpn", "NordVPN")
    _, [signal] = feed([via({"type": "vpn"}, asn=astrill_asn)])
    _, [generic] = feed([via({"type": "vpn"})])
    assert signal.score > generic.score and signal.data["astrill"]


CHICAGOAN = home_employee("e1", CHICAGO)


def abroad(place, hours):
    return vpn("e1", hours, "175.160.1.2", geo=geo(place), asn={"number": 4837, "org": "China Unicom"})


def test_a_direct_login_from_abroad_between_vpn_logins_is_a_slip():
    events = [via(ASTRILL, hours=h) for h in range(6)] + [abroad(SHENYANG, 7)]
    _, signals = feed(events, who=CHICAGOAN)
    slip = signals[-1]
    assert slip.data["kind"] == "slip" and slip.score == 1.0 and slip.data["high_risk"] is True
    assert slip.data["country"] == "CN" and slip.data["home_country"] == "US" and slip.data["anonymized_logins"] == 6
    assert "VPN dropped" in slip.summary and "Shenyang" in slip.summary
    # Abroad but on no list: a smaller score.
    _, [*_, london] = feed([via(NORD, hours=h) for h in range(6)] + [abroad(LONDON, 7)], who=CHICAGOAN)
    assert london.data["kind"] == "slip" and london.score == 0.75


def test_no_slip_at_home_for_a_few_vpn_logins_or_without_a_claimed_home():
    vpn_use = [via(ASTRILL, hours=h) for h in range(6)]
    assert all(s.data.get("kind") != "slip" for s in feed(vpn_use + [direct(7)], who=CHICAGOAN)[1])  # home
    assert all(s.data.get("kind") != "slip" for s in feed(vpn_use[:3] + [abroad(SHENYANG, 7)], who=CHICAGOAN)[1])
    assert all(s.data.get("kind") != "slip" for s in feed(vpn_use + [abroad(SHENYANG, 7)])[1])  # no directory record


def test_a_traveller_logging_in_from_the_hotel_with_an_evening_vpn_is_not_a_slip():
    # Mostly direct logins (home, then the hotel abroad) with a privacy VPN some evenings: the share stays low.
    events = [direct(h) for h in range(8)] + [via(NORD, hours=8 + h) for h in range(5)]
    events += [abroad(LONDON, 20 + h) for h in range(4)]
    assert all(s.data.get("kind") != "slip" for s in feed(events, who=CHICAGOAN)[1])
