"""shared_infrastructure: three or more employees on one home IP, BSSID or gateway MAC; offices, VPNs, couples exempt."""

from __future__ import annotations

import ipaddress

import msgspec
import pytest

from builders import CHICAGO, T0, device, home_employee, vpn
from telltales.detectors.base import Context, KeyObservation, Org
from telltales.detectors.engine import Engine
from telltales.detectors.shared_infrastructure import Members, SharedInfrastructure
from telltales.schemas.config import Config

OFFICE, EGRESS, PARTNER = "198.51.100.0/24", "192.0.2.0/24", "203.0.113.128/25"
ORG = Org(office_networks=(ipaddress.ip_network(OFFICE),), vpn_egress_networks=(ipaddress.ip_network(EGRESS),),
          allowlisted_networks=(ipaddress.ip_network(PARTNER),))
CTX = Context(org=ORG, employee=None)
HOME = {"public_ip": "203.0.113.10", "wifi": {"ssid": "home", "bssid": "AA:BB:CC:00:11:22"},
        "gateway_mac": "aa:bb:cc:00:11:23"}
KEYS = [("public_ip", "203.0.113.10"), ("bssid", "aa:bb:cc:00:11:22"), ("gateway_mac", "aa:bb:cc:00:11:23")]


def keys(event):
    return SharedInfrastructure(ORG).correlation_keys(event, None, CTX)


def test_keys_of_a_home_snapshot_and_a_home_login():
    assert keys(device("e1", 0, **HOME)) == KEYS
    assert keys(vpn("e1", 0, "203.0.113.10")) == [("public_ip", "203.0.113.10")]


@pytest.mark.parametrize("event", [
    vpn("e1", 0, "198.51.100.7"),                                   # office NAT
    vpn("e1", 0, "192.0.2.9"),                                      # the organisation's own VPN egress
    vpn("e1", 0, "203.0.113.200"),                                  # allowlisted network
    vpn("e1", 0, "10.1.2.3"), vpn("e1", 0, "100.64.1.1"),           # private and CGNAT-range addresses
    vpn("e1", 0, "203.0.113.10", outcome="failure"),                # a password spray touches many accounts
    vpn("e1", 0, "203.0.113.10", anonymizer={"type": "vpn", "provider": "NordVPN"}),  # exits shared by design
    device("e1", 0, **{**HOME, "public_ip": "198.51.100.7"}),       # office Wi-Fi is not a home
    device("e1", 0, **{**HOME, "public_ip": "192.0.2.9"}),          # always-on VPN: the BSSID may be the office's
    device("e1", 0, wifi=HOME["wifi"], gateway_mac=HOME["gateway_mac"]),  # layer 2 without an address
], ids=["office", "vpn-egress", "allowlisted", "private", "cgnat-range", "failed", "anonymizer",
        "office-wifi", "egress-wifi", "no-ip"])
def test_no_keys_for_the_organisations_own_networks_and_weak_sources(event):
    assert keys(event) == []


def test_generic_router_macs_are_not_keys():
    event = device("e1", 0, public_ip="203.0.113.10", wifi={"bssid": "01:00:5e:00:00:01"},
                   gateway_mac="00:00:5e:00:01:0a")
    assert keys(event) == [("public_ip", "203.0.113.10")]


def seen(employee_id, hours, kind="bssid", value="aa:bb:cc:00:11:22"):
    return KeyObservation(detector="shared_infrastructure", kind=kind, value=value, employee_id=employee_id,
                          time=T0.timestamp() + hours * 3600, event_id=f"{employee_id}@{hours}")


def fold(observations, detector=None, state=None):
    detector = detector or SharedInfrastructure(ORG)
    state = state if state is not None else detector.initial_key_state()
    out = []
    for obs in observations:
        state, signals = detector.correlate(obs, state)
        out.append(signals)
    return state, out


def test_a_couple_sharing_a_home_does_not_fire():
    _, out = fold([seen("e1", 0), seen("e2", 1), seen("e1", 30), seen("e2", 60)])
    assert out == [[], [], [], []]


