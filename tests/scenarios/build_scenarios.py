"""Writes the hand-written acceptance scenarios in this folder: `python tests/scenarios/build_scenarios.py`.

Each scenario is a folder with `events.jsonl` (employee records, then telemetry in time
order), `expected.json` (the outcome it must produce) and `telltales.toml` (the org
config it assumes). Every value below is chosen by hand from the public reporting the
README cites; nothing is random and nothing was tuned against a detector. The checked-in
files must equal this script's output (`test_scenarios.py` beside it checks).
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

CONFIG = """\
# Org config for the hand-written scenarios: four vantage points, one office, corporate VPN egress.
[vantage_points.us-east]
lat = 39.0438
lon = -77.4874
name = "Ashburn, Virginia"

[vantage_points.us-central]
lat = 32.7767
lon = -96.797
name = "Dallas, Texas"

[vantage_points.us-west]
lat = 45.5229
lon = -122.9898
name = "Hillsboro, Oregon"

[vantage_points.eu-west]
lat = 51.5074
lon = -0.1278
name = "London"

[vantage_points.ap-southeast]
lat = 1.3521
lon = 103.8198
name = "Singapore"

[networks]
office = ["64.125.30.32/28"]  # Austin office NAT (Zayo)
vpn_egress = ["3.82.4.240/28"]  # corporate VPN egress (AWS us-east-1)
"""

PLACES = {  # city, region, country, lat, lon, tz
    "phoenix": ("Phoenix", "AZ", "US", 33.4484, -112.0740, "America/Phoenix"),
    "nashville": ("Nashville", "TN", "US", 36.1627, -86.7816, "America/Chicago"),
    "dallas": ("Dallas", "TX", "US", 32.7767, -96.7970, "America/Chicago"),
    "atlanta": ("Atlanta", "GA", "US", 33.7490, -84.3880, "America/New_York"),
    "denver": ("Denver", "CO", "US", 39.7392, -104.9903, "America/Denver"),
    "columbus": ("Columbus", "OH", "US", 39.9612, -82.9988, "America/New_York"),
    "new_york": ("New York", "NY", "US", 40.7128, -74.0060, "America/New_York"),
    "austin": ("Austin", "TX", "US", 30.2672, -97.7431, "America/Chicago"),
    "london": ("London", "ENG", "GB", 51.5074, -0.1278, "Europe/London"),
    "piscataway": ("Piscataway", "NJ", "US", 40.5549, -74.4643, "America/New_York"),
    "shenyang": ("Shenyang", "Liaoning", "CN", 41.8057, 123.4315, "Asia/Shanghai"),
}

ASNS = {
    "cox": {"number": 22773, "org": "Cox Communications Inc."},
    "comcast": {"number": 7922, "org": "Comcast Cable Communications, LLC"},
    "charter": {"number": 20115, "org": "Charter Communications (Spectrum)"},
    "verizon": {"number": 701, "org": "Verizon Business (Fios)"},
    "vultr": {"number": 20473, "org": "The Constant Company, LLC (Vultr)"},
    "unicom": {"number": 4837, "org": "China Unicom (Liaoning)"},
    "bt": {"number": 2856, "org": "British Telecommunications PLC"},
    "zayo": {"number": 6461, "org": "Zayo Bandwidth"},
    "m247": {"number": 9009, "org": "M247 Europe SRL"},
}


def geo(place: str, accuracy_km: float = 20) -> dict:
    city, region, country, lat, lon, _ = PLACES[place]
    return {"country": country, "region": region, "city": city, "lat": lat, "lon": lon, "accuracy_km": accuracy_km}


def employee(uid: str, place: str, *, role: str = "Software Engineer", hire_date: str = "2022-05-16",
             devices: list[str] | None = None, tools: list[str] | None = None, offset_km: tuple[float, float] = (0.0, 0.0),
             hours: tuple[str, str] = ("09:00", "17:30")) -> dict:
    city, region, country, lat, lon, tz = PLACES[place]
    record = {"event_type": "employee", "employee_id": uid, "updated_at": "2026-03-01T00:00:00Z",
              "home": {"city": city, "region": region, "country": country,
                       "lat": round(lat + offset_km[0] / 111, 4), "lon": round(lon + offset_km[1] / 90, 4)},
              "timezone": tz, "work_hours": {"start": hours[0], "end": hours[1]}, "status": "active", "role": role,
              "devices": devices or [f"dev-{uid}"], "aliases": [f"{uid}@corp.example.com"], "hire_date": hire_date}
    if tools:
        record["approved_remote_tools"] = tools
    return record


def login(uid: str, ts: str, ip: str, place: str, asn: str, *, gateway: str = "us-east", outcome: str = "success",
          anonymizer: dict | None = None, mfa: str | None = None, accuracy_km: float = 20) -> dict:
    event = {"event_type": "vpn_login", "ts": ts, "employee_id": uid, "device_id": f"dev-{uid}", "src_ip": ip,
             "outcome": outcome, "gateway": gateway, "geo": geo(place, accuracy_km), "asn": ASNS[asn]}
    if anonymizer:
        event["anonymizer"] = anonymizer
    if outcome == "success":
        event["mfa"] = {"method": "push", "device_id": mfa or f"mfa-{uid}"}
    return event


def snapshot(uid: str, ts: str, **fields) -> dict:
    return {"event_type": "device_snapshot", "ts": ts, "employee_id": uid, "device_id": f"dev-{uid}", **fields}


def rtt(vantage: str, mn: float, p50: float | None = None, p95: float | None = None, n: int = 20) -> dict:
    p50 = p50 if p50 is not None else round(mn + 2, 1)
    p95 = p95 if p95 is not None else round(p50 + 6, 1)
    return {"vantage": vantage, "rtt_ms": {"min": mn, "p50": p50, "p95": p95, "n": n}}


def ssh(uid: str, ts: str, vantage: str, rtt_min: float, input_min: float, *, peer: str = "3.82.9.17",
        sid: str, tool: str = "ssh", keys: int = 400) -> dict:
    return {"event_type": "remote_session", "ts": ts, "employee_id": uid, "device_id": f"dev-{uid}", "tool": tool,
            "session_id": sid, "direction": "outbound", "peer_ip": peer, "duration_s": 1800.0,
            "latency": {"vantage": vantage,
                        "rtt_ms": {"min": rtt_min, "p50": round(rtt_min + 2.5, 1), "p95": round(rtt_min + 9, 1), "n": 40},
                        "input_ms": {"min": input_min, "p50": round(input_min + 6, 1), "p95": round(input_min + 25, 1),
                                     "n": keys}}}


def day(d: int, hhmm: str) -> str:
    """2026-03-02 is a Monday; d=0 is that day. Times are UTC."""
    return f"2026-03-{2 + d:02d}T{hhmm}:00Z"


# ----------------------------------------------------------------------------------------------

def amazon_keystroke() -> tuple[list[dict], dict]:
    """Amazon (Dec 2025): a US-based laptop whose keystrokes took ~110 ms to register where tens of ms were normal."""
    op, ctl = "amz-op-01", "amz-ctl-01"
    events = [employee(op, "phoenix", hire_date="2026-01-12"), employee(ctl, "phoenix", offset_km=(6, -4))]
    # Phoenix -> Dallas vantage is ~1,420 km: fibre bound 14.2 ms; a cable home measures low-to-mid 20s.
    op_rtt = [24.1, 23.6, 25.0, 24.4, 23.9, 26.2, 24.8, 23.7, 25.3, 24.0, 24.6, 23.8]
    op_input = [111.3, 109.8, 113.0, 110.6, 108.9, 114.2, 112.1, 109.5, 111.8, 110.2, 112.7, 109.9]
    ctl_rtt = [22.8, 23.4, 22.5, 71.0, 23.1, 22.9, 23.6, 22.7, 23.3]  # one bufferbloat spike: input rises with it
    ctl_input = [27.9, 28.6, 27.1, 76.3, 28.0, 27.5, 29.1, 27.8, 28.2]
    telemetry = []
    for d in range(3):
        telemetry.append(login(op, day(d, "15:58"), "68.2.14.77", "phoenix", "cox", gateway="us-central"))
        telemetry.append(login(ctl, day(d, "16:04"), "68.3.201.36", "phoenix", "cox", gateway="us-central"))
        for hhmm in ("16:20", "19:40", "23:10"):
            telemetry.append(snapshot(op, day(d, hhmm), public_ip="68.2.14.77", latency=rtt("us-central", 23.5 + d * 0.3)))
            telemetry.append(snapshot(ctl, day(d, hhmm), public_ip="68.3.201.36", latency=rtt("us-central", 22.6 + d * 0.2)))
        telemetry.append(snapshot(op, day(d, "17:00"), hostname="ACME-WIN-40211", os="Windows 11 Enterprise 23H2",
                                  timezone="America/Phoenix", locale="en-US", keyboard_layouts=["en-US"],
                                  processes=["chrome.exe", "slack.exe", "Code.exe", "Teams.exe"]))
    for i, (r, inp) in enumerate(zip(op_rtt, op_input)):
        telemetry.append(ssh(op, day(i // 4, ("16:45", "18:30", "20:15", "22:05")[i % 4]), "us-central", r, inp, sid=f"amz-op-{i}"))
    for i, (r, inp) in enumerate(zip(ctl_rtt, ctl_input)):
        telemetry.append(ssh(ctl, day(i // 3, ("17:10", "19:05", "21:30")[i % 3]), "us-central", r, inp, sid=f"amz-ctl-{i}"))
    expected = {
        "must_flag": [op], "must_not_flag": [ctl], "detectors": {op: ["latency_physics"]}, "same_group": [],
        "why": ("12 interactive sessions over three days whose keystroke-to-echo minimum (~110 ms) sits ~86 ms above "
                "the device's own round trip (~24 ms) to the same vantage point: the typist is far from the laptop. "
                "The colleague's single spike raises RTT and keystroke delay together (a bad network, not a remote "
                "typist)."),
    }
    return [*events[:2], *sorted(telemetry, key=lambda e: (e["ts"], e["employee_id"]))], expected


def laptop_farm() -> tuple[list[dict], dict]:
    """DOJ laptop-farm cases (e.g. Chapman, Arizona; Knoot, Tennessee): many new hires' laptops in one US home behind IP-KVMs."""
    farm = ["farm-01", "farm-02", "farm-03", "farm-04"]
    claims = {"farm-01": ("nashville", (3, 5)), "farm-02": ("nashville", (-8, 2)), "farm-03": ("dallas", (0, 0)),
              "farm-04": ("atlanta", (0, 0))}
    couple = ["couple-a", "couple-b"]
    records = [employee(u, claims[u][0], hire_date="2026-02-23", offset_km=claims[u][1]) for u in farm]
    records += [employee("couple-a", "denver", role="Product Manager"),
                employee("couple-b", "denver", role="Designer", hire_date="2024-09-03")]
    kvm = {
        "farm-01": [{"vendor_id": "1d6b", "product_id": "0104", "vendor": "PiKVM", "product": "PiKVM Composite Device",
                     "serial": "CAFEBABE", "interface_classes": ["03", "03", "08"]}],
        "farm-02": [{"vendor_id": "1d6b", "product_id": "0104", "vendor": "tinypilot", "product": "Multifunction USB Device",
                     "interface_classes": ["03", "03"]}],
        "farm-03": [{"vendor_id": "1D6B", "product_id": "0104", "interface_classes": ["03", "03", "08"]}],
        "farm-04": [{"vendor_id": "046d", "product_id": "c52b", "vendor": "Logitech", "product": "USB Receiver"}],
    }
    displays = {"farm-01": [{"name": "PiKVM V4 Plus"}], "farm-02": [{"name": "TinyPilot"}],
                "farm-03": [{"name": "PiKVM V3"}], "farm-04": [{"name": "DELL P2419H", "manufacturer": "Dell"}]}
    farm_net = {"public_ip": "73.104.18.201", "wifi": {"ssid": "NETGEAR57", "bssid": "A0:40:A0:6C:19:E2"},
                "gateway_mac": "a0:40:a0:6c:19:e1"}
    home_net = {"public_ip": "98.201.44.12", "wifi": {"ssid": "Lopez Home", "bssid": "f8:bb:bf:21:07:9a"},
                "gateway_mac": "f8:bb:bf:21:07:99"}
    telemetry = []
    for d in range(2):
        for k, u in enumerate(farm):
            minute = 10 + 7 * k
            telemetry.append(login(u, day(d, f"14:{minute:02d}"), farm_net["public_ip"], "nashville", "comcast", gateway="us-central"))
            telemetry.append(snapshot(u, day(d, f"14:{minute + 3:02d}"), **farm_net, latency=rtt("us-central", 17.8 + k * 0.4)))
            telemetry.append(snapshot(u, day(d, f"15:{minute:02d}"), hostname=f"ACME-WIN-7730{k}", os="Windows 11 Enterprise 23H2",
                                      timezone="America/Chicago", locale="en-US", keyboard_layouts=["en-US"],
                                      usb_devices=kvm[u], displays=displays[u]))
            for s, (hh, mm) in enumerate(((16, 30), (19, 45))):
                # Operators in north-east China: keystrokes cross the Pacific and a video capture loop.
                telemetry.append(ssh(u, day(d, f"{hh}:{mm + k:02d}"), "us-central",
                                     18.2 + k * 0.4, 231.0 + 9 * k + 2 * s, sid=f"{u}-{d}-{s}"))
        for u, minute in zip(couple, ("05", "21")):
            telemetry.append(login(u, day(d, f"15:{minute}"), home_net["public_ip"], "denver", "comcast", gateway="us-central"))
            telemetry.append(snapshot(u, day(d, f"16:{minute}"), **home_net, latency=rtt("us-central", 16.9)))
            telemetry.append(snapshot(u, day(d, f"18:{minute}"), hostname=f"ACME-MAC-{u[-1].upper()}1184", os="macOS 15.3",
                                      timezone="America/Denver", locale="en-US", keyboard_layouts=["en-US"],
                                      usb_devices=[{"vendor_id": "05ac", "product_id": "024f", "vendor": "Apple Inc.",
                                                    "product": "Magic Keyboard", "interface_classes": ["03"]}],
                                      displays=[{"name": "Built-in Retina Display", "manufacturer": "Apple"}]))
    expected = {
        "must_flag": farm, "must_not_flag": couple,
        "detectors": {"farm-01": ["shared_infrastructure", "ip_kvm"], "farm-02": ["shared_infrastructure", "ip_kvm"],
                      "farm-03": ["shared_infrastructure", "ip_kvm"], "farm-04": ["shared_infrastructure"]},
        "same_group": [farm],
        "why": ("Four recent hires claiming three different cities all work from one Comcast address, Wi-Fi BSSID "
                "and router; three laptops show a Linux USB gadget (1d6b:0104) with PiKVM/TinyPilot strings and "
                "capture-style display names; keystroke delay sits ~210 ms above RTT. Two colleagues married to "
                "each other share a Denver home network and nothing else: households of two are normal."),
    }
    return [*records, *sorted(telemetry, key=lambda e: (e["ts"], e["employee_id"]))], expected


