"""osquery results log → device_snapshot events: each line of the telltales query pack becomes one partial snapshot.

The pack is `deploy/osquery/telltales.conf`; every query in it is a snapshot query, so one
results line carries the query's whole current answer. Each query fills a few fields of
the contract's device_snapshot (SPEC section 4: every field but ts/employee_id optional):

    query (platform)                     rows → device_snapshot fields
    telltales_processes (all)            name → processes [names] (a list over MAX_LIST is split over several events)
    telltales_usb_devices (macOS, Linux) vendor_id, model_id, vendor, model, serial → usb_devices [{vendor_id,
                                         product_id, vendor, product, serial}]; osquery's `class` is the device
                                         class (0 for composite gadgets), not interface classes: not mapped
    telltales_system (all)               hostname → hostname; os_name + os_version → os
    telltales_wifi (macOS)               ssid (network_name), bssid → wifi {ssid, bssid}
    telltales_gateway (all)              mac (default route's gateway in the ARP cache) → gateway_mac
    telltales_displays (macOS)           name → displays [{name}]
    telltales_language_* (each OS)       kind 'keyboard_layout' → keyboard_layouts (comma lists split, quotes
                                         stripped); kind 'locale' → locale (the first row's)
    telltales_timezone_windows           windows_zone → timezone, through CLDR's Windows → IANA table below
                                         (macOS and Linux: no osquery table names the IANA zone; not reported)

Record fields: `name` picks the query, as scheduled (`telltales_wifi`) or from a pack
(`pack_<pack>_telltales_wifi`, any pack name, `_` or `/` as pack delimiter); `hostIdentifier`
(`hostname` in older event-format lines) is both the employee — resolved through the
directory's ids and aliases, so list each laptop's host identifier as an alias of its
owner — and the `device_id`; `decorations` are not used (a logged-in username says who
typed, not whose laptop it is). `unixTime` → `ts` (RFC 3339 UTC). `event_id` is left to
the decoder: a hash of the event, so the same line replayed gives the same id.

Formats: `"action": "snapshot"` maps all of `snapshot`'s rows. Differential lines
(`"action": "added"` with `columns`, or batched `diffResults.added`) map their added rows
the same way: detectors read these lists only for what is present (remote_control looks
for tools among `processes`, ip_kvm for a gadget among `usb_devices`), never for what is
absent, so a partial list cannot be misread. Removed rows are skipped: they say what is
gone, not what the device has. Lines of other queries on the same logger, and queries
that returned no rows, are skipped with their reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from ..events import MAX_LIST
from .base import AdapterError, Identities

Row = dict[str, Any]
Fields = dict[str, Any]


def _text(row: Row, column: str) -> str | None:
    """A text column's value, None when empty: osquery logs text columns as strings, "" for NULL."""
    value = row.get(column)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AdapterError("adapter_error", column, f"column `{column}` is {value!r}: expected text")
    return value


def _texts(rows: list[Row], column: str) -> list[str]:
    return list(dict.fromkeys(v for row in rows if (v := _text(row, column)) is not None))


def _processes(rows: list[Row]) -> list[Fields] | str:
    names = _texts(rows, "name")
    if not names:
        return "telltales_processes rows have no process name"
    return [{"processes": names[i:i + MAX_LIST]} for i in range(0, len(names), MAX_LIST)]


USB_COLUMNS = (("vendor_id", "vendor_id"), ("model_id", "product_id"), ("vendor", "vendor"), ("model", "product"),
               ("serial", "serial"))  # osquery column → UsbDevice field


def _usb_devices(rows: list[Row]) -> list[Fields] | str:
    devices = [{field: value for column, field in USB_COLUMNS if (value := _text(row, column)) is not None}
               for row in rows]
    return [{"usb_devices": devices}]


def _system(rows: list[Row]) -> list[Fields] | str:
    row = rows[0]
    os_name = " ".join(v for v in (_text(row, "os_name"), _text(row, "os_version")) if v is not None)
    fields = {k: v for k, v in (("hostname", _text(row, "hostname")), ("os", os_name or None)) if v is not None}
    return [fields] if fields else "telltales_system row names neither hostname nor OS"


def _wifi(rows: list[Row]) -> list[Fields] | str:
    wifi = {k: v for k in ("ssid", "bssid") if (v := _text(rows[0], k)) is not None}
    return [{"wifi": wifi}] if wifi else "telltales_wifi row names neither SSID nor BSSID"