def test_the_third_employee_fires_for_all_and_newcomers_strengthen_it():
    state, out = fold([seen("e1", 0), seen("e2", 1), seen("e3", 2), seen("e4", 3)])
    third, fourth = out[2], out[3]
    assert sorted(s.employee_id for s in third) == ["e1", "e2", "e3"]
    assert third[0].score == pytest.approx(0.9 * 0.75) and fourth[0].score == pytest.approx(0.9 * 0.85)
    assert sorted(s.employee_id for s in fourth) == ["e1", "e2", "e3", "e4"]
    signal = fourth[0]
    assert len({s.group for s in third + fourth}) == 1 and signal.group.startswith("farm-")
    assert signal.data == {"key": "bssid", "value": "aa:bb:cc:00:11:22", "employees": ["e4", "e3", "e2", "e1"],
                           "count": 4, "window_h": 72.0}
    assert "4 employees on one Wi-Fi BSSID aa:bb:cc:00:11:22 within 72 h" in signal.summary
    again, repeated = SharedInfrastructure(ORG).correlate(seen("e4", 3), state)
    assert again is state and repeated == []


def test_an_ip_alone_is_weaker_than_layer_2_evidence():
    _, out = fold([seen(e, h, "public_ip", "203.0.113.10") for h, e in enumerate(["e1", "e2", "e3"])])
    assert out[2][0].score == pytest.approx(0.5 * 0.75)


def test_members_are_refreshed_sparingly_and_forgotten_after_the_window():
    state, out = fold([seen("e1", 0), seen("e2", 0), seen("e3", 0), seen("e1", 1), seen("e1", 7)])
    assert [len(s) for s in out] == [0, 0, 3, 0, 3]
    # 80 h later e2 and e3 have left the window: e1 is alone again.
    state, out = fold([seen("e1", 87)], state=state)
    assert out == [[]] and state.ids == ["e1"]


def test_a_venue_sized_group_is_damped_and_the_state_bounded():
    state, out = fold([seen(f"employee-{i:03d}", i / 10) for i in range(40)])
    assert len(state.ids) == 16 and out[-1][0].score == pytest.approx(0.9 * 0.5)
    assert "office or venue" in out[-1][0].summary and len(out[-1]) == 16
    encoded = msgspec.msgpack.encode(state)
    assert len(encoded) <= 8 * SharedInfrastructure.max_state_bytes
    assert msgspec.msgpack.decode(encoded, type=Members) == state


def test_late_observation_within_the_window_is_folded_once():
    state, _ = fold([seen("e1", 10), seen("e2", 10)])
    state, [late] = fold([seen("e3", 2)], state=state)
    assert late and state.ids[0] == "e3"
    state, [too_old] = fold([seen("e4", -70)], state=state)
    assert too_old == [] and "e4" not in state.ids


def replay(engine, events, employees=None):
    """The replay driver in miniature: observe → key observations → correlate → fuse for each addressee."""
    states, key_states, changes, signals = {}, {}, [], []
    for event in events:
        who = event.employee_id
        step = engine.observe(event, states.get(who), (employees or {}).get(who))
        states[who] = step.state
        for obs in step.observations:
            slot = (obs.detector, obs.kind, obs.value)
            key_states[slot], raised, errors = engine.correlate(obs, key_states.get(slot))
            assert errors == []
            signals += raised
            for addressee in dict.fromkeys(s.employee_id for s in raised):
                mine = [s for s in raised if s.employee_id == addressee]
                states[addressee], new = engine.fuse(states.get(addressee) or engine.new_state(), mine, addressee)
                changes += new
    return states, changes, signals


def engine():
    config = msgspec.convert({"networks": {"office": [OFFICE], "vpn_egress": [EGRESS]}}, type=Config)
    return Engine(config, detectors=[SharedInfrastructure(Org.from_config(config))])