def astrill_slip() -> tuple[list[dict], dict]:
    """Mandiant/Okta/DOJ reporting: IT workers reach US employers through Astrill VPN exits in US hosting, and now and then connect directly."""
    op, ctl = "vpn-op-01", "vpn-ctl-01"
    records = [employee(op, "columbus", hire_date="2026-01-26"), employee(ctl, "columbus", role="Finance", offset_km=(4, 9))]
    astrill = {"type": "vpn", "provider": "Astrill VPN"}
    telemetry = []
    for d in range(3):
        telemetry.append(login(op, day(d, "13:55"), "45.76.183.22", "piscataway", "vultr", anonymizer=astrill, accuracy_km=100))
        telemetry.append(login(op, day(d, "18:20"), "45.76.183.22", "piscataway", "vultr", anonymizer=astrill, accuracy_km=100))
        # Through the VPN: Shenyang -> New Jersey -> Ashburn; the RTT carries the trans-Pacific leg.
        telemetry.append(snapshot(op, day(d, "14:30"), public_ip="45.76.183.22", latency=rtt("us-east", 171.4 + d)))
        telemetry.append(snapshot(op, day(d, "16:00"), hostname="ACME-WIN-55120", os="Windows 11 Enterprise 23H2",
                                  timezone="America/New_York", locale="en-US", keyboard_layouts=["en-US"]))
        telemetry.append(ssh(op, day(d, "15:10"), "us-east", 172.0 + d, 178.3 + d, sid=f"vpn-op-{d}"))
        telemetry.append(login(ctl, day(d, "13:40"), "76.181.90.14", "columbus", "charter"))
        telemetry.append(snapshot(ctl, day(d, "14:05"), public_ip="76.181.90.14", latency=rtt("us-east", 13.2)))
    # Wednesday 14:10 UTC: the VPN drops; the same laptop logs in from China Unicom, Shenyang (22:10 local).
    telemetry.append(login(op, day(2, "14:10"), "113.230.57.146", "shenyang", "unicom", gateway="ap-southeast", accuracy_km=50))
    telemetry.append(snapshot(op, day(2, "14:12"), public_ip="113.230.57.146", latency=rtt("ap-southeast", 74.6)))
    telemetry.append(login(op, day(2, "14:52"), "45.76.183.22", "piscataway", "vultr", anonymizer=astrill, accuracy_km=100))
    # Hard negative: the colleague's personal NordVPN one evening from home (a consumer VPN alone is not a finding).
    telemetry.append(login(ctl, day(1, "23:40"), "193.37.254.87", "piscataway", "m247",
                           anonymizer={"type": "vpn", "provider": "NordVPN"}, accuracy_km=100))
    expected = {
        "must_flag": [op], "must_not_flag": [ctl], "detectors": {op: ["anonymizer", "impossible_travel"]}, "same_group": [],
        "why": ("Every login exits an Astrill VPN server in a US hosting range; then a login from a Chinese residential "
                "address 15 minutes after a New Jersey one and 42 minutes before the next (about 11,000 km), and a "
                "74 ms round trip to Singapore that no device in Ohio could make. The colleague's single NordVPN "
                "evening login from the same kind of range is ordinary privacy use."),
    }
    return [*records, *sorted(telemetry, key=lambda e: (e["ts"], e["employee_id"]))], expected