def _gateway(rows: list[Row]) -> list[Fields] | str:
    mac = _text(rows[0], "mac")
    return [{"gateway_mac": mac}] if mac is not None else "telltales_gateway row has no MAC address"


def _displays(rows: list[Row]) -> list[Fields] | str:
    return [{"displays": [{"name": name} for name in _texts(rows, "name")]}]


def _language(rows: list[Row]) -> list[Fields] | str:
    """Layouts from every row (xkb gives "us,kr"; augeas keeps shell quotes), the locale from the first locale row."""
    layouts: list[str] = []
    locales: list[str] = []
    for row in rows:
        value = _text(row, "value")
        if value is None:
            continue
        kind = _text(row, "kind")
        if kind == "keyboard_layout":
            layouts.extend(p for part in value.split(",") if (p := part.strip().strip("\"'")))
        elif kind == "locale" and (locale := value.strip().strip("\"'")):
            locales.append(locale)
    fields: Fields = {}
    if layouts:
        fields["keyboard_layouts"] = list(dict.fromkeys(layouts))
    if locales:
        fields["locale"] = locales[0]
    return [fields] if fields else "telltales_language rows have no keyboard layout or locale"


def _timezone_windows(rows: list[Row]) -> list[Fields] | str:
    zone = _text(rows[0], "windows_zone")
    if zone is None:
        return "telltales_timezone_windows row has no time zone"
    iana = WINDOWS_ZONES.get(zone)
    return [{"timezone": iana}] if iana else f"Windows time zone {zone!r} has no IANA name in CLDR's table"


QUERIES: dict[str, Callable[[list[Row]], list[Fields] | str]] = {
    "telltales_processes": _processes,
    "telltales_usb_devices": _usb_devices,
    "telltales_system": _system,
    "telltales_wifi": _wifi,
    "telltales_gateway": _gateway,
    "telltales_displays": _displays,
    "telltales_language_macos": _language,
    "telltales_language_windows": _language,
    "telltales_language_linux": _language,
    "telltales_timezone_windows": _timezone_windows,
}


def query_of(name: str) -> str | None:
    """The pack query a results `name` comes from: the query itself, or `pack<d><pack name><d><query>`."""
    if name in QUERIES:
        return name
    if name.startswith("pack"):
        for query in QUERIES:
            if name.endswith(("_" + query, "/" + query)):
                return query
    return None


