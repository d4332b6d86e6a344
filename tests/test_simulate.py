"""The simulator: deterministic, physically honest, contract-valid, and labelled consistently with its events."""

from __future__ import annotations

import collections
import datetime as dt
import ipaddress
import json

import msgspec
import pytest

from telltales.detectors.geo import haversine_km, min_rtt_ms
from telltales.schemas.config import parse
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import DeviceSnapshot, Employee, RemoteSession, VpnLogin
from telltales.schemas.rejections import Rejection
from telltales.schemas.vocabulary import TOOLS
from telltales.streams import simdata
from telltales.streams.cli import main as cli
from telltales.streams.simulate import (
    SCENARIOS, VANTAGE_POINTS, Simulation, _Generator, rfc3339, simulate,
)
from telltales.streams.topics import topic_value

SMALL = {"employees": 200, "days": 3}


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(**SMALL, seed=11)


@pytest.fixture(scope="module")
def week() -> Simulation:
    return simulate(employees=400, days=7, seed=5)


def _read(out):
    return {name: (out / name).read_bytes() for name in ("events.jsonl", "labels.json", "telltales.toml")}


def test_same_seed_same_bytes_and_different_seeds_differ(tmp_path):
    args = ["simulate", "--employees", "200", "--days", "3"]
    assert cli([*args, "--seed", "7", "--out", str(tmp_path / "a")]) == 0
    assert cli([*args, "--seed", "7", "--out", str(tmp_path / "b")]) == 0
    assert cli([*args, "--seed", "8", "--out", str(tmp_path / "c")]) == 0
    a, b, c = _read(tmp_path / "a"), _read(tmp_path / "b"), _read(tmp_path / "c")
    assert a == b
    assert a["events.jsonl"] != c["events.jsonl"] and a["labels.json"] != c["labels.json"]


