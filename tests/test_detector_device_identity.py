"""device_identity: new devices (after dormancy), leavers' activity, devices and MFA shared across employees."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from builders import CHICAGO, T0, device, employee, home_employee, remote, vpn
from telltales.detectors.base import Context, KeyObservation, Org
from telltales.detectors.device_identity import DeviceIdentity
from telltales.detectors.engine import Engine
from telltales.detectors.shared_infrastructure import Members
from telltales.schemas.config import Config

ORG = Org()
DAY = 24.0


def run(events, employee=None, detector=None, late=()):
    """Feed events in order with the context the engine would give (last_time, late)."""
    detector = detector or DeviceIdentity(ORG)
    state, last, signals = detector.initial_state(), None, []
    for i, event in enumerate(events):
        ctx = Context(org=ORG, employee=employee, late=i in late, last_time=last)
        state, raised = detector.observe(event, state, ctx)
        signals.append(raised)
        last = max(last or 0.0, event.ts.timestamp())
    return state, signals


def test_first_device_is_learnt_and_a_second_one_is_new():
    _, signals = run([device("e1", 0, device_id="lt-1", hostname="LT-ALICE"),
                      vpn("e1", 1, device_id="lt-1"), vpn("e1", 2, device_id="lt-2")])
    assert signals[:2] == [[], []]
    [signal] = signals[2]
    assert signal.score == 0.25 and signal.data["device_id"] == "lt-2" and "New device lt-2" in signal.summary


def test_a_device_known_by_hostname_is_not_new():
    _, signals = run([device("e1", 0, device_id="lt-1", hostname="LT-ALICE"),
                      device("e1", 1, device_id="reimaged-7", hostname="lt-alice")])
    assert signals == [[], []]


def test_directory_listed_devices_are_known_and_others_are_unlisted():
    alice = home_employee("e1", CHICAGO, devices=["LT-1", "phone-1"])
    _, signals = run([vpn("e1", 0, device_id="lt-1"), device("e1", 1, device_id="phone-1"),
                      device("e1", 2, device_id="lt-9", hostname="DESKTOP-X1")], employee=alice)
    assert signals[:2] == [[], []]
    [signal] = signals[2]
    assert signal.score == 0.35 and signal.data["listed_devices"] == 2 and signal.data["hostname"] == "DESKTOP-X1"


def test_dormant_account_on_a_new_device_is_stronger():
    _, signals = run([vpn("e1", 0, device_id="lt-1"), vpn("e1", 10 * DAY, device_id="lt-2")])
    [signal] = signals[1]
    assert signal.score == 0.6 and signal.data["idle_days"] == 10.0 and "10.0 days of silence" in signal.summary


def test_return_from_holiday_on_the_usual_device_is_normal():
    _, signals = run([vpn("e1", 0, device_id="lt-1"), vpn("e1", 14 * DAY, device_id="lt-1")])
    assert signals == [[], []]


def test_short_gap_new_device_stays_weak():
    _, signals = run([vpn("e1", 0, device_id="lt-1"), vpn("e1", 3 * DAY, device_id="lt-2")])
    assert signals[1][0].score == 0.25


def test_a_new_device_stays_a_tell_while_in_use_for_its_first_120_hours():
    uses = [0, 1, 2, 8, 30, 71, 73, 90, 119, 121]  # hours after the new device's first sighting
    _, signals = run([vpn("e1", -48, device_id="lt-1")] + [vpn("e1", h, device_id="lt-2") for h in uses])
    raised = {h: s for h, s in zip(uses, signals[1:]) if s}
    # first sighting, then at most every 6 h, and never after 120 h
    assert sorted(raised) == [0, 8, 30, 71, 90, 119]
    assert all(s.score == 0.25 for [s] in raised.values())
    [again] = raised[30]
    assert "lt-2 (first seen 30 h ago) still in use" in again.summary and again.data["first_seen_h"] == 30.0


def test_only_the_newest_new_device_is_followed_and_known_devices_never_re_raise():
    _, signals = run([vpn("e1", 0, device_id="lt-1"), vpn("e1", 1, device_id="lt-2"),
                      vpn("e1", 2, device_id="lt-3"), vpn("e1", 20, device_id="lt-2"),
                      vpn("e1", 21, device_id="lt-1"), vpn("e1", 22, device_id="lt-3")])
    assert [len(s) for s in signals] == [0, 1, 1, 0, 0, 1]
    assert "lt-3 (first seen 20 h ago)" in signals[5][0].summary


def test_late_event_teaches_the_device_without_a_signal():
    state, signals = run([vpn("e1", 5, device_id="lt-1"), vpn("e1", 0, device_id="lt-2"),
                          vpn("e1", 6, device_id="lt-2")], late={1})
    assert signals == [[], [], []] and len(state.devices) == 2


def test_memory_is_bounded_and_recently_used_devices_survive():
    events = [vpn("e1", 0, device_id="lt-1")]
    for i in range(2, 20):
        events += [device("e1", i, device_id=f"d{i}", hostname=f"h{i}"), vpn("e1", i + 0.5, device_id="lt-1")]
    state, signals = run(events)
    assert len(state.devices) == 8
    assert all(s == [] for s in signals[2::2])  # lt-1 stays known while in use
    assert len(msgspec.msgpack.encode(state)) <= DeviceIdentity.max_state_bytes


def test_activity_after_termination_is_strong_and_re_raised_sparingly():
    gone = home_employee("e1", CHICAGO, status="terminated", updated_at=(T0 + dt.timedelta(hours=1)).isoformat())
    _, signals = run([vpn("e1", 0), vpn("e1", 2), device("e1", 3, hostname="lt-1"), vpn("e1", 9)], employee=gone)
    assert signals[0] == []  # before the status changed
    assert signals[1][0].score == 1.0 and "'terminated'" in signals[1][0].summary
    assert signals[2] == [] and len(signals[3]) == 1  # refreshed after 6 h, not on every event


def test_failed_login_after_termination_counts_half_and_leave_is_moderate():
    gone = home_employee("e1", CHICAGO, status="terminated")
    _, [[signal]] = run([vpn("e1", 0, outcome="failure")], employee=gone)
    assert signal.score == 0.5 and signal.summary.startswith("Failure VPN login from 203.0.113.10")
    away = home_employee("e1", CHICAGO, status="leave")
    _, [[signal]] = run([remote("e1", 0, "ssh")], employee=away)
    assert signal.score == 0.5 and signal.data["status"] == "leave"


def test_correlation_keys_device_and_mfa():
    detector = DeviceIdentity(ORG, {"shared_devices": ["vdi-pool-1"]})
    ctx = Context(org=ORG, employee=None)
    assert detector.correlation_keys(vpn("e1", 0, device_id="lt-1", mfa={"device_id": "phone-1"}), None, ctx) == [
        ("device_id", "lt-1"), ("mfa_device", "phone-1")]
    assert detector.correlation_keys(vpn("e1", 0, mfa={"device_id": "phone-1"}, outcome="failure"), None, ctx) == []
    assert detector.correlation_keys(device("e1", 0, device_id="vdi-pool-1"), None, ctx) == []
    assert detector.correlation_keys(remote("e1", 0, direction="inbound", device_id="lt-1"), None, ctx) == [
        ("device_id", "lt-1")]
    # An outbound session may name the server reached: engineers sharing a bastion are not sharing a device.
    assert detector.correlation_keys(remote("e1", 0, direction="outbound", device_id="bastion-1"), None, ctx) == []


def test_servers_reached_by_outbound_sessions_are_not_new_devices():
    _, signals = run([vpn("e1", 0, device_id="lt-1")] +
                     [remote("e1", h, "ssh", direction="outbound", device_id=f"srv-{h}") for h in range(1, 4)])
    assert signals == [[], [], [], []]


def observation(employee_id, hours, kind="mfa_device", value="phone-1", event_id=None):
    return KeyObservation(detector="device_identity", kind=kind, value=value, employee_id=employee_id,
                          time=T0.timestamp() + hours * 3600, event_id=event_id or f"{employee_id}-{hours}")


def fold(detector, observations, state=None):
    state = state if state is not None else detector.initial_key_state()
    out = []
    for obs in observations:
        state, signals = detector.correlate(obs, state)
        out.append(signals)
    return state, out


def test_one_mfa_device_approving_several_employees():
    detector = DeviceIdentity(ORG)
    state, out = fold(detector, [observation("e1", 0), observation("e1", 1), observation("e2", 2),
                                 observation("e3", 3)])
    assert out[:2] == [[], []]
    assert sorted(s.employee_id for s in out[2]) == ["e1", "e2"] and out[2][0].score == 0.7
    assert sorted(s.employee_id for s in out[3]) == ["e1", "e2", "e3"] and out[3][0].score == 0.9
    signal = out[3][0]
    assert signal.data["employees"] == ["e3", "e2", "e1"] and signal.group.startswith("shared-")
    assert "MFA device phone-1 approved logins for 3 employees" in signal.summary
    again, repeated = detector.correlate(observation("e3", 3), state)
    assert again is state and repeated == []


def test_shared_device_pair_and_reassignment_after_the_window():
    detector = DeviceIdentity(ORG)
    _, out = fold(detector, [observation("e1", 0, "device_id", "lt-1"), observation("e2", 1, "device_id", "lt-1")])
    assert [s.score for s in out[1]] == [0.5, 0.5]
    # A laptop wiped and reissued to a new hire a week later links nobody.
    _, out = fold(detector, [observation("e1", 0, "device_id", "lt-1"),
                             observation("e2", 7 * DAY, "device_id", "lt-1")])
    assert out == [[], []]


def test_key_state_is_bounded():
    detector = DeviceIdentity(ORG)
    state, _ = fold(detector, [observation(f"employee-{i:04d}", i * 0.1) for i in range(100)])
    assert len(state.ids) == 16 and state.ids[-1] == "employee-0099"
    encoded = msgspec.msgpack.encode(state)
    assert len(encoded) <= 8 * DeviceIdentity.max_state_bytes
    assert msgspec.msgpack.decode(encoded, type=Members) == state


def test_through_the_engine_one_phone_for_three_accounts_opens_three_cases():
    engine = Engine(Config(), detectors=[DeviceIdentity(ORG)])
    states, keys, cases = {}, {}, {}
    for hours, employee_id in enumerate(["e1", "e2", "e3"]):
        event = vpn(employee_id, hours, mfa={"method": "push", "device_id": "phone-7"}, device_id=f"lt-{employee_id}")
        step = engine.observe(event, states.get(employee_id), home_employee(employee_id, CHICAGO))
        states[employee_id] = step.state
        for obs in step.observations:
            keys[obs.kind, obs.value], signals = engine.correlate(obs, keys.get((obs.kind, obs.value)))[:2]
            for employee, group in _by_employee(signals).items():
                states[employee], changes = engine.fuse(states[employee], group, employee)
                cases.update({c.employee_id: c for c in changes})
    assert sorted(cases) == ["e1", "e2", "e3"] and all(c.activity == "create" for c in cases.values())
    assert len({c.case.group for c in cases.values()}) == 1
    assert cases["e1"].evidence["device_identity"].data["count"] == 3


def _by_employee(signals):
    grouped = {}
    for signal in signals:
        grouped.setdefault(signal.employee_id, []).append(signal)
    return grouped


@pytest.mark.parametrize("status", ["active", None])
def test_active_or_unknown_employee_raises_no_status_signal(status):
    employee = home_employee("e1", CHICAGO) if status else None
    _, signals = run([vpn("e1", 0), remote("e1", 1, "ssh")], employee=employee)
    assert signals == [[], []]


def test_a_new_device_during_leave_is_stronger_than_either_alone():
    on_leave = employee("e1", status="leave", devices=["lt-1"])
    detector = DeviceIdentity(ORG)
    state, [together] = detector.observe(device("e1", 0, device_id="lt-evil"), detector.initial_state(),
                                         Context(org=ORG, employee=on_leave))
    leave_alone = detector.p["leave_score"]
    unlisted_alone = detector.p["unlisted_device_score"]
    assert together.score == pytest.approx(1 - (1 - leave_alone) * (1 - unlisted_alone))
    assert "leave" in together.summary and "New device lt-evil" in together.summary
