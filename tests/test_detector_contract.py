"""One contract suite run over every registered detector (the river `check_estimator` habit).

A new detector gets these checks for free: complete metadata and unique ids, state that
round-trips through msgpack and stays within its bound, no mutation of its inputs,
scoring before any learning, tolerance of missing optional fields, and idempotence
through the engine on a repeated event.
"""

from __future__ import annotations

import copy
import ipaddress
import re

import msgspec
import pytest

from builders import CHICAGO, SEOUL, device, geo, home_employee, remote, vpn
from telltales.detectors import registry
from telltales.detectors.base import KEY_KINDS, Context, Detector, KeyObservation, Org, Signal
from telltales.detectors.engine import Engine
from telltales.schemas.config import Config, VantagePoint

DETECTORS = registry.discover()
ATTACK_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
ORG = Org(
    vantage_points={"ord": VantagePoint(lat=41.98, lon=-87.90, name="Chicago"),
                    "iad": VantagePoint(lat=38.94, lon=-77.45, name="Ashburn")},
    office_networks=(ipaddress.ip_network("198.51.100.0/24"),),
    vpn_egress_networks=(ipaddress.ip_network("192.0.2.0/24"),),
)


def rich_events():
    """Events with most optional fields set, a few hours apart, from one employee."""
    return [
        vpn("e1", 0, "203.0.113.10", geo=geo(CHICAGO), asn={"number": 7922, "org": "Comcast"},
            mfa={"method": "push", "device_id": "phone-1"}, client={"os": "macOS"}),
        device("e1", 1, hostname="lt-1", os="macOS 15", timezone="Asia/Seoul", locale="ko-KR",
               keyboard_layouts=["com.apple.keylayout.2SetKorean"], public_ip="203.0.113.10",
               wifi={"ssid": "home", "bssid": "AA:BB:CC:00:11:22"}, gateway_mac="aa:bb:cc:00:11:23",
               processes=["AnyDesk.exe", "Slack"], device_id="lt-1",
               usb_devices=[{"vendor_id": "1d6b", "product_id": "0104", "product": "PiKVM"}],
               displays=[{"name": "PiKVM", "manufacturer": "PiKVM"}],
               latency={"vantage": "ord", "rtt_ms": {"min": 12, "p50": 14, "p95": 30, "n": 20},
                        "input_ms": {"min": 110, "p50": 120, "p95": 160, "n": 40}}),
        remote("e1", 2, "anydesk", direction="inbound", peer_ip="203.0.113.200", duration_s=3600,
               latency={"vantage": "ord", "rtt_ms": {"min": 12}, "input_ms": {"min": 115, "n": 30}}),
        vpn("e1", 3, "203.0.113.77", geo=geo(SEOUL), anonymizer={"type": "vpn", "provider": "Astrill"}),
    ]


def bare_events():
    """The same kinds of event with only the required fields."""
    return [vpn("e1", 0), device("e1", 1), remote("e1", 2, "ssh"), vpn("e1", 30, "203.0.113.99")]


def make(cls: type[Detector]) -> Detector:
    return cls(ORG)


def run(detector: Detector, events, employee=None):
    state = detector.initial_state()
    signals: list[Signal] = []
    for event in events:
        if event.__struct_config__.tag in detector.event_types:
            ctx = Context(org=ORG, employee=employee)
            state, raised = detector.observe(event, state, ctx)
            signals.extend(raised)
    return state, signals


def test_every_detector_module_is_registered():
    # discover() raises if a module in detectors/ is not exactly one detector named after its file.
    assert sorted(DETECTORS) == registry.detector_modules()
    assert DETECTORS, "no detectors found"


@pytest.mark.parametrize("detector_id", sorted(DETECTORS))
def test_metadata_is_complete(detector_id):
    cls = DETECTORS[detector_id]
    assert cls.id == detector_id
    for name in ("title", "description", "runbook"):
        assert isinstance(getattr(cls, name, None), str) and getattr(cls, name).strip(), f"{name} missing"
    assert cls.severity in ("informational", "low", "medium", "high", "critical")
    assert cls.status in ("stable", "experimental", "shadow")
    assert 0.0 < cls.weight <= 1.0
    assert cls.attacks and all(ATTACK_ID.match(a) for a in cls.attacks), cls.attacks
    assert cls.event_types and set(cls.event_types) <= {"vpn_login", "remote_session", "device_snapshot"}
    assert set(cls.key_kinds) <= set(KEY_KINDS)
    if cls.State is not None:
        assert cls.State.__struct_config__.frozen, "state must be a frozen Struct (no in-place mutation)"


