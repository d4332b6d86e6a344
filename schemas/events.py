"""Typed events of the contract (SPEC section 4): the one place field names, types, units and ranges are defined.

Each event is a frozen msgspec Struct, decoded from JSON at C speed. The published JSON
Schema files in `schemas/json/` are generated from these types (`telltales.schemas.jsonschema`),
so the contract and the decoder cannot drift apart. Names are normalised here, once:
tool and process names to canonical ids, hex ids and MAC addresses to lower case,
country codes to upper case.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta
from msgspec.structs import force_setattr

from .vocabulary import canonical_tool

# Bounds that keep one event's memory small whatever a source sends.
MAX_TEXT: Final = 1024
MAX_LIST: Final = 1024
MAX_MS: Final = 600_000.0  # ten minutes: anything above is not a latency measurement

RFC3339_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"

Text = Annotated[str, Meta(max_length=MAX_TEXT)]
Id = Annotated[str, Meta(min_length=1, max_length=256, description="Opaque identifier, non-empty.")]
Time = Annotated[
    dt.datetime,
    Meta(tz=True, description="RFC 3339 time with an offset (Z or ±HH:MM).",
         extra_json_schema={"type": "string", "pattern": RFC3339_PATTERN}),
]
Ip = Annotated[str, Meta(max_length=45, description="IPv4 or IPv6 address.",
                         extra_json_schema={"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})]
# Python's `$` also matches before a final "\n", so a pattern alone would let "1d6b\n"
# through (ECMA-262 validators refuse it): fixed-width formats also carry maxLength and
# variable-width ones end in `(?!\n)$`.
Mac = Annotated[str, Meta(pattern=r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$", max_length=17,
                          description="MAC address, six hex octets; stored lower-case with ':'.")]
Hex4 = Annotated[str, Meta(pattern=r"^[0-9A-Fa-f]{4}$", max_length=4, description="4 hex digits, any case; stored lower-case.")]
Hex2 = Annotated[str, Meta(pattern=r"^[0-9A-Fa-f]{2}$", max_length=2, description="USB interface class, 2 hex digits.")]
Country = Annotated[str, Meta(pattern=r"^[A-Za-z]{2}$", max_length=2, description="ISO 3166-1 alpha-2 country code; stored upper-case.")]
Latitude = Annotated[float, Meta(ge=-90, le=90, description="Degrees north, WGS 84.")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="Degrees east, WGS 84.")]
Milliseconds = Annotated[float, Meta(ge=0, le=MAX_MS, description="Milliseconds, 0 to 600000.")]
Timezone = Annotated[str, Meta(max_length=64, pattern=r"^(UTC|[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*)(?!\n)$",
                               description="IANA time zone name, e.g. America/Chicago.")]
ClockTime = Annotated[str, Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", max_length=5, description="Local wall-clock time HH:MM.")]
# A name must not normalise to nothing ("   ", "C:\\Tools\\"): its last path component holds a
# non-space character. Published as a pattern but checked after normalisation (`_tool`):
# msgspec runs patterns through Python's re, ~0.5 µs a name, and a snapshot lists ~100.
ToolName = Annotated[str, Meta(min_length=1, max_length=256, extra_json_schema={"pattern": r"[^\s\\/]\s*$"},
                               description="Tool or process name; normalised to a canonical id at decode.")]


# Addresses and process names repeat (an employee's few networks; the same ~100 processes
# in every snapshot), and parsing is the costly part of decode: ip_address ~2.5 µs, a
# name's normalisation ~1 µs. Only good values are remembered (a bad one raises each
# time), in plain dicts cleared when full — a lookup is what the hot path can afford.
MEMO_SIZE: Final = 65_536
_good_ips: dict[str, None] = {}
_tools: dict[str, str] = {}


def _check_ip(value: str | None) -> None:
    if value is not None and value not in _good_ips:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
        if len(_good_ips) >= MEMO_SIZE:
            _good_ips.clear()
        _good_ips[value] = None


def _tool(name: str) -> str:
    tool = _tools.get(name)
    if tool is None:
        tool = canonical_tool(name)
        if not tool:
            raise ValueError(f"{name!r} is not a tool or process name")
        if len(_tools) >= MEMO_SIZE:
            _tools.clear()
        _tools[name] = tool
    return tool


class _Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Nested value: frozen so detectors cannot change what they were given."""


