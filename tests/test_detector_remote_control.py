"""remote_control: RMM tools, inbound sessions from outside, several vendors, mouse jigglers; approved tools exempt."""

from __future__ import annotations

import ipaddress

import pytest

from builders import CHICAGO, device, home_employee, remote
from telltales.detectors.base import Context, Org
from telltales.detectors.engine import Engine
from telltales.detectors.remote_control import RemoteControl
from telltales.schemas.config import Config

ORG = Org(office_networks=(ipaddress.ip_network("198.51.100.0/24"),),
          vpn_egress_networks=(ipaddress.ip_network("192.0.2.0/24"),),
          approved_tools=frozenset({"zoho_assist"}))
OUTSIDE = "203.0.113.200"
FAR = {"vantage": "ord", "rtt_ms": {"min": 12}, "input_ms": {"min": 130, "n": 40}}
NEAR = {"vantage": "ord", "rtt_ms": {"min": 12}, "input_ms": {"min": 25, "n": 40}}


def run(events, employee=None, org=ORG, detector=None):
    detector = detector or RemoteControl(org)
    state = detector.initial_state()
    signals = []
    for event in events:
        state, raised = detector.observe(event, state, Context(org=org, employee=employee))
        signals.append(raised)
    return state, signals


def only(signals):
    assert len(signals) == 1, signals
    return signals[0]


def test_unapproved_rmm_process_is_a_weak_signal():
    _, [raised] = run([device("e1", 0, processes=["AnyDesk.exe", "Slack", "Code.exe"], device_id="lt-1")])
    signal = only(raised)
    assert signal.score == 0.5 and signal.data["tools"] == ["anydesk"] and signal.data["reasons"] == ["rmm"]
    assert "AnyDesk" in signal.summary and signal.data["device_id"] == "lt-1"


def test_ordinary_processes_change_nothing():
    detector = RemoteControl(ORG)
    state = detector.initial_state()
    new, raised = detector.observe(device("e1", 0, processes=["slack", "code", "zoom"]), state,
                                   Context(org=ORG, employee=None))
    assert new is state and raised == []


def test_approved_it_admin_raises_nothing_for_their_tool():
    admin = home_employee("it1", CHICAGO, role="IT admin", approved_remote_tools=["TeamViewer"])
    _, signals = run([device("it1", 0, processes=["TeamViewer_Service.exe"]),
                      remote("it1", 1, "teamviewer", direction="inbound", peer_ip=OUTSIDE, latency=FAR),
                      remote("it1", 2, "teamviewer", direction="outbound", peer_ip=OUTSIDE)], employee=admin)
    assert signals == [[], [], []]
    # ...but the same admin's unapproved AnyDesk still counts.
    _, [raised] = run([device("it1", 3, processes=["teamviewer", "anydesk"])], employee=admin)
    assert only(raised).data["tools"] == ["anydesk"]


def test_org_wide_approved_tool_is_exempt():
    _, signals = run([device("e1", 0, processes=["zohoassist"]),
                      remote("e1", 1, "Zoho Assist", direction="inbound", peer_ip=OUTSIDE)])
    assert signals == [[], []]


def test_several_rmm_vendors_on_one_host():
    _, [raised] = run([device("e1", 0, processes=["anydesk", "rustdesk", "remoting_host"])])
    signal = only(raised)
    assert signal.data["reasons"] == ["multiple_rmm"] and signal.score == pytest.approx(0.8)
    assert signal.data["tools"] == ["anydesk", "chrome_remote_desktop", "rustdesk"]


def test_several_vendors_across_a_week_but_not_beyond():
    _, signals = run([device("e1", 0, processes=["anydesk"]),
                      remote("e1", 48, "RustDesk", direction="outbound", peer_ip=OUTSIDE),
                      device("e1", 24 * 12, processes=["rustdesk"])])
    assert [only(s).data["reasons"] for s in signals] == [["rmm"], ["multiple_rmm"], ["rmm"]]
    assert only(signals[1]).score == pytest.approx(0.7)


def test_mouse_jiggler_and_tunnel_are_weak():
    _, [jiggle, tunnel] = run([device("e1", 0, processes=["MouseJiggler.exe"]), device("e1", 1, processes=["ngrok"])])
    assert only(jiggle).score == 0.35 and only(jiggle).data["reasons"] == ["mouse_jiggler"]
    assert only(tunnel).score == 0.3