def _rows(record: dict[str, Any]) -> list[Row] | str:
    """The rows that describe what the device has now, or why there are none."""
    if "diffResults" in record:
        diff = record["diffResults"]
        if not isinstance(diff, dict):
            raise AdapterError("adapter_error", "diffResults", "`diffResults` is not an object")
        rows, path = diff.get("added") or [], "diffResults.added"
        if not rows:
            return "a batch with no added rows (removed rows say what is gone, not what the device has)"
    else:
        action = record.get("action")
        if action == "snapshot":
            rows, path = record.get("snapshot"), "snapshot"
        elif action == "added":
            rows, path = [record.get("columns")], "columns"
        elif action == "removed":
            return "a removed row says what is gone, not what the device has"
        else:
            raise AdapterError("adapter_error", "action",
                               f"`action` is {action!r}: expected snapshot, added or removed (or a diffResults batch)")
    if not isinstance(rows, list):
        raise AdapterError("adapter_error", path, f"`{path}` is not a list of rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            where = path if path == "columns" else f"{path}[{i}]"
            raise AdapterError("adapter_error", where, f"`{where}` is not a row object")
    return rows


def _time(value: Any) -> str:
    """`unixTime` (a number in osquery 5's lines, a string of digits in older ones and in the docs) → RFC 3339 UTC."""
    try:
        if isinstance(value, bool):
            raise ValueError
        seconds = int(value)
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        shown = "missing" if value is None else repr(value)
        raise AdapterError("adapter_error", "unixTime",
                           f"`unixTime` is {shown}: expected whole seconds since the Unix epoch") from None


class OsqueryAdapter:
    name = "osquery"
    title = "osquery results log"

    def adapt(self, record: dict[str, Any], identities: Identities) -> list[dict[str, Any]] | str:
        name = record.get("name")
        if not isinstance(name, str) or not name:
            raise AdapterError("adapter_error", "name", "`name` is missing: not an osquery results line")
        query = query_of(name)
        if query is None:
            return f"query {name!r} is not in the telltales pack"
        rows = _rows(record)
        if isinstance(rows, str):
            return rows
        if not rows:
            return f"{query} returned no rows"
        path = "hostIdentifier" if "hostIdentifier" in record else "hostname"
        host = record.get(path)
        employee_id = identities.resolve(host, path)
        ts = _time(record.get("unixTime"))
        fields = QUERIES[query](rows)
        if isinstance(fields, str):
            return fields
        return [{"event_type": "device_snapshot", "employee_id": employee_id, "device_id": host, "ts": ts,
                 "source": "osquery", **part} for part in fields]


ADAPTER = OsqueryAdapter()

# Windows time zone ids (the registry's TimeZoneKeyName) → IANA names: CLDR's windowsZones.xml,
# territory 001 (each Windows zone's representative city), as tzlocal 5.4 ships it.
WINDOWS_ZONES: dict[str, str] = {
    "AUS Central Standard Time": "Australia/Darwin", "AUS Eastern Standard Time": "Australia/Sydney",
    "Afghanistan Standard Time": "Asia/Kabul", "Alaskan Standard Time": "America/Anchorage",
    "Alberta Standard Time": "America/Edmonton", "Aleutian Standard Time": "America/Adak",
    "Altai Standard Time": "Asia/Barnaul", "Arab Standard Time": "Asia/Riyadh", "Arabian Standard Time": "Asia/Dubai",
    "Arabic Standard Time": "Asia/Baghdad", "Argentina Standard Time": "America/Buenos_Aires",
    "Astrakhan Standard Time": "Europe/Astrakhan", "Atlantic Standard Time": "America/Halifax",
    "Aus Central W. Standard Time": "Australia/Eucla", "Azerbaijan Standard Time": "Asia/Baku",
    "Azores Standard Time": "Atlantic/Azores", "Bahia Standard Time": "America/Bahia",
    "Bangladesh Standard Time": "Asia/Dhaka", "Belarus Standard Time": "Europe/Minsk",
    "Bougainville Standard Time": "Pacific/Bougainville", "British Columbia Standard Time": "America/Vancouver",
    "Canada Central Standard Time": "America/Regina", "Cape Verde Standard Time": "Atlantic/Cape_Verde",
    "Caucasus Standard Time": "Asia/Yerevan", "Cen. Australia Standard Time": "Australia/Adelaide",
    "Central America Standard Time": "America/Guatemala", "Central Asia Standard Time": "Asia/Bishkek",
    "Central Brazilian Standard Time": "America/Cuiaba", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw", "Central Pacific Standard Time": "Pacific/Guadalcanal",
    "Central Standard Time": "America/Chicago", "Central Standard Time (Mexico)": "America/Mexico_City",
    "Chatham Islands Standard Time": "Pacific/Chatham", "China Standard Time": "Asia/Shanghai",
    "Cuba Standard Time": "America/Havana", "Dateline Standard Time": "Etc/GMT+12",
    "E. Africa Standard Time": "Africa/Nairobi", "E. Australia Standard Time": "Australia/Brisbane",
    "E. Europe Standard Time": "Europe/Chisinau", "E. South America Standard Time": "America/Sao_Paulo",
    "Easter Island Standard Time": "Pacific/Easter", "Eastern Standard Time": "America/New_York",
    "Eastern Standard Time (Mexico)": "America/Cancun", "Egypt Standard Time": "Africa/Cairo",
    "Ekaterinburg Standard Time": "Asia/Yekaterinburg", "FLE Standard Time": "Europe/Kiev",
    "Fiji Standard Time": "Pacific/Fiji", "GMT Standard Time": "Europe/London",
    "GTB Standard Time": "Europe/Bucharest", "Georgian Standard Time": "Asia/Tbilisi",
    "Greenland Standard Time": "America/Godthab", "Greenwich Standard Time": "Atlantic/Reykjavik",
    "Haiti Standard Time": "America/Port-au-Prince", "Hawaiian Standard Time": "Pacific/Honolulu",
    "India Standard Time": "Asia/Calcutta", "Iran Standard Time": "Asia/Tehran",
    "Israel Standard Time": "Asia/Jerusalem", "Jordan Standard Time": "Asia/Amman",
    "Kaliningrad Standard Time": "Europe/Kaliningrad", "Korea Standard Time": "Asia/Seoul",
    "Libya Standard Time": "Africa/Tripoli", "Line Islands Standard Time": "Pacific/Kiritimati",
    "Lord Howe Standard Time": "Australia/Lord_Howe", "Magadan Standard Time": "Asia/Magadan",
    "Magallanes Standard Time": "America/Punta_Arenas", "Manitoba Standard Time": "America/Winnipeg",
    "Marquesas Standard Time": "Pacific/Marquesas", "Mauritius Standard Time": "Indian/Mauritius",
    "Middle East Standard Time": "Asia/Beirut", "Montevideo Standard Time": "America/Montevideo",
    "Morocco Standard Time": "Africa/Casablanca", "Mountain Standard Time": "America/Denver",
    "Mountain Standard Time (Mexico)": "America/Mazatlan", "Myanmar Standard Time": "Asia/Rangoon",
    "N. Central Asia Standard Time": "Asia/Novosibirsk", "Namibia Standard Time": "Africa/Windhoek",
    "Nepal Standard Time": "Asia/Katmandu", "New Zealand Standard Time": "Pacific/Auckland",
    "Newfoundland Standard Time": "America/St_Johns", "Norfolk Standard Time": "Pacific/Norfolk",
    "North Asia East Standard Time": "Asia/Irkutsk", "North Asia Standard Time": "Asia/Krasnoyarsk",
    "North Korea Standard Time": "Asia/Pyongyang", "Omsk Standard Time": "Asia/Omsk",
    "Pacific SA Standard Time": "America/Santiago", "Pacific Standard Time": "America/Los_Angeles",
    "Pacific Standard Time (Mexico)": "America/Tijuana", "Pakistan Standard Time": "Asia/Karachi",
    "Paraguay Standard Time": "America/Asuncion", "Qyzylorda Standard Time": "Asia/Qyzylorda",
    "Romance Standard Time": "Europe/Paris", "Russia Time Zone 10": "Asia/Srednekolymsk",
    "Russia Time Zone 11": "Asia/Kamchatka", "Russia Time Zone 3": "Europe/Samara",
    "Russian Standard Time": "Europe/Moscow", "SA Eastern Standard Time": "America/Cayenne",
    "SA Pacific Standard Time": "America/Bogota", "SA Western Standard Time": "America/La_Paz",
    "SE Asia Standard Time": "Asia/Bangkok", "Saint Pierre Standard Time": "America/Miquelon",
    "Sakhalin Standard Time": "Asia/Sakhalin", "Samoa Standard Time": "Pacific/Apia",
    "Sao Tome Standard Time": "Africa/Sao_Tome", "Saratov Standard Time": "Europe/Saratov",
    "Singapore Standard Time": "Asia/Singapore", "South Africa Standard Time": "Africa/Johannesburg",
    "South Sudan Standard Time": "Africa/Juba", "Sri Lanka Standard Time": "Asia/Colombo",
    "Sudan Standard Time": "Africa/Khartoum", "Syria Standard Time": "Asia/Damascus",
    "Taipei Standard Time": "Asia/Taipei", "Tasmania Standard Time": "Australia/Hobart",
    "Tocantins Standard Time": "America/Araguaina", "Tokyo Standard Time": "Asia/Tokyo",
    "Tomsk Standard Time": "Asia/Tomsk", "Tonga Standard Time": "Pacific/Tongatapu",
    "Transbaikal Standard Time": "Asia/Chita", "Turkey Standard Time": "Europe/Istanbul",
    "Turks And Caicos Standard Time": "America/Grand_Turk", "US Eastern Standard Time": "America/Indianapolis",
    "US Mountain Standard Time": "America/Phoenix", "UTC": "Etc/UTC", "UTC+12": "Etc/GMT-12", "UTC+13": "Etc/GMT-13",
    "UTC-02": "Etc/GMT+2", "UTC-08": "Etc/GMT+8", "UTC-09": "Etc/GMT+9", "UTC-11": "Etc/GMT+11",
    "Ulaanbaatar Standard Time": "Asia/Ulaanbaatar", "Venezuela Standard Time": "America/Caracas",
    "Vladivostok Standard Time": "Asia/Vladivostok", "Volgograd Standard Time": "Europe/Volgograd",
    "W. Australia Standard Time": "Australia/Perth", "W. Central Africa Standard Time": "Africa/Lagos",
    "W. Europe Standard Time": "Europe/Berlin", "W. Mongolia Standard Time": "Asia/Hovd",
    "West Asia Standard Time": "Asia/Tashkent", "West Bank Standard Time": "Asia/Hebron",
    "West Pacific Standard Time": "Pacific/Port_Moresby", "Yakutsk Standard Time": "Asia/Yakutsk",
    "Yukon Standard Time": "America/Whitehorse",
}