class Geo(_Record):
    country: Country | None = None
    region: Annotated[Text, Meta(description="Subdivision name or code; informational.")] | None = None
    city: Text | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    accuracy_km: Annotated[float, Meta(ge=0, le=20_038, description="Radius of the location's uncertainty, km.")] | None = None

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        if self.country is not None:
            force_setattr(self, "country", self.country.upper())


class Asn(_Record):
    number: Annotated[int, Meta(ge=0, le=4_294_967_295, description="Autonomous system number.")]
    org: Text | None = None


class Anonymizer(_Record):
    type: Literal["vpn", "proxy", "tor", "hosting", "relay"]
    provider: Text | None = None


class Mfa(_Record):
    method: Text | None = None
    device_id: Id | None = None


class Client(_Record):
    os: Text | None = None
    version: Text | None = None
    user_agent: Annotated[str, Meta(max_length=4096)] | None = None


class Stats(_Record):
    """Summary of repeated measurements, in milliseconds; `n` is the number of samples."""

    min: Milliseconds
    p50: Milliseconds | None = None
    p95: Milliseconds | None = None
    n: Annotated[int, Meta(ge=1, le=1_000_000_000, description="Number of samples summarised.")] = 1

    def __post_init__(self) -> None:
        if self.p50 is not None and self.p50 < self.min:
            raise ValueError(f"p50 ({self.p50}) is below min ({self.min})")
        if self.p95 is not None and self.p95 < (self.p50 if self.p50 is not None else self.min):
            raise ValueError(f"p95 ({self.p95}) is below p50/min")


class Latency(_Record):
    """`rtt_ms`: network round trip device → vantage; `input_ms`: keystroke-to-echo delay seen at the vantage."""

    vantage: Annotated[str, Meta(min_length=1, max_length=256, description="Vantage point id (configured).")] | None = None
    rtt_ms: Stats | None = None
    input_ms: Stats | None = None


class Wifi(_Record):
    ssid: Annotated[str, Meta(max_length=64)] | None = None
    bssid: Mac | None = None

    def __post_init__(self) -> None:
        if self.bssid is not None:  # MACs are stored lower-case with ':' (inline: one call less per snapshot)
            force_setattr(self, "bssid", self.bssid.lower().replace("-", ":"))


class UsbDevice(_Record):
    vendor_id: Hex4 | None = None
    product_id: Hex4 | None = None
    vendor: Text | None = None
    product: Text | None = None
    serial: Text | None = None
    interface_classes: Annotated[list[Hex2], Meta(max_length=32)] | None = None

    def __post_init__(self) -> None:
        if self.vendor_id is not None:
            force_setattr(self, "vendor_id", self.vendor_id.lower())
        if self.product_id is not None:
            force_setattr(self, "product_id", self.product_id.lower())
        if self.interface_classes is not None:
            force_setattr(self, "interface_classes", [c.lower() for c in self.interface_classes])


class Display(_Record):
    name: Text | None = None
    manufacturer: Text | None = None


class Home(_Record):
    city: Text | None = None
    region: Text | None = None
    country: Country | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None

    def __post_init__(self) -> None:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat and lon must be given together")
        if self.country is not None:
            force_setattr(self, "country", self.country.upper())


Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class WorkHours(_Record):
    start: ClockTime
    end: ClockTime
    days: Annotated[list[Weekday], Meta(max_length=7)] = msgspec.field(
        default_factory=lambda: ["Mon", "Tue", "Wed", "Thu", "Fri"])


class _Event(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="event_type"):
    """Fields common to every event. `event_id` is derived by the decoder when absent."""

    employee_id: Id
    event_id: Id | None = None
    device_id: Id | None = None
    source: Text | None = None