def test_simulate_needs_an_output(capsys):
    assert cli(["simulate", "--employees", "10", "--days", "1"]) == 2
    assert "--out" in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_made_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli(["simulate", "--employees", "10", "--days", "1", "--out", str(blocker / "sim")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"telltales simulate: cannot write to {blocker / 'sim'}: Not a directory"


def test_every_line_decodes_employees_first_then_telemetry_in_time_order(sim):
    decoder = Decoder()
    events = []
    for line in sim.lines():
        assert line.startswith(b'{"event_type":"')
        event = decoder.decode(line)
        assert not isinstance(event, Rejection), (event, line[:300])
        events.append(event)
    kinds = [isinstance(e, Employee) for e in events]
    n = kinds.index(False)
    assert n == SMALL["employees"] and not any(kinds[n:])
    times = [e.ts for e in events[n:]]
    assert times == sorted(times)
    assert len({e.event_id for e in events}) == len(events), "no two events are identical"


def test_written_files_match_the_in_memory_simulation(sim, tmp_path):
    paths = sim.write(tmp_path)
    lines = paths["events"].read_bytes().splitlines()
    assert lines == list(sim.lines())
    assert json.loads(paths["labels"].read_text()) == json.loads(json.dumps(sim.labels))


def test_config_parses_and_covers_the_vantage_points_and_org_networks(sim):
    config = parse(sim.config_toml)
    assert set(config.vantage_points) == set(VANTAGE_POINTS)
    assert config.networks.office and config.networks.vpn_egress
    org = [ipaddress.ip_network(c) for c in [*config.networks.office, *config.networks.vpn_egress]]
    offices = [ipaddress.ip_network(c) for c in config.networks.office]
    shared = collections.defaultdict(set)
    for e in sim.telemetry:
        latency = getattr(e.event, "latency", None)
        if latency is not None:
            assert latency.vantage in config.vantage_points
        ip = getattr(e.event, "src_ip", None) or getattr(e.event, "public_ip", None)
        if ip is not None:
            address = ipaddress.ip_address(ip)
            assert address.is_global, ip  # never RFC 1918 or documentation space
            shared[ip].add(e.event.employee_id)
    office_users = max((len(u) for ip, u in shared.items() if any(ipaddress.ip_address(ip) in n for n in offices)), default=0)
    assert office_users >= 5, "office NAT puts many employees behind one address"
    big = {ip for ip, users in shared.items() if len(users) > 6}
    assert all(any(ipaddress.ip_address(ip) in n for n in org) for ip in big), "only org networks are shared widely"


def test_no_rtt_beats_light_in_fibre(week):
    checked = 0
    for e in week.telemetry:
        latency = getattr(e.event, "latency", None)
        if latency is None or latency.rtt_ms is None:
            continue
        vantage = VANTAGE_POINTS[latency.vantage]
        bound = min_rtt_ms(haversine_km(e.lat, e.lon, vantage.lat, vantage.lon))
        assert latency.rtt_ms.min >= bound, (e.event.employee_id, latency, bound)
        assert latency.rtt_ms.min <= latency.rtt_ms.p50 <= latency.rtt_ms.p95
        if latency.input_ms is not None:
            assert latency.input_ms.min >= latency.rtt_ms.min
        checked += 1
    assert checked > 1000


def test_normal_claimed_homes_respect_the_fibre_bound_at_home(week):
    """Black-box form: a non-travelling, non-operative employee's RTT from the home network never beats physics from the claimed home."""
    employees = {e.employee_id: e for e in week.employees}
    cohorts = week.labels["cohorts"]
    home_ip = {}
    for e in week.telemetry:
        ev = e.event
        if isinstance(ev, VpnLogin) and ev.employee_id not in week.labels["operatives"] and ev.asn and \
                "traveller" not in cohorts.get(ev.employee_id, []) and "offsite" not in cohorts.get(ev.employee_id, []):
            home_ip.setdefault(ev.employee_id, ev.src_ip)
    for e in week.telemetry:
        ev = e.event
        if isinstance(ev, DeviceSnapshot) and ev.latency and home_ip.get(ev.employee_id) == ev.public_ip:
            home = employees[ev.employee_id].home
            vantage = VANTAGE_POINTS[ev.latency.vantage]
            slack_km = 30  # claimed home vs the device: same address, coordinates rounded
            bound = min_rtt_ms(max(0.0, haversine_km(home.lat, home.lon, vantage.lat, vantage.lon) - slack_km))
            assert ev.latency.rtt_ms.min >= bound


def test_keystroke_delay_is_local_echo_for_people_at_the_device_and_the_planted_excess_for_operatives(week):
    operatives = week.labels["operatives"]
    excess = {uid: o["params"].get("input_excess_ms") for uid, o in operatives.items()}
    seen = collections.Counter()
    for e in week.telemetry:
        latency = getattr(e.event, "latency", None)
        if latency is None or latency.input_ms is None:
            continue
        uid = e.event.employee_id
        gap = latency.input_ms.min - latency.rtt_ms.min
        planted = excess.get(uid)
        if planted is None:
            assert 1.9 <= gap <= 8.1, (uid, gap)
        else:
            # planted excess + 2-8 ms local echo + up to 4 ms of operator-path jitter, rounding to 0.1 ms
            assert planted + 1.8 <= gap <= planted + 12.3, (uid, gap, planted)
            seen[operatives[uid]["scenario"]] += 1
    assert seen["laptop_farm"] and seen["remote_control"]


def test_operatives_labelled_per_kind_and_consistent_with_events(week):
    labels = week.labels
    assert labels["format"] == 1 and labels["employees"] == 400 and labels["days"] == 7
    ids = {e.employee_id for e in week.employees}
    operatives = labels["operatives"]
    counts = collections.Counter(o["scenario"] for o in operatives.values())
    assert all(counts[k] >= 1 for k in SCENARIOS), counts
    assert counts["laptop_farm"] >= 3
    times: dict[str, set[str]] = collections.defaultdict(set)
    for e in week.telemetry:
        times[e.event.employee_id].add(rfc3339(e.ts_ms))
    for uid, o in operatives.items():
        assert uid in ids
        assert o["first_telling_time"] in times[uid], uid
        first_event = min(e.ts_ms for e in week.telemetry if e.event.employee_id == uid)
        assert o["first_telling_time"] >= rfc3339(first_event)
        assert (o["group"] is not None) == (o["scenario"] == "laptop_farm")
    assert not set(labels["cohorts"]) & set(operatives)


def test_farm_members_share_one_residential_ip_bssid_and_gateway_mac(week):
    groups = week.labels["scenario_params"]["farm_groups"]
    assert groups
    for gid, group in groups.items():
        members = [uid for uid, o in week.labels["operatives"].items() if o["group"] == gid]
        assert sorted(members) == sorted(group["members"]) and len(members) >= 3
        seen = collections.defaultdict(set)
        for e in week.telemetry:
            ev = e.event
            if ev.employee_id in members and isinstance(ev, DeviceSnapshot):
                if ev.wifi is not None:
                    seen["bssid", ev.wifi.bssid].add(ev.employee_id)
                if ev.gateway_mac is not None:
                    seen["gw", ev.gateway_mac].add(ev.employee_id)
            if ev.employee_id in members and isinstance(ev, VpnLogin):
                seen["ip", ev.src_ip].add(ev.employee_id)
        assert seen["bssid", group["bssid"]] == set(members)
        assert seen["gw", group["gateway_mac"]] == set(members)
        assert seen["ip", group["ip"]] == set(members)


def test_planted_tells_appear_in_the_events(week):
    operatives = week.labels["operatives"]
    found = collections.defaultdict(set)
    for e in week.telemetry:
        ev = e.event
        uid = ev.employee_id
        if uid not in operatives:
            continue
        if isinstance(ev, DeviceSnapshot):
            for usb in ev.usb_devices or ():
                if (usb.vendor_id, usb.product_id) == ("1d6b", "0104"):
                    found[uid].add("kvm_usb")
            for layout in ev.keyboard_layouts or ():
                if layout == "ko-KR":
                    found[uid].add("ko_layout")
        if isinstance(ev, RemoteSession) and ev.direction == "inbound":
            found[uid].add("inbound:" + ev.tool)
        if isinstance(ev, VpnLogin) and ev.anonymizer and ev.anonymizer.type == "vpn":
            found[uid].add("vpn")
        if isinstance(ev, VpnLogin) and ev.geo and ev.geo.country not in ("US",):
            found[uid].add("foreign_login")
    for uid, o in operatives.items():
        params = o["params"]
        if o["scenario"] == "remote_control":
            assert "inbound:" + params["tool"] in found[uid]
        if o["scenario"] == "vpn_offshore":
            assert "foreign_login" in found[uid], "at least one slip reveals the real country"
        if o["scenario"] == "dormant_hijack":
            assert any(e.event.device_id == params["new_device_id"] for e in week.telemetry if e.event.employee_id == uid)
        if o["scenario"] == "quiet":
            assert len(params["tells"]) >= 2


def test_scenario_parameters_are_drawn_per_seed():
    a = simulate(employees=300, days=2, seed=1).labels
    b = simulate(employees=300, days=2, seed=2).labels
    draws = lambda labels: sorted(json.dumps(o["params"], sort_keys=True) for o in labels["operatives"].values())  # noqa: E731
    assert draws(a) != draws(b)
    assert a["scenario_params"]["operative_rate"] != b["scenario_params"]["operative_rate"]


def test_operative_share_is_about_half_to_one_percent_at_default_size():
    labels = simulate(employees=2000, days=1, seed=4).labels
    share = len(labels["operatives"]) / 2000
    assert 0.004 <= share <= 0.0125
    assert set(o["scenario"] for o in labels["operatives"].values()) == set(SCENARIOS)


def test_event_mix_per_employee_day_looks_like_real_logs(week):
    per_day = len(week.telemetry) / (400 * 7)
    assert 7 <= per_day <= 15, per_day
    kinds = collections.Counter(type(e.event).__name__ for e in week.telemetry)
    assert kinds["DeviceSnapshot"] > kinds["VpnLogin"] > 0 and kinds["RemoteSession"] > 0
    failures = sum(1 for e in week.telemetry if isinstance(e.event, VpnLogin) and e.event.outcome == "failure")
    assert 0 < failures < kinds["VpnLogin"] * 0.1
    partial = sum(1 for e in week.telemetry if isinstance(e.event, DeviceSnapshot) and e.event.processes is None)
    assert partial > kinds["DeviceSnapshot"] / 2, "most snapshots report only part of the device"


def test_hard_negatives_are_present(week):
    tags = collections.Counter(t for ts in week.labels["cohorts"].values() for t in ts)
    for cohort in ("couple", "office", "traveller", "it_staff"):
        assert tags[cohort] > 0, cohort
    employees = {e.employee_id: e for e in week.employees}
    it = [uid for uid, ts in week.labels["cohorts"].items() if "it_staff" in ts]
    assert all(employees[uid].approved_remote_tools for uid in it)
    helpdesk = week.labels["scenario_params"]["helpdesk_tool"]
    assert any(isinstance(e.event, RemoteSession) and e.event.tool == helpdesk and e.event.employee_id in it
               for e in week.telemetry)


def test_some_travellers_bring_a_second_unlisted_device_used_only_on_the_trip(week):
    cohort = week.labels["scenario_params"]["trip_device"]["employees"]
    assert cohort
    employees = {e.employee_id: e for e in week.employees}
    by_device: dict[tuple[str, str], list] = collections.defaultdict(list)
    for e in week.telemetry:
        if e.event.employee_id in cohort:
            by_device[(e.event.employee_id, e.event.device_id)].append(e)
    for uid in cohort:
        assert {"traveller", "offsite"} & set(week.labels["cohorts"][uid])
        record = employees[uid]
        extra = [d for (u, d) in by_device if u == uid and d not in record.devices]
        assert len(extra) == 1, (uid, extra)
        events = by_device[(uid, extra[0])]
        home = record.home
        assert all(haversine_km(home.lat, home.lon, e.lat, e.lon) > 250 for e in events), "used only away from home"
        if any(isinstance(e.event, VpnLogin) and e.event.client.os.startswith("iPadOS") for e in events):
            assert all(isinstance(e.event, VpnLogin) for e in events), "a personal tablet runs no agents"
        usual_ips = {e.event.src_ip for (u, d), es in by_device.items() if u == uid and d in record.devices
                     for e in es if isinstance(e.event, VpnLogin)}
        second_ips = {e.event.src_ip for e in events if isinstance(e.event, VpnLogin)}
        assert second_ips & usual_ips, "the second device logs in at the hotel where the usual laptop does"


def test_some_employees_come_back_from_days_off_on_a_device_never_seen_before(week):
    params = week.labels["scenario_params"]["returner"]
    cohort = params["employees"]
    assert 0.02 <= params["rate"] <= 0.04 and cohort
    employees = {e.employee_id: e for e in week.employees}
    usual = {uid: employees[uid].aliases[-1] for uid in cohort}  # the first laptop's hostname
    kinds = collections.Counter()
    for uid in cohort:
        tags = week.labels["cohorts"][uid]
        kind = "holiday" if "holiday" in tags else "new_laptop"
        kinds[kind] += 1
        assert "returner" in tags and "traveller" not in tags
        events = [e for e in week.telemetry if e.event.employee_id == uid]
        record = employees[uid]
        first = events[0].event.device_id
        assert first in record.devices
        on_first = [e.ts_ms for e in events if e.event.device_id == first]
        others = [e for e in events if e.event.device_id != first]
        ends = on_first + [week.telemetry[-1].ts_ms]
        gaps = [b - a for a, b in zip(ends, ends[1:])]
        silence = max(gaps)
        assert silence >= 3 * 24 * 3_600_000 - 2 * 3_600_000, "silent for days off (at least three days)"
        gap_start = ends[gaps.index(silence)]
        assert {e.event.device_id for e in others} <= {e.event.device_id for e in others[:1]}, "one other device"
        if kind == "holiday":
            assert all(isinstance(e.event, VpnLogin) for e in others), "a personal device runs no agents"
            assert all(e.event.device_id not in record.devices for e in others)
            assert all(haversine_km(record.home.lat, record.home.lon, e.lat, e.lon) > 1000 for e in others)
            assert all(gap_start < e.ts_ms < gap_start + silence for e in others), "abroad only during the silence"
        elif others:
            assert others[0].ts_ms >= gap_start + silence - 1 and max(on_first) <= gap_start, \
                "the replacement takes over after the silence, the old laptop is never seen again"
            assert {e.event.hostname for e in others if isinstance(e.event, DeviceSnapshot) and e.event.hostname} \
                .isdisjoint({usual[uid]})
    assert kinds["holiday"] and kinds["new_laptop"]


def test_the_returner_cohort_changes_only_its_members_events(monkeypatch):
    with_cohort = simulate(employees=200, days=7, seed=2)
    monkeypatch.setattr(_Generator, "_returners", lambda self: None)
    without = simulate(employees=200, days=7, seed=2)
    cohort = set(with_cohort.labels["scenario_params"]["returner"]["employees"])
    assert cohort
    encode = msgspec.json.encode
    assert [encode(e.event) for e in with_cohort.telemetry if e.event.employee_id not in cohort] == \
        [encode(e.event) for e in without.telemetry if e.event.employee_id not in cohort]
    assert [e for e in with_cohort.employees if e.employee_id not in cohort] == \
        [e for e in without.employees if e.employee_id not in cohort]
    for uid in cohort:  # fewer events of the usual laptop: the silence
        assert sum(e.event.employee_id == uid for e in with_cohort.telemetry) != \
            sum(e.event.employee_id == uid for e in without.telemetry)


def test_the_trip_device_cohort_leaves_every_other_event_unchanged(monkeypatch):
    with_cohort = simulate(employees=200, days=7, seed=2)
    monkeypatch.setattr(_Generator, "_returners", lambda self: None)  # (tested above)
    with_cohort = simulate(employees=200, days=7, seed=2)
    monkeypatch.setattr(_Generator, "_plan_trip_devices", lambda self, normals: None)
    without = simulate(employees=200, days=7, seed=2)
    known = {(e.event.employee_id, e.event.device_id) for e in without.telemetry}
    added = [e for e in with_cohort.telemetry if (e.event.employee_id, e.event.device_id) not in known]
    cohort = with_cohort.labels["scenario_params"]["trip_device"]["employees"]
    assert added and {e.event.employee_id for e in added} <= set(cohort)
    encode = msgspec.json.encode
    assert [encode(e.event) for e in with_cohort.telemetry if e not in added] == \
        [encode(e.event) for e in without.telemetry]
    assert with_cohort.employees == without.employees


def test_travellers_move_no_faster_than_an_airliner():
    s = simulate(employees=600, days=10, seed=3)
    travellers = {uid for uid, tags in s.labels["cohorts"].items() if "traveller" in tags or "offsite" in tags}
    assert travellers
    last: dict[str, tuple[int, float, float]] = {}
    for e in s.telemetry:
        uid = e.event.employee_id
        if uid not in travellers or e.lat is None:
            continue
        if uid in last:
            t0, lat0, lon0 = last[uid]
            km = haversine_km(lat0, lon0, e.lat, e.lon)
            hours = (e.ts_ms - t0) / 3_600_000
            assert km < 50 or km / max(hours, 1e-9) < 1000, (uid, km, hours)
        last[uid] = (e.ts_ms, e.lat, e.lon)


def test_every_tool_name_emitted_maps_to_the_vocabulary(week):
    for e in week.telemetry:
        if isinstance(e.event, RemoteSession):
            assert e.event.tool in TOOLS, e.event.tool
    from telltales.schemas.vocabulary import canonical_tool

    for windows, mac in simdata.TOOL_PROCESS.values():
        assert canonical_tool(windows) in TOOLS and canonical_tool(mac) in TOOLS, (windows, mac)


def test_topic_value_drops_event_type_and_keeps_everything_else(sim):
    decoder = {t: Decoder(t) for t in ("vpn_login", "remote_session", "device_snapshot", "employee")}
    for event in [*sim.employees[:3], *(e.event for e in sim.telemetry[:50])]:
        value = topic_value(event)
        assert b'"event_type"' not in value
        tag = type(event).__struct_config__.tag
        assert decoder[tag].decode(value) == Decoder().decode(msgspec.json.encode(event))


@pytest.mark.kafka
@pytest.mark.slow
def test_live_mode_produces_to_the_spec_topics_with_raw_keys(kafka_bootstrap, topic_prefix, tmp_path):
    from kafka import KafkaConsumer

    from telltales.streams.topics import create_topics

    names = {"vpn": "telemetry.vpn", "remote_access": "telemetry.remote_access", "device": "telemetry.device",
             "employees": "directory.employees", "alerts": "siem.alerts", "dlq": "telltales.dlq"}
    toml = "\n".join(f'{k} = "{topic_prefix}{v}"' for k, v in names.items())
    config_path = tmp_path / "telltales.toml"
    config_path.write_text(f'[kafka]\nbootstrap_servers = "{kafka_bootstrap}"\n[topics]\n{toml}\npartitions = 2\n')
    config = parse(config_path.read_text())
    create_topics(config)
    assert cli(["simulate", "--employees", "12", "--days", "1", "--seed", "3", "--kafka", kafka_bootstrap,
                "--rate", "0", "--config", str(config_path)]) == 0
    expected = simulate(employees=12, days=1, seed=3)
    consumer = KafkaConsumer(*[f"{topic_prefix}{names[k]}" for k in ("vpn", "remote_access", "device", "employees")],
                             bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        records = list(consumer)
    finally:
        consumer.close()
    assert len(records) == len(expected.employees) + len(expected.telemetry)
    ids = {e.employee_id for e in expected.employees}
    for record in records:
        assert record.key.decode("utf-8") in ids
        assert b"event_type" not in record.value
        kind = record.topic[len(topic_prefix):]
        event_type = {"telemetry.vpn": "vpn_login", "telemetry.remote_access": "remote_session",
                      "telemetry.device": "device_snapshot", "directory.employees": "employee"}[kind]
        event = Decoder(event_type).decode(record.value)
        assert not isinstance(event, Rejection)
        assert event.employee_id == record.key.decode()


def test_start_date_moves_the_window():
    s = simulate(employees=30, days=2, seed=1, start=dt.date(2026, 6, 1))
    assert s.labels["start"] == "2026-06-01" and s.labels["end"] == "2026-06-03"
    first = s.telemetry[0].ts_ms
    assert dt.datetime.fromtimestamp(first / 1000, dt.timezone.utc).date() >= dt.date(2026, 5, 31)


def test_docstring_examples_run():
    import doctest

    from telltales.streams import simulate as module

    result = doctest.testmod(module)
    assert result.attempted >= 1 and result.failed == 0