def test_through_the_engine_a_farm_of_four_links_every_member():
    farm = [device(f"e{i}", i, device_id=f"lt-{i}", **HOME) for i in range(1, 5)]
    couple = [vpn(e, h, "203.0.113.77") for h, e in enumerate(["c1", "c2", "c1", "c2"])]
    office = [vpn(f"o{i}", i / 10, "198.51.100.7") for i in range(30)]
    eng = engine()
    states, changes, signals = replay(eng, farm + couple + office)
    addressed = {s.employee_id for s in signals}
    assert addressed == {"e1", "e2", "e3", "e4"}
    assert {s.data["key"] for s in signals} == {"public_ip", "bssid", "gateway_mac"}
    now = farm[-1].ts.timestamp()
    risks = {e: eng.fusion.risk(states[e].fusion, now) for e in addressed}
    assert all(r == pytest.approx(100 * 0.9 * 0.85 * 0.7) for r in risks.values()), risks
    # Four residents on one home Wi-Fi cross the create threshold (50) alone; the couple and the office do not.
    assert {c.employee_id for c in changes if c.activity == "create"} == {"e1", "e2", "e3", "e4"}
    assert len({c.case.group for c in changes}) == 1


def test_through_the_engine_ip_only_groups_score_lower_than_the_same_group_on_one_wifi():
    logins = [vpn(f"e{i}", i, "203.0.113.10") for i in range(1, 5)]
    eng = engine()
    states, _, _ = replay(eng, logins)
    ip_only = eng.fusion.risk(states["e1"].fusion, logins[-1].ts.timestamp())
    states, _, _ = replay(eng, logins + [device(f"e{i}", 4, **HOME) for i in range(1, 5)])
    with_wifi = eng.fusion.risk(states["e1"].fusion, logins[-1].ts.timestamp() + 3600)
    assert 25 < ip_only < 35 and with_wifi > ip_only + 20


def test_a_farm_plus_one_more_tell_opens_cases_with_the_group_id():
    farm = [device(f"e{i}", i, **HOME) for i in range(1, 7)]  # six laptops: 0.9 × 1.0 × 0.7 = 63
    _, changes, _ = replay(engine(), farm, {f"e{i}": home_employee(f"e{i}", CHICAGO) for i in range(1, 7)})
    created = {c.employee_id: c for c in changes if c.activity == "create"}
    assert sorted(created) == [f"e{i}" for i in range(1, 7)]
    assert len({c.case.group for c in created.values()}) == 1


def test_a_team_at_a_hotel_is_visitors_not_a_farm():
    """Colleagues with established homes who share a hotel's Wi-Fi at an offsite add no keys there."""
    engine = Engine(Config(), detectors=[SharedInfrastructure(ORG)])
    states, key_states, signals = {}, {}, []
    for i in range(6):
        for day in range(10):  # ten days at home first: each has a usual network of their own
            step = engine.observe(vpn(f"e{i}", 24 * day, f"203.0.113.{20 + i}"), states.get(f"e{i}"), None)
            states[f"e{i}"] = step.state
    for i in range(6):
        for hour in (240, 244, 248):
            step = engine.observe(device(f"e{i}", hour + i * 0.1, **HOME), states[f"e{i}"], None)
            states[f"e{i}"] = step.state
            for observation in step.observations:
                key = (observation.kind, observation.value)
                key_states[key], raised, _ = engine.correlate(observation, key_states.get(key))
                signals.extend(raised)
    assert signals == []


def test_a_newcomer_with_little_history_is_counted_as_resident():
    detector = SharedInfrastructure(ORG)
    state = detector.initial_state()
    ctx = Context(org=ORG, employee=None)
    for day in range(3):
        state, _ = detector.observe(vpn("e1", 24 * day, "203.0.113.10"), state, ctx)
    assert detector.correlation_keys(vpn("e1", 80, "203.0.113.10"), state, ctx) == [("public_ip", "203.0.113.10")]
    for day in range(3, 20):
        state, _ = detector.observe(vpn("e1", 24 * day, "203.0.113.50"), state, ctx)  # moved house
    assert detector.correlation_keys(vpn("e1", 500, "203.0.113.10"), state, ctx) == []
    assert detector.correlation_keys(vpn("e1", 500, "203.0.113.50"), state, ctx) == [("public_ip", "203.0.113.50")]