class _Telemetry(_Event, frozen=True, kw_only=True, omit_defaults=True):
    ts: Time

    @property
    def epoch_s(self) -> float:
        """Event time as seconds since the Unix epoch."""
        return self.ts.timestamp()


class VpnLogin(_Telemetry, tag="vpn_login"):
    src_ip: Ip
    outcome: Literal["success", "failure"] = "success"
    gateway: Annotated[str, Meta(max_length=256, description="Vantage point id of the VPN gateway.")] | None = None
    geo: Geo | None = None
    asn: Asn | None = None
    anonymizer: Anonymizer | None = None
    mfa: Mfa | None = None
    client: Client | None = None

    def __post_init__(self) -> None:
        if self.src_ip not in _good_ips:  # the memo's lookup inlined: one call less on every login
            _check_ip(self.src_ip)


class RemoteSession(_Telemetry, tag="remote_session"):
    tool: ToolName
    session_id: Text | None = None
    direction: Literal["inbound", "outbound"] | None = None
    peer_ip: Ip | None = None
    duration_s: Annotated[float, Meta(ge=0, le=31_536_000, description="Seconds.")] | None = None
    bytes_in: Annotated[int, Meta(ge=0)] | None = None
    bytes_out: Annotated[int, Meta(ge=0)] | None = None
    latency: Latency | None = None

    def __post_init__(self) -> None:
        if self.peer_ip is not None and self.peer_ip not in _good_ips:
            _check_ip(self.peer_ip)
        force_setattr(self, "tool", _tools.get(self.tool) or _tool(self.tool))


class DeviceSnapshot(_Telemetry, tag="device_snapshot"):
    hostname: Text | None = None
    os: Text | None = None
    timezone: Timezone | None = None
    locale: Annotated[str, Meta(max_length=64, description="Locale tag, e.g. en-US or ko_KR.UTF-8.")] | None = None
    keyboard_layouts: Annotated[list[Annotated[str, Meta(max_length=128)]], Meta(max_length=64)] | None = None
    public_ip: Ip | None = None
    wifi: Wifi | None = None
    gateway_mac: Mac | None = None
    processes: Annotated[list[ToolName], Meta(max_length=MAX_LIST)] | None = None
    usb_devices: Annotated[list[UsbDevice], Meta(max_length=256)] | None = None
    displays: Annotated[list[Display], Meta(max_length=32)] | None = None
    latency: Latency | None = None

    def __post_init__(self) -> None:
        if self.public_ip is not None and self.public_ip not in _good_ips:
            _check_ip(self.public_ip)
        if self.gateway_mac is not None:
            force_setattr(self, "gateway_mac", self.gateway_mac.lower().replace("-", ":"))
        if self.processes is not None:
            known = _tools.get  # inlined lookup: a snapshot lists ~100 names
            force_setattr(self, "processes", [known(p) or _tool(p) for p in self.processes])


class Employee(_Event, tag="employee"):
    """A directory record: who the employee claims to be and where."""

    updated_at: Time | None = None
    home: Home | None = None
    timezone: Timezone | None = None
    work_hours: WorkHours | None = None
    status: Literal["active", "leave", "terminated"] = "active"
    role: Text | None = None
    manager_id: Id | None = None
    devices: Annotated[list[Id], Meta(max_length=256)] | None = None
    aliases: Annotated[list[Text], Meta(max_length=256)] | None = None
    approved_remote_tools: Annotated[list[ToolName], Meta(max_length=256)] | None = None
    hire_date: Annotated[dt.date, Meta(description="Calendar date YYYY-MM-DD.")] | None = None

    def __post_init__(self) -> None:
        if self.approved_remote_tools is not None:
            force_setattr(self, "approved_remote_tools", [_tool(t) for t in self.approved_remote_tools])


Telemetry = VpnLogin | RemoteSession | DeviceSnapshot
Event = VpnLogin | RemoteSession | DeviceSnapshot | Employee

EVENT_TYPES: Final[dict[str, type[_Event]]] = {
    "vpn_login": VpnLogin,
    "remote_session": RemoteSession,
    "device_snapshot": DeviceSnapshot,
    "employee": Employee,
}
