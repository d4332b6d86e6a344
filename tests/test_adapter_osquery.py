"""The osquery adapter: each query of the telltales pack maps, the log formats, identities and bad input.

Records are built in the shape osquery's logging docs give for the results log (snapshot,
event and batch formats). The pack is read from deploy/osquery/telltales.conf: its query
names must be the adapter's, and each query runs in SQLite (osquery's SQL engine) over
tables with osquery's documented columns, its rows going through the adapter — so the pack
and the adapter cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import zoneinfo
from pathlib import Path
from typing import Any

import msgspec
import pytest

from telltales.schemas import adapters
from telltales.schemas.adapters import Identities, Translator
from telltales.schemas.adapters.osquery import ADAPTER, QUERIES, WINDOWS_ZONES, query_of
from telltales.schemas.dlq import DlqEnvelope
from telltales.schemas.events import MAX_LIST, DeviceSnapshot, Display, UsbDevice, Wifi
from telltales.schemas.rejections import Rejection
from telltales.streams import cli

from builders import employee

PACK = Path(__file__).resolve().parent.parent / "deploy" / "osquery" / "telltales.conf"
UNIX_TIME = 1772442000  # 2026-03-02T09:00:00Z


def snapshot(query: str, rows: list[dict[str, Any]], *, host: str = "LAPTOP-0042", unix_time: Any = UNIX_TIME,
             **fields: Any) -> dict[str, Any]:
    """A snapshot-format results line as osquery 5's filesystem logger writes it (column values are strings)."""
    return {"snapshot": rows, "action": "snapshot", "name": f"pack_telltales_{query}", "hostIdentifier": host,
            "calendarTime": "Mon Mar  2 09:00:00 2026 UTC", "unixTime": unix_time, "epoch": 0, "counter": 0,
            "numerics": False, **fields}


def event(action: str, query: str, columns: dict[str, Any], *, host: str = "LAPTOP-0042") -> dict[str, Any]:
    """An event-format (differential) results line, one row per line, times as strings as in osquery's docs."""
    return {"name": f"pack_telltales_{query}", "hostIdentifier": host, "calendarTime": "Mon Mar  2 09:00:00 2026 UTC",
            "unixTime": str(UNIX_TIME), "epoch": "0", "counter": "1", "numerics": False, "columns": columns,
            "action": action}