def traveller_nyc_london() -> tuple[list[dict], dict]:
    """Hard negative: an ordinary business trip, New York to London and back, with the device clock following."""
    u = "trv-01"
    records = [employee(u, "new_york", role="Sales")]
    home = {"public_ip": "71.167.42.9", "wifi": {"ssid": "Verizon_4FXK7Q", "bssid": "3c:37:86:11:42:0d"},
            "gateway_mac": "3c:37:86:11:42:0c"}
    hotel = {"public_ip": "86.128.77.201", "wifi": {"ssid": "Marriott_GUEST", "bssid": "00:0c:42:7e:31:55"},
             "gateway_mac": "00:0c:42:7e:31:54"}
    t = []
    # Monday and Tuesday in New York (UTC-5).
    for d in range(2):
        t.append(login(u, day(d, "13:50"), home["public_ip"], "new_york", "verizon"))
        t.append(snapshot(u, day(d, "14:20"), **home, latency=rtt("us-east", 9.4)))
        t.append(snapshot(u, day(d, "15:00"), hostname="ACME-MAC-21877", os="macOS 15.3", timezone="America/New_York",
                          locale="en-US", keyboard_layouts=["en-US"]))
    t.append(login(u, day(1, "21:05"), home["public_ip"], "new_york", "verizon"))
    # Tuesday 23:00 UTC JFK -> Wednesday 06:00 UTC LHR (7 h). First London login 08:40 UTC, ~11.5 h after the last NYC one.
    for d in (2, 3):
        t.append(login(u, day(d, "08:40"), hotel["public_ip"], "london", "bt", gateway="eu-west"))
        t.append(snapshot(u, day(d, "09:10"), **hotel, latency=rtt("eu-west", 6.8)))
        t.append(snapshot(u, day(d, "10:00"), hostname="ACME-MAC-21877", os="macOS 15.3", timezone="Europe/London",
                          locale="en-US", keyboard_layouts=["en-US"]))
        t.append(login(u, day(d, "17:30"), hotel["public_ip"], "london", "bt", gateway="eu-west"))
    # Friday 11:00 UTC LHR -> 19:00 UTC JFK; home again Saturday.
    t.append(login(u, day(4, "08:15"), hotel["public_ip"], "london", "bt", gateway="eu-west"))
    t.append(login(u, day(5, "15:30"), home["public_ip"], "new_york", "verizon"))
    t.append(snapshot(u, day(5, "15:40"), **home, latency=rtt("us-east", 9.1)))
    t.append(snapshot(u, day(5, "15:45"), hostname="ACME-MAC-21877", os="macOS 15.3", timezone="America/New_York",
                      locale="en-US", keyboard_layouts=["en-US"]))
    expected = {"must_flag": [], "must_not_flag": [u], "detectors": {}, "same_group": [],
                "why": ("5,570 km in 11.5 hours is an airliner, not impossible travel; three days of London logins, a "
                        "7 ms RTT to London and a Europe/London device clock are a trip, not a false home; she is "
                        "back on her home network on Saturday.")}
    return [*records, *sorted(t, key=lambda e: (e["ts"], e["employee_id"]))], expected