def test_titles_are_unique():
    titles = [cls.title for cls in DETECTORS.values()]
    assert len(titles) == len(set(titles))


@pytest.mark.parametrize("detector_id", sorted(DETECTORS))
@pytest.mark.parametrize("events", [rich_events, bare_events], ids=["rich", "bare"])
def test_scores_without_history_and_tolerates_missing_fields(detector_id, events):
    detector = make(DETECTORS[detector_id])
    for employee in (None, home_employee("e1", CHICAGO)):
        state, signals = run(detector, events(), employee)
        for signal in signals:
            assert signal.detector == detector_id and 0.0 <= signal.score <= 1.0 and signal.summary
            msgspec.json.encode(signal.data)  # evidence data must be plain JSON values


@pytest.mark.parametrize("detector_id", sorted(DETECTORS))
def test_does_not_mutate_inputs(detector_id):
    detector = make(DETECTORS[detector_id])
    state = detector.initial_state()
    employee = home_employee("e1", CHICAGO)
    for event in rich_events():
        if event.__struct_config__.tag not in detector.event_types:
            continue
        before_event = msgspec.msgpack.encode(event)
        before_state = copy.deepcopy(msgspec.msgpack.encode(state))
        new_state, _ = detector.observe(event, state, Context(org=ORG, employee=employee))
        assert msgspec.msgpack.encode(event) == before_event
        assert msgspec.msgpack.encode(state) == before_state
        state = new_state


@pytest.mark.parametrize("detector_id", sorted(DETECTORS))
def test_state_round_trips_and_stays_bounded(detector_id):
    cls = DETECTORS[detector_id]
    detector = make(cls)
    if cls.State is None:
        assert detector.initial_state() is None
        return
    state = detector.initial_state()
    employee = home_employee("e1", CHICAGO)
    for day in range(30):  # a month of varied activity must not grow the state past its bound
        for event in rich_events() + bare_events():
            if event.__struct_config__.tag in cls.event_types:
                state, _ = detector.observe(_shift(event, day * 24), state, Context(org=ORG, employee=employee))
        encoded = msgspec.msgpack.encode(state)
        assert len(encoded) <= cls.max_state_bytes, f"{len(encoded)} bytes after day {day}"
        assert msgspec.msgpack.decode(encoded, type=cls.State) == state


def _shift(event, hours: float):
    import datetime as dt

    return msgspec.structs.replace(event, ts=event.ts + dt.timedelta(hours=hours),
                                   event_id=f"{event.event_id}+{hours}")


@pytest.mark.parametrize("detector_id", sorted(DETECTORS))
def test_repeated_event_changes_nothing_through_the_engine(detector_id):
    engine = Engine(Config(), detectors=[make(DETECTORS[detector_id])])
    employee = home_employee("e1", CHICAGO)
    state = None
    for event in rich_events():
        step = engine.observe(event, state, employee)
        state = step.state
        again = engine.observe(event, state, employee)
        assert again.duplicate and again.state is state and not again.signals and not again.observations


@pytest.mark.parametrize("detector_id", sorted(d for d, c in DETECTORS.items() if c.key_kinds))
def test_correlation_is_idempotent_and_bounded(detector_id):
    cls = DETECTORS[detector_id]
    detector = make(cls)
    state = detector.initial_key_state()
    for i in range(200):
        observation = KeyObservation(detector=detector_id, kind=cls.key_kinds[0], value="203.0.113.10",
                                     employee_id=f"e{i % 50}", time=1_772_442_000.0 + 600 * i, event_id=f"x{i}")
        state, _ = detector.correlate(observation, state)
        again, _ = detector.correlate(observation, state)
        assert again == state
    encoded = msgspec.msgpack.encode(state)
    assert msgspec.msgpack.decode(encoded, type=cls.KeyState) == state
    assert len(encoded) <= cls.max_state_bytes * 8