def batch(query: str, added: list[dict[str, Any]], removed: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch-format results line (--logger_event_type=false)."""
    return {"diffResults": {"added": added, "removed": removed}, "name": f"pack_telltales_{query}",
            "hostIdentifier": "LAPTOP-0042", "calendarTime": "Mon Mar  2 09:00:00 2026 UTC",
            "unixTime": str(UNIX_TIME), "epoch": "0", "counter": "1", "numerics": False}


def usb(vendor_id: str = "1d6b", model_id: str = "0104", vendor: str = "Linux Foundation",
        model: str = "Multifunction Composite Gadget", serial: str = "") -> dict[str, str]:
    return {"usb_address": "1", "usb_port": "3", "vendor": vendor, "vendor_id": vendor_id, "version": "5.10",
            "model": model, "model_id": model_id, "serial": serial, "class": "0", "subclass": "0", "protocol": "0",
            "removable": "1"}


def directory() -> Identities:
    ids = Identities()
    ids.add(employee("emp-1", aliases=["laptop-0042", "ana.kim@example.com"]))
    ids.add(employee("emp-2", aliases=["MBP-BO"]))
    return ids


def translate(record: dict[str, Any]) -> list[DeviceSnapshot] | str | Rejection:
    return Translator(ADAPTER, directory()).translate(json.dumps(record).encode())


def one(record: dict[str, Any]) -> DeviceSnapshot:
    result = translate(record)
    assert isinstance(result, list) and len(result) == 1, result
    [snap] = result
    assert isinstance(snap, DeviceSnapshot)
    assert (snap.employee_id, snap.device_id, snap.source, snap.ts.isoformat()) == (
        "emp-1", "LAPTOP-0042", "osquery", "2026-03-02T09:00:00+00:00")
    return snap


# --- the pack and the adapter -------------------------------------------------------------

def test_the_pack_is_json_and_its_queries_are_exactly_the_ones_the_adapter_maps():
    pack = json.loads(PACK.read_text(encoding="utf-8"))
    assert set(pack["queries"]) == set(QUERIES)
    for name, query in pack["queries"].items():
        assert query["snapshot"] is True, name
        assert 300 <= query["interval"] <= 3600, name
        assert query["query"].rstrip().endswith(";") and query["description"], name


def test_adapter_is_registered_in_sorted_order():
    assert "osquery" in adapters.ADAPTERS and list(adapters.ADAPTERS) == sorted(adapters.ADAPTERS)
    assert adapters.load("osquery") is ADAPTER
    assert (ADAPTER.name, ADAPTER.title) == ("osquery", "osquery results log")


# The osquery tables the pack reads, with the columns it uses and some neighbours, named as
# osquery's specs/*.table files name them, and a few rows each: every pack query runs on them
# in SQLite (osquery's SQL engine) and its rows go through the adapter, so a misspelt column,
# a broken join or a column the adapter does not read fails here.
TABLES: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {
    "processes": (("pid", "name", "path", "cmdline", "uid"), [
        (1, "launchd", "/sbin/launchd", "", 0), (812, "AnyDesk", "/Applications/AnyDesk.app", "", 501),
        (813, "AnyDesk", "/Applications/AnyDesk.app", "", 501), (2, "", "", "", 0)]),
    "usb_devices": (("usb_address", "usb_port", "vendor", "vendor_id", "version", "model", "model_id", "serial",
                     "class", "subclass", "protocol", "removable"), [
        (1, 3, "Linux Foundation", "1d6b", "5.10", "Multifunction Composite Gadget", "0104", "", "0", "0", "0", 1)]),
    "system_info": (("hostname", "uuid", "computer_name", "local_hostname", "hardware_serial"), [
        ("LAPTOP-0042.local", "4AB2906D-5516-5794-AF54-86D1D7F533F3", "LAPTOP-0042", "LAPTOP-0042", "C02XK0AAJG5J")]),
    "os_version": (("name", "version", "major", "minor", "patch", "build", "platform"), [
        ("macOS", "14.4.1", 14, 4, 1, "23E224", "darwin")]),
    "wifi_status": (("interface", "ssid", "bssid", "network_name", "country_code", "security_type", "rssi", "noise",
                     "channel", "channel_width", "channel_band", "transmit_rate", "mode"), [
        ("en0", "486f6d654e6574", "a4:2b:b0:11:22:33", "HomeNet", "US", "WPA2 Personal", -50, -90, 36, 80, 5,
         "866", "station")]),
    "routes": (("destination", "netmask", "gateway", "source", "flags", "interface", "mtu", "metric", "type",
                "hopcount"), [
        ("0.0.0.0", "0", "192.168.1.1", "192.168.1.7", 0, "en0", 1500, 10, "gateway", 0),
        ("0.0.0.0", "0", "10.8.0.1", "10.8.0.2", 0, "utun3", 1400, 50, "gateway", 0),
        ("192.168.1.0", "24", "", "192.168.1.7", 0, "en0", 1500, 0, "local", 0)]),
    "arp_cache": (("address", "mac", "interface", "permanent"), [
        ("192.168.1.1", "a4:2b:b0:11:22:33", "en0", "0"), ("10.8.0.1", "incomplete", "utun3", "0")]),
    "connected_displays": (("name", "product_id", "serial_number", "vendor_id", "display_id", "main"), [
        ("DELL U2720Q", "41077", "", "4268", "2", 0), ("PiKVM", "1", "", "1", "3", 0)]),
    "users": (("uid", "gid", "username", "description", "directory", "shell"), [
        (501, 20, "akim", "Ana Kim", "/Users/akim", "/bin/zsh"), (0, 0, "root", "System Administrator", "/var/root",
                                                                   "/bin/sh")]),
    "preferences": (("domain", "key", "subkey", "value", "forced", "username", "host"), [
        ("com.apple.HIToolbox", "AppleEnabledInputSources", "0/InputSourceKind", "Keyboard Layout", 0, "akim", "any"),
        ("com.apple.HIToolbox", "AppleEnabledInputSources", "0/KeyboardLayout Name", "U.S.", 0, "akim", "any"),
        ("com.apple.HIToolbox", "AppleEnabledInputSources", "1/Input Mode", "com.apple.inputmethod.Korean.2SetKorean",
         0, "akim", "any"),
        ("com.apple.HIToolbox", "AppleEnabledInputSources", "1/Bundle ID", "com.apple.inputmethod.Korean", 0, "akim",
         "any"),
        (".GlobalPreferences", "AppleLocale", "", "en_US", 0, "akim", "any")]),
    "registry": (("key", "path", "name", "type", "data", "mtime"), [
        ("HKEY_USERS\\S-1-5-21-1004336348-1177238915-682003330-1001\\Keyboard Layout\\Preload", "", "1", "REG_SZ",
         "00000409", 0),
        ("HKEY_USERS\\S-1-5-21-1004336348-1177238915-682003330-1001\\Keyboard Layout\\Preload", "", "2", "REG_SZ",
         "00000412", 0),
        ("HKEY_USERS\\.DEFAULT\\Keyboard Layout\\Preload", "", "1", "REG_SZ", "00000407", 0),
        ("HKEY_USERS\\S-1-5-21-1004336348-1177238915-682003330-1001\\Control Panel\\International", "",
         "LocaleName", "REG_SZ", "ko-KR", 0),
        ("HKEY_USERS\\S-1-5-21-1004336348-1177238915-682003330-1001\\Control Panel\\International", "",
         "sShortDate", "REG_SZ", "yyyy-MM-dd", 0),
        ("HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\TimeZoneInformation", "", "TimeZoneKeyName",
         "REG_SZ", "Korea Standard Time", 0)]),
    "augeas": (("node", "value", "label", "path"), [
        ("/files/etc/default/keyboard/XKBLAYOUT", '"us,kr"', "XKBLAYOUT", "/etc/default/keyboard"),
        ("/files/etc/default/keyboard/XKBMODEL", '"pc105"', "XKBMODEL", "/etc/default/keyboard"),
        ("/files/etc/default/locale/LANG", "ko_KR.UTF-8", "LANG", "/etc/default/locale")]),
}

# What each query's rows become on the host above.
EXPECTED: dict[str, dict[str, Any]] = {
    "telltales_processes": {"processes": ["launchd", "anydesk"]},
    "telltales_usb_devices": {"usb_devices": [UsbDevice(vendor_id="1d6b", product_id="0104", vendor="Linux Foundation",
                                                        product="Multifunction Composite Gadget")]},
    "telltales_system": {"hostname": "LAPTOP-0042.local", "os": "macOS 14.4.1"},
    "telltales_wifi": {"wifi": Wifi(ssid="HomeNet", bssid="a4:2b:b0:11:22:33")},
    "telltales_gateway": {"gateway_mac": "a4:2b:b0:11:22:33"},
    "telltales_displays": {"displays": [Display(name="DELL U2720Q"), Display(name="PiKVM")]},
    "telltales_language_macos": {"keyboard_layouts": ["U.S.", "com.apple.inputmethod.Korean.2SetKorean"],
                                 "locale": "en_US"},
    "telltales_language_windows": {"keyboard_layouts": ["00000409", "00000412"], "locale": "ko-KR"},
    "telltales_language_linux": {"keyboard_layouts": ["us", "kr"], "locale": "ko_KR.UTF-8"},
    "telltales_timezone_windows": {"timezone": "Asia/Seoul"},
}


def osquery_rows(sql: str) -> list[dict[str, str]]:
    """Run a pack query on the tables above; values as the results log writes them (strings, "" for NULL)."""
    db = sqlite3.connect(":memory:")
    for table, (columns, rows) in TABLES.items():
        quoted = ", ".join(f'"{c}"' for c in columns)  # `key`, `path`, `type` are column names here
        db.execute(f"CREATE TABLE {table} ({quoted})")
        db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})", rows)
    cursor = db.execute(sql)
    names = [d[0] for d in cursor.description]
    return [{n: "" if v is None else str(v) for n, v in zip(names, row)} for row in cursor.fetchall()]


@pytest.mark.parametrize("query", sorted(EXPECTED))
def test_each_pack_query_runs_on_osquerys_columns_and_its_rows_map(query):
    sql = json.loads(PACK.read_text(encoding="utf-8"))["queries"][query]["query"]
    snap = one(snapshot(query, osquery_rows(sql)))
    mapped = {f: getattr(snap, f) for f in DeviceSnapshot.__struct_fields__
              if getattr(snap, f) is not None and f not in {"employee_id", "event_id", "device_id", "source", "ts"}}
    assert mapped == EXPECTED[query]


@pytest.mark.parametrize("name, query", [
    ("telltales_wifi", "telltales_wifi"),
    ("pack_telltales_telltales_wifi", "telltales_wifi"),
    ("pack/it-laptops/telltales_wifi", "telltales_wifi"),
    ("pack_incident-response_processes", None),
    ("telltales_wifi_extra", None),
    ("wifi", None),
])
def test_a_results_name_is_matched_to_its_pack_query_whatever_the_pack_is_called(name, query):
    assert query_of(name) == query


def test_every_windows_zone_maps_to_a_zone_the_decoder_and_zoneinfo_accept():
    assert len(WINDOWS_ZONES) > 130
    assert set(WINDOWS_ZONES.values()) <= zoneinfo.available_timezones()
    assert WINDOWS_ZONES["Korea Standard Time"] == "Asia/Seoul"
    assert WINDOWS_ZONES["Central Standard Time"] == "America/Chicago"


# --- each query maps ----------------------------------------------------------------------

def test_processes_several_rows_become_one_snapshot_of_canonical_names():
    snap = one(snapshot("telltales_processes", [{"name": "launchd"}, {"name": "AnyDesk"}, {"name": ""},
                                                {"name": "TeamViewer_Service.exe"}, {"name": "launchd"}]))
    assert snap.processes == ["launchd", "anydesk", "teamviewer"]
    assert (snap.usb_devices, snap.wifi, snap.hostname) == (None, None, None)


def test_a_process_list_longer_than_the_contract_allows_is_split_not_refused():
    rows = [{"name": f"proc{i}"} for i in range(MAX_LIST + 5)]
    result = translate(snapshot("telltales_processes", rows))
    assert [len(s.processes) for s in result] == [MAX_LIST, 5]
    assert result[1].processes[-1] == f"proc{MAX_LIST + 4}"
    assert len({s.event_id for s in result}) == 2


def test_usb_devices_map_model_to_product_and_leave_out_empty_columns_and_the_device_class():
    snap = one(snapshot("telltales_usb_devices", [
        usb(), usb("05AC", "8262", "Apple Inc.", "Keyboard Backlight", serial="C0Z123")]))
    assert snap.usb_devices == [
        UsbDevice(vendor_id="1d6b", product_id="0104", vendor="Linux Foundation",
                  product="Multifunction Composite Gadget"),
        UsbDevice(vendor_id="05ac", product_id="8262", vendor="Apple Inc.", product="Keyboard Backlight",
                  serial="C0Z123")]
    assert all(d.interface_classes is None for d in snap.usb_devices)


def test_gateway_gives_the_routers_mac_in_windows_or_posix_notation():
    assert one(snapshot("telltales_gateway", [{"mac": "A4-2B-B0-11-22-33"}])).gateway_mac == "a4:2b:b0:11:22:33"


@pytest.mark.parametrize("query, rows, layouts, locale", [
    ("telltales_language_macos",
     [{"kind": "keyboard_layout", "value": "U.S."},
      {"kind": "keyboard_layout", "value": "com.apple.inputmethod.Korean.2SetKorean"},
      {"kind": "locale", "value": "en_US"}],
     ["U.S.", "com.apple.inputmethod.Korean.2SetKorean"], "en_US"),
    ("telltales_language_windows",
     [{"kind": "keyboard_layout", "value": "00000409"}, {"kind": "keyboard_layout", "value": "00000412"},
      {"kind": "locale", "value": "ko-KR"}, {"kind": "locale", "value": "en-US"}],
     ["00000409", "00000412"], "ko-KR"),
    ("telltales_language_linux",
     [{"kind": "keyboard_layout", "value": '"us,kr"'}, {"kind": "locale", "value": '"ko_KR.UTF-8"'}],
     ["us", "kr"], "ko_KR.UTF-8"),
])
def test_language_queries_give_keyboard_layouts_and_the_first_locale(query, rows, layouts, locale):
    snap = one(snapshot(query, rows))
    assert (snap.keyboard_layouts, snap.locale) == (layouts, locale)


def test_a_windows_time_zone_outside_cldrs_table_is_skipped_with_its_name():
    assert translate(snapshot("telltales_timezone_windows", [{"windows_zone": "Mars Standard Time"}])) == (
        "Windows time zone 'Mars Standard Time' has no IANA name in CLDR's table")


def test_unix_time_is_read_as_a_number_or_as_a_string_of_digits():
    assert one(snapshot("telltales_processes", [{"name": "launchd"}], unix_time=str(UNIX_TIME))).processes == [
        "launchd"]


def test_the_same_line_gives_the_same_event_id_and_another_time_another():
    record = snapshot("telltales_gateway", [{"mac": "a4:2b:b0:11:22:33"}])
    assert one(record).event_id == one(record).event_id
    assert one(record).event_id != translate({**record, "unixTime": UNIX_TIME + 900})[0].event_id


# --- differential and batch formats -------------------------------------------------------

def test_an_added_row_becomes_a_partial_snapshot_of_that_row():
    snap = one(event("added", "telltales_processes", {"name": "AnyDesk"}))
    assert snap.processes == ["anydesk"]


def test_a_removed_row_is_skipped_with_its_reason():
    assert translate(event("removed", "telltales_usb_devices", usb())) == (
        "a removed row says what is gone, not what the device has")


def test_a_batch_maps_its_added_rows_and_ignores_the_removed_ones():
    snap = one(batch("telltales_usb_devices", added=[usb()], removed=[usb("046d", "c52b", "Logitech", "Receiver")]))
    assert [(d.vendor_id, d.product_id) for d in snap.usb_devices] == [("1d6b", "0104")]


def test_a_batch_with_only_removed_rows_is_skipped():
    assert translate(batch("telltales_processes", added=[], removed=[{"name": "zoom.us"}])) == (
        "a batch with no added rows (removed rows say what is gone, not what the device has)")


# --- skips and rejections -----------------------------------------------------------------

def test_a_query_of_another_pack_is_skipped_naming_the_query():
    record = snapshot("telltales_processes", [{"name": "sshd"}], host="unknown-host")
    record["name"] = "pack_incident-response_processes"
    assert translate(record) == "query 'pack_incident-response_processes' is not in the telltales pack"


def test_a_snapshot_with_no_rows_is_skipped():
    assert translate(snapshot("telltales_wifi", [])) == "telltales_wifi returned no rows"


def test_an_unknown_host_is_rejected_as_unknown_identity():
    assert translate(snapshot("telltales_processes", [{"name": "sshd"}], host="KIOSK-9")) == Rejection(
        "unknown_identity", "hostIdentifier",
        "`hostIdentifier` is 'KIOSK-9': no employee record lists it as its id or an alias")


def test_an_older_event_line_naming_the_host_in_hostname_resolves_too():
    record = event("added", "telltales_processes", {"name": "launchd"})
    record["hostname"] = record.pop("hostIdentifier")
    assert one(record).processes == ["launchd"]


def test_a_malformed_usb_id_is_refused_with_the_contracts_path():
    assert translate(snapshot("telltales_usb_devices", [usb(), usb(vendor_id="1d6g")])) == Rejection(
        "bad_format", "usb_devices[1].vendor_id",
        'the osquery record maps to an event the contract refuses: `usb_devices[1].vendor_id` is "1d6g"; '
        "expected 4 hex digits, any case")


@pytest.mark.parametrize("record, expected", [
    ({**snapshot("telltales_processes", [{"name": "sshd"}]), "unixTime": "yesterday"},
     Rejection("adapter_error", "unixTime", "`unixTime` is 'yesterday': expected whole seconds since the Unix epoch")),
    ({**snapshot("telltales_processes", [{"name": "sshd"}]), "action": "snapshotted"},
     Rejection("adapter_error", "action",
               "`action` is 'snapshotted': expected snapshot, added or removed (or a diffResults batch)")),
    (snapshot("telltales_processes", ["sshd"]),
     Rejection("adapter_error", "snapshot[0]", "`snapshot[0]` is not a row object")),
    (snapshot("telltales_processes", "launchd"),
     Rejection("adapter_error", "snapshot", "`snapshot` is not a list of rows")),
    ({**batch("telltales_processes", [], []), "diffResults": [{"name": "launchd"}]},
     Rejection("adapter_error", "diffResults", "`diffResults` is not an object")),
    (snapshot("telltales_system", [{"hostname": 42}]),
     Rejection("adapter_error", "hostname", "column `hostname` is 42: expected text")),
    ({k: v for k, v in snapshot("telltales_processes", [{"name": "sshd"}]).items() if k != "name"},
     Rejection("adapter_error", "name", "`name` is missing: not an osquery results line")),
])
def test_a_malformed_results_line_is_rejected_with_the_field_at_fault(record, expected):
    assert translate(record) == expected


# --- telltales adapt end to end -----------------------------------------------------------

def test_adapt_writes_every_valid_line_dlqs_the_bad_ones_and_replay_accepts_the_output(tmp_path, capsys):
    directory_file = tmp_path / "employees.jsonl"
    directory_file.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in (
        employee("emp-1", aliases=["LAPTOP-0042"], timezone="America/Chicago"),
        employee("emp-2", aliases=["MBP-BO"]))))
    lines = [
        snapshot("telltales_processes", [{"name": "AnyDesk"}, {"name": "zoom.us"}]),
        snapshot("telltales_usb_devices", [usb(vendor_id="1d6")], unix_time=UNIX_TIME + 60),
        snapshot("telltales_wifi", [{"ssid": "HomeNet", "bssid": "a4:2b:b0:11:22:33"}], host="MBP-BO",
                 unix_time=UNIX_TIME + 120),
        snapshot("telltales_processes", [{"name": "sshd"}], host="KIOSK-9", unix_time=UNIX_TIME + 180),
        {**snapshot("pack_other_users", [{"uid": "0"}]), "name": "pack_other_users"},
        event("removed", "telltales_processes", {"name": "zoom.us"}),
        snapshot("telltales_timezone_windows", [{"windows_zone": "Korea Standard Time"}], unix_time=UNIX_TIME + 240),
    ]
    raw = [json.dumps(x).encode() for x in lines] + [b'{"name": "telltales_wifi", "snapshot": [']
    results = tmp_path / "osqueryd.snapshots.log"
    results.write_bytes(b"\n".join(raw) + b"\n")
    out, dead = tmp_path / "events.jsonl", tmp_path / "dlq.jsonl"
    assert cli.main(["adapt", "--from", "osquery", "--directory", str(directory_file), "--out", str(out),
                     "--dlq", str(dead), str(results)]) == 0

    events = [json.loads(x) for x in out.read_bytes().splitlines()]
    common = {"event_type", "event_id", "employee_id", "device_id", "ts", "source"}
    assert [(e["employee_id"], e["device_id"], e["ts"], {k: v for k, v in e.items() if k not in common})
            for e in events] == [
        ("emp-1", "LAPTOP-0042", "2026-03-02T09:00:00Z", {"processes": ["anydesk", "zoom.us"]}),
        ("emp-2", "MBP-BO", "2026-03-02T09:02:00Z", {"wifi": {"ssid": "HomeNet", "bssid": "a4:2b:b0:11:22:33"}}),
        ("emp-1", "LAPTOP-0042", "2026-03-02T09:04:00Z", {"timezone": "Asia/Seoul"})]
    envelopes = [msgspec.json.decode(x, type=DlqEnvelope) for x in dead.read_bytes().splitlines()]
    assert [(e.stage, e.adapter, e.code, e.path, e.source, e.time) for e in envelopes] == [
        ("adapter", "osquery", "bad_format", "usb_devices[0].vendor_id",
         {"file": str(results), "line": 2}, "2026-03-02T09:00:00Z"),
        ("adapter", "osquery", "unknown_identity", "hostIdentifier",
         {"file": str(results), "line": 4}, "2026-03-02T09:02:00Z"),
        ("adapter", "osquery", "bad_json", "", {"file": str(results), "line": 8}, "2026-03-02T09:04:00Z")]
    for envelope, line_number in zip(envelopes, (2, 4, 8)):
        original = base64.b64decode(envelope.original_b64)
        assert original == raw[line_number - 1] and not envelope.truncated
        assert (envelope.size, envelope.sha256) == (len(original), hashlib.sha256(original).hexdigest())
    assert envelopes[1].message == "`hostIdentifier` is 'KIOSK-9': no employee record lists it as its id or an alias"
    assert capsys.readouterr().err.splitlines() == [
        "adapt (osquery): 8 records; 3 events written; 2 skipped; 3 rejected",
        "  skipped: query 'pack_other_users' is not in the telltales pack (1); "
        "a removed row says what is gone, not what the device has (1)",
        "  rejected: bad_format 1, bad_json 1, unknown_identity 1"]

    alerts = tmp_path / "alerts.jsonl"
    assert cli.main(["replay", "--strict", "--alerts", str(alerts), str(directory_file), str(out)]) == 0
    assert "5 accepted, 0 rejected" in capsys.readouterr().err