def it_admin_teamviewer() -> tuple[list[dict], dict]:
    """Hard negative: an IT support technician whose TeamViewer use is approved, and the colleagues helped."""
    it, users = "it-01", ["user-01", "user-02"]
    records = [employee(it, "austin", role="IT Support", tools=["TeamViewer", "rdp", "ssh"])]
    records += [employee(u, "austin", role="Customer Support", offset_km=(5 * i, -3)) for i, u in enumerate(users, 1)]
    office = {"public_ip": "64.125.30.34", "wifi": {"ssid": "ACME-CORP", "bssid": "24:5a:4c:88:10:01"},
              "gateway_mac": "24:5a:4c:88:10:00"}
    homes = {"user-01": "24.28.113.50", "user-02": "70.120.6.211"}
    t = []
    for d in range(2):
        t.append(login(it, day(d, "14:02"), office["public_ip"], "austin", "zayo", gateway="us-central", accuracy_km=10))
        t.append(snapshot(it, day(d, "14:30"), **office, latency=rtt("us-central", 5.1)))
        t.append(snapshot(it, day(d, "15:00"), hostname="ACME-WIN-10022", os="Windows 11 Enterprise 24H2",
                          processes=["TeamViewer_Service.exe", "TeamViewer.exe", "mstsc.exe", "chrome.exe"],
                          public_ip=office["public_ip"]))
        for i, u in enumerate(users):
            t.append(login(u, day(d, f"14:1{i}"), homes[u], "austin", "charter", gateway="us-central"))
            t.append(snapshot(u, day(d, f"14:4{i}"), public_ip=homes[u], latency=rtt("us-central", 8.3 + i)))
            ts_out, ts_in = day(d, f"1{6 + i}:00"), day(d, f"1{6 + i}:00").replace(":00Z", ":04Z")
            t.append({"event_type": "remote_session", "ts": ts_out, "employee_id": it, "device_id": f"dev-{it}",
                      "tool": "TeamViewer", "session_id": f"tv-{d}-{i}", "direction": "outbound", "peer_ip": homes[u],
                      "duration_s": 900.0})
            t.append({"event_type": "remote_session", "ts": ts_in, "employee_id": u, "device_id": f"dev-{u}",
                      "tool": "TeamViewer", "session_id": f"tv-{d}-{i}", "direction": "inbound",
                      "peer_ip": office["public_ip"], "duration_s": 900.0})
    expected = {"must_flag": [], "must_not_flag": [it, *users], "detectors": {}, "same_group": [],
                "why": ("TeamViewer is in the technician's approved_remote_tools; the colleagues' inbound sessions come "
                        "from the office network in networks.office.")}
    return [*records, *sorted(t, key=lambda e: (e["ts"], e["employee_id"]))], expected