def test_inbound_session_from_outside_is_strong_and_a_long_path_stronger():
    _, [near, far] = run([remote("e1", 0, "anydesk", direction="inbound", peer_ip=OUTSIDE, latency=NEAR),
                          remote("e1", 1, "anydesk", direction="inbound", peer_ip="203.0.113.201", latency=FAR)])
    assert only(near).score == 0.95 and only(near).data["reasons"] == ["inbound_outside", "rmm"]
    assert only(far).score == 1.0 and only(far).data["path_ms"] == 130 and "130 ms" in only(far).summary
    assert only(far).data["peer_ip"] == "203.0.113.201" and only(far).data["direction"] == "inbound"


def test_inbound_rdp_from_outside_is_strong_but_below_an_rmm_tool():
    _, [raised] = run([remote("e1", 0, "mstsc", direction="inbound", peer_ip=OUTSIDE, latency=NEAR)])
    assert only(raised).score == 0.8


def test_inbound_rdp_from_outside_without_peer_address():
    _, [raised] = run([remote("e1", 0, "mstsc", direction="inbound")])
    assert only(raised).score == 0.65 and "unreported address" in only(raised).summary


def test_inbound_unknown_tool_from_outside_counts_less():
    _, [raised] = run([remote("e1", 0, "SomeNewDesk", direction="inbound", peer_ip=OUTSIDE)])
    assert only(raised).score == pytest.approx(0.56)


@pytest.mark.parametrize("peer", ["198.51.100.7", "192.0.2.40", "192.168.1.20", "fe80::1"])
def test_inbound_from_office_vpn_or_lan_is_not_from_outside(peer):
    _, [rdp, anydesk] = run([remote("e1", 0, "rdp", direction="inbound", peer_ip=peer, latency=FAR),
                             remote("e1", 1, "anydesk", direction="inbound", peer_ip=peer, latency=FAR)])
    assert rdp == []
    assert only(anydesk).data["reasons"] == ["rmm"] and only(anydesk).score == 0.5  # still an unapproved tool


def test_engineer_outbound_ssh_and_rdp_are_normal():
    engineer = home_employee("e1", CHICAGO, role="engineer")
    _, signals = run([remote("e1", h, tool, direction="outbound", peer_ip="203.0.113.9", latency=FAR)
                      for h, tool in enumerate(["ssh", "rdp", "citrix", "ssh"])], employee=engineer)
    assert signals == [[], [], [], []]


def test_same_findings_are_re_raised_only_after_the_refresh_interval():
    state, signals = run([device("e1", h, processes=["anydesk"]) for h in (0, 1, 5, 7)])
    assert [len(s) for s in signals] == [1, 0, 0, 1]
    # A new finding is not held back by the interval.
    _, signals = run([device("e1", 0, processes=["anydesk"]), device("e1", 1, processes=["anydesk", "parsec"])])
    assert [len(s) for s in signals] == [1, 1]


def test_state_stays_small_and_forgets_old_tools():
    tools = ["anydesk", "teamviewer", "rustdesk", "parsec", "splashtop", "radmin", "ammyy", "supremo", "todesk"]
    state, _ = run([device("e1", 3 * i, processes=[tool]) for i, tool in enumerate(tools)])
    assert len(state.tools) <= 6 and state.tools[-1] == "todesk"
    state, _ = run([device("e1", 0, processes=["anydesk"]), device("e1", 24 * 30, processes=["parsec"])])
    assert state.tools == ["parsec"]


def test_works_without_directory_record_or_optional_fields():
    _, signals = run([device("e1", 0), remote("e1", 1, "anydesk"), remote("e1", 2, "ssh", direction="inbound")])
    assert signals[0] == [] and only(signals[1]).score == 0.5 and only(signals[2]).score == 0.65


def test_through_the_engine_a_far_inbound_session_opens_a_case_and_an_rmm_tool_alone_does_not():
    engine = Engine(Config(), detectors=[RemoteControl(ORG)])
    employee = home_employee("e1", CHICAGO)
    step = engine.observe(device("e1", 0, processes=["anydesk"]), None, employee)
    state, changes = engine.fuse(step.state, step.signals, "e1")
    assert changes == [] and 30 < engine.fusion.risk(state.fusion, step.signals[0].time) < 40
    inbound = remote("e1", 1, "anydesk", direction="inbound", peer_ip=OUTSIDE, latency=FAR)
    step = engine.observe(inbound, state, employee)
    state, changes = engine.fuse(step.state, step.signals, "e1")
    assert [c.activity for c in changes] == ["create"] and changes[0].risk >= 60
    assert changes[0].evidence["remote_control"].data["path_ms"] == 130
