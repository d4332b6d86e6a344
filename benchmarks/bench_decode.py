"""Decode throughput: telltales' Decoder against orjson (parse ceiling) and pure-Python jsonschema.

The event mix is built here, deterministically (fixed seed): 50% vpn_login, 30%
device_snapshot, 15% remote_session, 5% employee, with record sizes like real sources
(a device snapshot lists ~80 process names) and ~3% invalid lines of several kinds.

    python benchmarks/bench_decode.py           # 50,000 events, best of 5
    python benchmarks/bench_decode.py --quick   # 5,000 events, best of 3
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import jsonschema
import orjson

from telltales.schemas import jsonschema as published
from telltales.schemas.decoder import Decoder
from telltales.schemas.rejections import Rejection

SEED = 20260302
MIX = (("vpn_login", 0.50), ("device_snapshot", 0.30), ("remote_session", 0.15), ("employee", 0.05))
INVALID_SHARE = 0.03

# Everyday Windows processes, ~50 of them; a snapshot lists 80 (some twice, as real lists do).
PROCESSES = """
explorer.exe svchost.exe chrome.exe msedge.exe Teams.exe Slack.exe Code.exe OneDrive.exe outlook.exe
WINWORD.EXE EXCEL.EXE zoom.exe SearchHost.exe RuntimeBroker.exe dllhost.exe ctfmon.exe sihost.exe
taskhostw.exe conhost.exe powershell.exe WindowsTerminal.exe MsMpEng.exe CSFalconService.exe
osqueryd.exe GlobalProtect.exe PanGPS.exe docker.exe node.exe python.exe git.exe ssh-agent.exe
1Password.exe spoolsv.exe lsass.exe winlogon.exe dwm.exe fontdrvhost.exe audiodg.exe smss.exe
csrss.exe wininit.exe services.exe StartMenuExperienceHost.exe TextInputHost.exe
ShellExperienceHost.exe SecurityHealthService.exe SgrmBroker.exe WmiPrvSE.exe SearchIndexer.exe
NVDisplay.Container.exe
""".split()
RARE_PROCESSES = ["AnyDesk.exe", "TeamViewer_Service.exe", "rustdesk.exe", "MouseJiggler.exe", "remoting_host.exe"]
TOOLS = ["sshd", "AnyDesk.exe", "mstsc.exe", "TeamViewer.exe", "remoting_host.exe", "rdp", "ssh"]
CITIES = [
    ("US", "IL", "Chicago", 41.88, -87.63),
    ("US", "TX", "Plano", 33.02, -96.70),
    ("US", "NY", "New York", 40.71, -74.01),
    ("US", "CA", "San Jose", 37.34, -121.89),
    ("GB", "ENG", "London", 51.51, -0.13),
    ("KR", "11", "Seoul", 37.57, 126.98),
]
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)


def _ts(rng: random.Random) -> str:
    return (
        f"2026-03-{rng.randint(2, 27):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}{rng.choice(['Z', '-06:00', '+09:00', '-05:00'])}"
    )


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return f"2001:db8:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
    return f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randint(1, 254)}"


def _employee_id(rng: random.Random) -> str:
    return f"emp-{rng.randint(10000, 99999)}"


def vpn_login(rng: random.Random) -> dict[str, Any]:
    country, region, city, lat, lon = rng.choice(CITIES)
    return {
        "event_type": "vpn_login",
        "employee_id": _employee_id(rng),
        "device_id": f"LT-{rng.randint(0, 10**8):08d}",
        "source": "globalprotect",
        "ts": _ts(rng),
        "src_ip": _ip(rng),
        "outcome": rng.choice(["success"] * 9 + ["failure"]),
        "gateway": "vp-chicago",
        "geo": {"country": country, "region": region, "city": city, "lat": lat, "lon": lon, "accuracy_km": 20},
        "asn": {"number": rng.randint(1000, 64000), "org": "Example Residential Broadband"},
        "mfa": {"method": "okta_verify_push"},
        "client": {"os": "Windows 11", "version": "6.2.1", "user_agent": USER_AGENT},
    }


def device_snapshot(rng: random.Random) -> dict[str, Any]:
    processes = rng.sample(PROCESSES, 40) * 2 + rng.sample(RARE_PROCESSES, rng.choice([0, 0, 0, 1, 2]))
    usb = [
        {
            "vendor_id": "046D",
            "product_id": "C52B",
            "vendor": "Logitech",
            "product": "Unifying Receiver",
            "interface_classes": ["03"],
        }
        for _ in range(rng.randint(1, 3))
    ]
    if rng.random() < 0.02:
        usb.append(
            {
                "vendor_id": "1D6B",
                "product_id": "0104",
                "vendor": "Linux Foundation",
                "product": "Multifunction Composite Gadget",
                "interface_classes": ["03", "03", "08"],
            }
        )
    return {
        "event_type": "device_snapshot",
        "employee_id": _employee_id(rng),
        "device_id": f"LT-{rng.randint(0, 10**8):08d}",
        "source": "osquery",
        "ts": _ts(rng),
        "hostname": f"DESKTOP-{rng.randint(0, 10**6):06d}",
        "os": "Windows 11 Pro 23H2",
        "timezone": "America/Chicago",
        "locale": "en-US",
        "keyboard_layouts": ["00000409"],
        "public_ip": _ip(rng),
        "wifi": {"ssid": "Home-5G", "bssid": "F0:9F:C2:AA:BB:CC"},
        "gateway_mac": "A4-2B-B0-11-22-01",
        "processes": processes,
        "usb_devices": usb,
        "displays": [{"name": "DELL U2720Q", "manufacturer": "DEL"}],
        "latency": {"vantage": "vp-chicago", "rtt_ms": {"min": 11.0, "p50": 14.5, "p95": 22.0, "n": 60}},
    }


def remote_session(rng: random.Random) -> dict[str, Any]:
    return {
        "event_type": "remote_session",
        "employee_id": _employee_id(rng),
        "source": "crowdstrike",
        "ts": _ts(rng),
        "tool": rng.choice(TOOLS),
        "session_id": f"s-{rng.randint(0, 10**9)}",
        "direction": rng.choice(["inbound", "outbound"]),
        "peer_ip": _ip(rng),
        "duration_s": rng.randint(10, 30000),
        "bytes_in": rng.randint(0, 10**9),
        "bytes_out": rng.randint(0, 10**8),
        "latency": {"vantage": "vp-dallas", "input_ms": {"min": 18.0, "p50": 25.0, "p95": 40.0, "n": 900}},
    }


def employee(rng: random.Random) -> dict[str, Any]:
    country, region, city, lat, lon = rng.choice(CITIES[:4])
    return {
        "event_type": "employee",
        "employee_id": _employee_id(rng),
        "source": "workday",
        "updated_at": _ts(rng),
        "home": {"city": city, "region": region, "country": country, "lat": lat, "lon": lon},
        "timezone": "America/Chicago",
        "work_hours": {"start": "09:00", "end": "17:30"},
        "status": "active",
        "role": "Software Engineer",
        "manager_id": _employee_id(rng),
        "devices": [f"LT-{rng.randint(0, 10**8):08d}"],
        "aliases": ["jdoe@example.com", "EXAMPLE\\jdoe"],
        "approved_remote_tools": ["sshd"],
        "hire_date": "2023-04-17",
    }


BUILDERS: dict[str, Callable[[random.Random], dict[str, Any]]] = {
    "vpn_login": vpn_login,
    "device_snapshot": device_snapshot,
    "remote_session": remote_session,
    "employee": employee,
}


def spoil(rng: random.Random, event: dict[str, Any]) -> bytes:
    """One of the ways real feeds go wrong."""
    kind = rng.choice(["bad_ip", "no_offset", "truncated", "missing", "out_of_range", "wrong_type"])
    if kind == "bad_ip":
        event = {**event, "event_type": "vpn_login", "src_ip": "203.0.113.300"}
    elif kind == "no_offset":
        event = {**event, ("ts" if "ts" in event else "updated_at"): "2026-03-02T09:00:00"}
    elif kind == "missing":
        event = {k: v for k, v in event.items() if k != "employee_id"}
    elif kind == "out_of_range":
        event = {**event, "event_type": "remote_session", "tool": "ssh", "latency": {"rtt_ms": {"min": -3}}}
    elif kind == "wrong_type":
        event = {**event, "employee_id": 10442}
    data = json.dumps(event, separators=(",", ":")).encode()
    return data[: len(data) // 2] if kind == "truncated" else data


def build_mix(count: int) -> tuple[list[bytes], int]:
    """`count` encoded events in the fixed mix, and how many of them were spoiled."""
    rng = random.Random(SEED)
    types, weights = zip(*MIX)
    lines, spoiled = [], 0
    for event_type in rng.choices(types, weights, k=count):
        event = BUILDERS[event_type](rng)
        if rng.random() < INVALID_SHARE:
            lines.append(spoil(rng, event))
            spoiled += 1
        else:
            lines.append(json.dumps(event, separators=(",", ":")).encode())
    return lines, spoiled


def best_rate(run: Callable[[], object], items: int, repeats: int) -> float:
    """Items per second of the fastest of `repeats` runs (the least disturbed by the machine)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return items / best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 events, best of 3 (a smoke run)")
    args = parser.parse_args(argv)
    count, repeats, schema_count = (5_000, 3, 1_000) if args.quick else (50_000, 5, 5_000)

    lines, spoiled = build_mix(count)
    decoder = Decoder()
    results = [decoder.decode(line) for line in lines]
    rejected = sum(isinstance(r, Rejection) for r in results)
    assert rejected == spoiled, f"the mix has {spoiled} spoiled lines but {rejected} were rejected"

    def parse_all() -> None:
        for line in lines:
            try:
                orjson.loads(line)
            except orjson.JSONDecodeError:
                pass

    valid = [line for line, result in zip(lines, results, strict=True) if not isinstance(result, Rejection)]
    invalid = [line for line, result in zip(lines, results, strict=True) if isinstance(result, Rejection)]

    def decode_all(batch: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            decode = decoder.decode
            for line in batch:
                decode(line)

        return run

    validators = {
        name: jsonschema.Draft202012Validator(published.load(name), format_checker=jsonschema.FormatChecker())
        for name, _ in MIX
    }
    documents = []
    for line in lines[:schema_count]:
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        documents.append((validators.get(document.get("event_type"), validators["vpn_login"]), document))

    def validate_all() -> None:
        for validator, document in documents:
            validator.is_valid(document)

    def mean_bytes(batch: list[bytes]) -> float:
        return sum(map(len, batch)) / max(1, len(batch))

    parse_rate = best_rate(parse_all, count, repeats)
    schema_rate = best_rate(validate_all, len(documents), max(1, repeats // 2))
    rows = [
        ("orjson.loads (parse only, ceiling)", parse_rate, mean_bytes(lines)),
        ("Decoder.decode, the mix", best_rate(decode_all(lines), count, repeats), mean_bytes(lines)),
        ("Decoder.decode, valid lines only", best_rate(decode_all(valid), len(valid), repeats), mean_bytes(valid)),
        (
            "Decoder.decode, invalid lines only",
            best_rate(decode_all(invalid), len(invalid), repeats),
            mean_bytes(invalid),
        ),
        ("jsonschema validate (pre-parsed objects)", schema_rate, mean_bytes(lines[:schema_count])),
    ]

    print(
        f"decode benchmark: {count:,} events ({mean_bytes(lines):,.0f} B mean, {spoiled} invalid), "
        f"best of {repeats}; jsonschema over the first {len(documents):,} parsed events"
    )
    print(f"{'':<42}{'events/s':>12}{'MB/s':>9}{'vs orjson':>11}{'vs jsonschema':>15}")
    for name, rate, size in rows:
        print(
            f"{name:<42}{rate:>12,.0f}{rate * size / 1e6:>9.1f}{rate / parse_rate:>10.2f}x{rate / schema_rate:>14.1f}x"
        )


if __name__ == "__main__":
    main()