def office_nat() -> tuple[list[dict], dict]:
    """Hard negative: twenty colleagues in the Austin office behind one NAT address, BSSIDs of one office network."""
    ids = [f"off-{i:02d}" for i in range(1, 21)]
    records = [employee(u, "austin", role="Software Engineer", offset_km=((i % 5) * 4 - 8, (i // 5) * 5 - 10))
               for i, u in enumerate(ids)]
    t = []
    for i, u in enumerate(ids):
        bssid = f"24:5a:4c:88:10:{i % 6 + 1:02x}"
        t.append(login(u, day(0, f"14:{i * 2:02d}"), "64.125.30.34", "austin", "zayo", gateway="us-central", accuracy_km=10))
        t.append(snapshot(u, day(0, f"15:{i * 2:02d}"), public_ip="64.125.30.34",
                          wifi={"ssid": "ACME-CORP", "bssid": bssid}, gateway_mac="24:5a:4c:88:10:00",
                          latency=rtt("us-central", 4.8 + (i % 4) * 0.3)))
        t.append(ssh(u, day(0, f"17:{i * 2:02d}"), "us-central", 5.0 + (i % 4) * 0.3, 9.6 + (i % 4) * 0.3, sid=f"off-{i}"))
    expected = {"must_flag": [], "must_not_flag": ids, "detectors": {}, "same_group": [],
                "why": "The shared address is in networks.office: office NAT is not a laptop farm."}
    return [*records, *sorted(t, key=lambda e: (e["ts"], e["employee_id"]))], expected


SCENARIOS = {
    "amazon_keystroke": amazon_keystroke,
    "laptop_farm": laptop_farm,
    "astrill_slip": astrill_slip,
    "traveller_nyc_london": traveller_nyc_london,
    "it_admin_teamviewer": it_admin_teamviewer,
    "office_nat": office_nat,
}


def render() -> dict[Path, str]:
    """Every file this script writes, path → text."""
    files: dict[Path, str] = {}
    for name, build in SCENARIOS.items():
        events, expected = build()
        folder = HERE / name
        files[folder / "events.jsonl"] = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
        files[folder / "expected.json"] = json.dumps(
            {"scenario": name, "source": (build.__doc__ or "").strip(), "events": "events.jsonl", "config": "telltales.toml",
             **expected}, indent=2, ensure_ascii=False) + "\n"
        files[folder / "telltales.toml"] = CONFIG
    return files


def main() -> None:
    for path, text in render().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, "utf-8")
        print(path.relative_to(HERE.parent.parent))


if __name__ == "__main__":
    main()
