"""`telltales simulate`: a synthetic organisation with planted, labelled operatives — the yardstick detectors are measured against.

The organisation: employees living in real cities (mostly US, plus a normal international
workforce), hybrid office workers behind office NAT, the organisation's own VPN egress,
business travel (flights at airliner speeds, hotel networks, device time-zone changes, now
and then a team offsite in one hotel, some travellers' second, unlisted device), weekends
and public holidays, days off that end on a new device (a personal tablet or laptop on a holiday
abroad, a replacement laptop at home), DHCP address changes, device replacements, IT staff with approved
remote-support tools, couples sharing a home network, flaky Wi-Fi, mobile hotspots, privacy
VPNs and iCloud Private Relay, bilingual keyboard layouts, people far from every vantage
point. Latency follows physics (`telltales.detectors.geo`): a round trip from the device to
a vantage point is at least the fibre bound over the great-circle path (through any VPN exit
on the way), times a route inflation of 1.2–2.0, plus access delay and jitter; `input_ms` of
a person at the device is that round trip plus 2–8 ms of local echo.

Planted operatives (about 0.5–1 % of employees; at least one of each kind from 200
employees up), each mixing weak tells; every parameter is drawn per seed:

- ``laptop_farm`` — several new hires' laptops behind one US residential IP, Wi-Fi BSSID
  and gateway MAC; IP-KVM USB gadgets (1d6b:0104 PiKVM/TinyPilot/JetKVM/GL.iNet) and
  capture-style display names, or an RMM tool; operators abroad, so `input_ms` sits far
  above the device's RTT.
- ``remote_control`` — the laptop at the claimed home, driven through an AnyDesk-style
  tool: the process on the device, inbound sessions from abroad, a keystroke delay excess.
- ``vpn_offshore`` — the worker and laptop abroad behind a consumer VPN (Astrill above
  all) exiting in US hosting ranges, with a few slips from a residential IP in the real
  country.
- ``dormant_hijack`` — an existing employee goes quiet for days, then a new device logs
  in from a new place (abroad, or through a VPN).
- ``quiet`` — only weak tells: a ko-KR keyboard layout, an Asian device time zone, odd
  hours, a moderate keystroke delay excess (at least two of the four).

Outputs (``--out DIR``):

- ``events.jsonl`` — employee records first (by id), then telemetry sorted by ``ts``
  (ties by employee, then generation order); every line is a contract Struct encoded
  with msgspec and carries ``event_type``.
- ``telltales.toml`` — the organisation config the data assumes (vantage points, office
  and VPN egress CIDRs).
- ``labels.json`` — the ground truth::

      {"format": 1, "seed": int, "employees": int, "days": int,
       "start": "YYYY-MM-DD", "end": "YYYY-MM-DD" (exclusive),
       "operatives": {employee_id: {
           "scenario": "laptop_farm" | "remote_control" | "vpn_offshore" | "dormant_hijack" | "quiet",
           "first_telling_time": RFC 3339 — the ts of the operative's first event that
               carries any planted tell (farm infrastructure, IP-KVM gadget or display,
               remote tool process or inbound session, keystroke delay excess, consumer-VPN
               exit or slip, planted layout or time zone, activity outside claimed hours,
               the new device and place after dormancy),
           "group": farm group id ("farm-1", ...) or null,
           "params": {scenario-specific drawn values, e.g. "input_excess_ms",
                      "operator_city", "tool", "kvm", "slips", "start"}}},
       "scenario_params": {per-seed draws: rates, counts per kind, farm groups, tools},
       "cohorts": {employee_id: [tags]} — non-operatives with a trait that makes them a
           hard negative: couple, office, traveller, offsite, it_staff, privacy_vpn,
           icloud_relay, hotspot, flaky_wifi, far_from_vantage, second_layout,
           device_replaced, new_hire, on_leave, night_owl, jiggler, trip_device,
           returner (with holiday or new_laptop)}

Same seed, same arguments ⇒ the same bytes: one ``random.Random(seed)`` drives every draw
but the ``trip_device`` and ``returner`` cohorts', which have streams of their own (so adding
them left every other employee's events of a seed unchanged); iteration is over lists and
insertion-ordered dicts only, and no wall clock is read.

Live mode (``--kafka BOOTSTRAP --rate N``) produces the same events to the SPEC §3 topics
(key = the raw UTF-8 employee id; value = the event JSON without ``event_type``), paced
at N events per second (0 = as fast as possible).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import ipaddress
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Iterator, NamedTuple
from zoneinfo import ZoneInfo

import msgspec

from telltales.detectors.geo import haversine_km
from telltales.schemas.events import (
    Anonymizer, Asn, Client, Display, DeviceSnapshot, Employee, Geo, Home, Latency, Mfa, RemoteSession, Stats,
    UsbDevice, VpnLogin, Wifi, WorkHours,
)

from . import simdata as sd

DEFAULT_START: Final = dt.date(2026, 3, 2)  # a Monday
LABELS_FORMAT: Final = 1
SCENARIOS: Final = ("laptop_farm", "remote_control", "vpn_offshore", "dormant_hijack", "quiet")

HOUR_MS: Final = 3_600_000
MINUTE_MS: Final = 60_000
DAY_MS: Final = 24 * HOUR_MS


class Vantage(NamedTuple):
    name: str
    lat: float
    lon: float
    cloud: str


# Vantage points: the organisation's VPN gateways and server regions, where RTT and keystroke
# delay are measured. Employees in Hawaii, Alaska, South America and Oceania are far from all.
VANTAGE_POINTS: Final[dict[str, Vantage]] = {
    "us-east": Vantage("Ashburn, Virginia", 39.0438, -77.4874, "aws"),
    "us-central": Vantage("Dallas, Texas", 32.7767, -96.7970, "aws"),
    "us-west": Vantage("Hillsboro, Oregon", 45.5229, -122.9898, "aws"),
    "eu-west": Vantage("London", 51.5074, -0.1278, "gcp"),
    "eu-central": Vantage("Frankfurt", 50.1109, 8.6821, "gcp"),
    "ap-southeast": Vantage("Singapore", 1.3521, 103.8198, "gcp"),
}
_VIDS: Final = tuple(VANTAGE_POINTS)


# --------------------------------------------------------------------------------------------
# Calendar


def _easter(year: int) -> dt.date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return dt.date(year, month, day)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th (1-based; -1 = last) given weekday (Mon=0) of a month."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


_LUNAR_HOLIDAYS: Final = {  # India: Holi and Diwali follow the lunar calendar
    "IN": (dt.date(2025, 3, 14), dt.date(2025, 10, 20), dt.date(2026, 3, 4), dt.date(2026, 11, 8),
           dt.date(2027, 3, 22), dt.date(2027, 10, 29)),
}


@functools.cache
def holidays(country: str, year: int) -> frozenset[dt.date]:
    """Public holidays on which most of a country's employees do not work (main national ones)."""
    d = dt.date
    easter = _easter(year)
    e = lambda days: easter + dt.timedelta(days=days)  # noqa: E731
    common = {d(year, 1, 1), d(year, 12, 25)}
    match country:
        case "US":
            days = {d(year, 7, 4), d(year, 6, 19), _nth_weekday(year, 1, 0, 3), _nth_weekday(year, 2, 0, 3),
                    _nth_weekday(year, 5, 0, -1), _nth_weekday(year, 9, 0, 1), _nth_weekday(year, 11, 3, 4),
                    _nth_weekday(year, 11, 3, 4) + dt.timedelta(days=1)}
        case "CA":
            days = {e(-2), d(year, 7, 1), d(year, 12, 26), _nth_weekday(year, 9, 0, 1), _nth_weekday(year, 10, 0, 2),
                    d(year, 5, 25) - dt.timedelta(days=(d(year, 5, 25).weekday() or 7))}
        case "GB":
            days = {e(-2), e(1), d(year, 12, 26), _nth_weekday(year, 5, 0, 1), _nth_weekday(year, 5, 0, -1),
                    _nth_weekday(year, 8, 0, -1)}
        case "IE":
            days = {d(year, 3, 17), e(1), d(year, 12, 26), _nth_weekday(year, 5, 0, 1), _nth_weekday(year, 6, 0, 1),
                    _nth_weekday(year, 8, 0, 1)}
        case "DE":
            days = {e(-2), e(1), d(year, 5, 1), e(39), e(50), d(year, 10, 3), d(year, 12, 26)}
        case "PL":
            days = {d(year, 1, 6), e(1), d(year, 5, 1), d(year, 5, 3), e(60), d(year, 8, 15), d(year, 11, 1),
                    d(year, 11, 11), d(year, 12, 26)}
        case "IN":
            days = {d(year, 1, 26), d(year, 8, 15), d(year, 10, 2)} | {x for x in _LUNAR_HOLIDAYS["IN"] if x.year == year}
        case "BR":
            days = {e(-48), e(-47), e(-2), d(year, 4, 21), d(year, 5, 1), d(year, 9, 7), d(year, 10, 12),
                    d(year, 11, 2), d(year, 11, 15)}
        case "PH":
            days = {e(-3), e(-2), d(year, 4, 9), d(year, 5, 1), d(year, 6, 12), d(year, 11, 30), d(year, 12, 30)}
        case "MX":
            days = {_nth_weekday(year, 2, 0, 1), _nth_weekday(year, 3, 0, 3), d(year, 5, 1), d(year, 9, 16)}
        case "AU" | "NZ":
            days = {e(-2), e(1), d(year, 12, 26), d(year, 4, 25)}
        case _:
            days = {e(-2), e(1)} if country in ("FR", "ES", "NL", "PT") else set()
    return frozenset(common | days)


# --------------------------------------------------------------------------------------------
# Model


@dataclass(slots=True, eq=False)
class Net:
    """A network attachment as the outside sees it: public IP, its enrichment, the Wi-Fi and router."""

    ip: str
    asn: Asn
    geo: Geo
    px_lat: float  # where traffic physically reaches the internet (latency path)
    px_lon: float
    kind: str  # home | office | hotel | mobile | corp_vpn | vpn_exit | relay | foreign
    gateway: str = ""
    anonymizer: Anonymizer | None = None
    ssid: str | None = None
    bssids: tuple[str, ...] = ()
    gw_mac: str | None = None


@dataclass(slots=True, eq=False)
class Where:
    """Where the device physically is, and what its access link and clock look like there."""

    lat: float
    lon: float
    infl: float  # route inflation over the great-circle path
    access_ms: float  # last-mile and local network delay
    flaky: float  # chance that one measurement window hits a latency spike
    tz: str  # the device's time zone setting here
    telling: bool = False  # everything done from here carries a planted tell
    input_excess: float = 0.0  # extra keystroke-to-echo delay: someone typing far from the device
    vinfl: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Device:
    since_ms: int
    device_id: str
    hostname: str
    os: str
    os_version: str


@dataclass(slots=True, eq=False)
class Household:
    nets: list[tuple[int, Net]]  # (from_ms, net), ascending

    def net_at(self, t: int) -> Net:
        current = self.nets[0][1]
        for since, net in self.nets:
            if since <= t:
                current = net
        return current


@dataclass(slots=True, eq=False)
class Office:
    city: sd.City
    cidr: str
    nets: list[Net]


class Block(NamedTuple):
    t0: int
    t1: int
    where: Where
    net: Net
    intensity: str  # work | light | background | slip


@dataclass(slots=True, eq=False)
class Trip:
    depart_day: int
    return_day: int
    dest: sd.City
    depart_ms: int
    arrive_ms: int
    back_depart_ms: int
    back_arrive_ms: int
    hotel: Net
    where: Where
    office: Office | None


@dataclass(slots=True, eq=False)
class Person:
    idx: int
    eid: str
    first: str
    last: str
    role: str
    engineer: bool
    city: sd.City
    lat: float
    lon: float
    tz: str
    locale: str
    layouts: list[str]
    devices: list[Device]
    mfa: list[tuple[int, str]]
    household: Household
    home: Where
    work_start: float
    work_end: float
    hire_date: dt.date
    status: str = "active"
    active_from_day: int = 0
    it_staff: bool = False
    office: Office | None = None
    office_days: tuple[int, ...] = ()
    trip: Trip | None = None
    weekend_rate: float = 0.1
    evening_rate: float = 0.1
    session_rate: float = 0.3
    hotspot_rate: float = 0.0
    hotspot_isp: sd.Isp | None = None
    privacy_vpn: list[Net] = field(default_factory=list)
    relay: Net | None = None
    personal_processes: list[str] = field(default_factory=list)
    usb: list[UsbDevice] = field(default_factory=list)
    displays: list[Display] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    listed_devices: list[str] = field(default_factory=list)
    # Planted behaviour (operatives only).
    scenario: str | None = None
    group: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    planted_processes: list[str] = field(default_factory=list)
    process_visibility: float = 0.0
    planted_usb: list[UsbDevice] = field(default_factory=list)
    planted_displays: list[Display] = field(default_factory=list)
    kvm_visibility: float = 0.0
    planted_layouts: tuple[str, ...] = ()
    planted_tz: tuple[str, ...] = ()
    inbound_tool: str | None = None
    inbound_peers: list[str] = field(default_factory=list)
    watch_hours: bool = False
    op_plan: Any = None

    def device_at(self, t: int) -> Device:
        current = self.devices[0]
        for device in self.devices:
            if device.since_ms <= t:
                current = device
        return current

    def mfa_at(self, t: int) -> str:
        current = self.mfa[0][1]
        for since, mfa in self.mfa:
            if since <= t:
                current = mfa
        return current


class SimEvent(NamedTuple):
    """One generated telemetry event with the ground truth the tests and labels need."""

    ts_ms: int
    person: int  # index of the employee
    seq: int  # generation order, for stable ties
    event: VpnLogin | RemoteSession | DeviceSnapshot
    telling: bool  # carries a planted tell
    lat: float | None  # where the device physically was (None: not known, e.g. the far end of a session)
    lon: float | None


# --------------------------------------------------------------------------------------------
# Helpers

_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone


def _local_ms(tz: str, date: dt.date, hours: float) -> int:
    """Epoch ms of a local wall-clock time (hours may exceed 24 to run into the next day)."""
    extra_days, hours = divmod(hours, 24.0)
    day = date + dt.timedelta(days=int(extra_days))
    minutes = int(round(hours * 60))
    h, m = divmod(min(minutes, 24 * 60 - 1), 60)
    return int(dt.datetime(day.year, day.month, day.day, h, m, tzinfo=_zone(tz)).timestamp() * 1000)


def _local_hour(tz: str, t_ms: int) -> tuple[float, int]:
    """Local hour of day (fractional) and weekday (Mon=0) of an epoch-ms time."""
    local = dt.datetime.fromtimestamp(t_ms / 1000, _zone(tz))
    return local.hour + local.minute / 60, local.weekday()


_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _ts(t_ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=t_ms)


def rfc3339(t_ms: int) -> str:
    """The RFC 3339 form the events file uses for an epoch-ms time."""
    return msgspec.json.encode(_ts(t_ms)).decode()[1:-1]


def _hhmm(hours: float) -> str:
    minutes = int(round(hours * 60)) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@functools.cache
def _nearest_vantage(lat: float, lon: float) -> str:
    return min(_VIDS, key=lambda v: haversine_km(lat, lon, VANTAGE_POINTS[v].lat, VANTAGE_POINTS[v].lon))


def _prefix(cidr: str) -> tuple[int, int]:
    net = ipaddress.ip_network(cidr)
    return int(net.network_address), net.num_addresses


# --------------------------------------------------------------------------------------------
# The generator


class _Generator:
    def __init__(self, employees: int, days: int, seed: int, start: dt.date) -> None:
        if employees < 1 or days < 1:
            raise ValueError("employees and days must be at least 1")
        self.n = employees
        self.days = days
        self.seed = seed
        self.start = start
        self.r = random.Random(seed)
        self.trip_r = random.Random(f"trip_device:{seed}")  # the trip_device cohort's own stream
        self.trip_devices: list[tuple[Person, Device, bool]] = []  # (traveller, second device, managed?)
        self.returner_r = random.Random(f"returner:{seed}")  # the returner cohort's own stream
        self.used_ips: set[int] = set()
        self.events: list[SimEvent] = []
        self.people: list[Person] = []
        self.scenario_params: dict[str, Any] = {}
        self.hotels: dict[str, list[Net]] = {}
        self._seq = 0

    # ---- identifiers and addresses ----------------------------------------------------------

    def _uid(self, width: int = 12) -> str:
        return f"{self.r.getrandbits(4 * width):0{width}x}"

    def _mac(self) -> str:
        r = self.r
        return f"{r.choice(sd.OUIS)}:{r.randrange(256):02x}:{r.randrange(256):02x}:{r.randrange(256):02x}"

    def _ip(self, cidr: str) -> str:
        base, size = _prefix(cidr)
        r = self.r
        for _ in range(1000):
            value = base + r.randrange(1, size - 1)
            if value % 256 in (0, 255) or value in self.used_ips:
                continue
            self.used_ips.add(value)
            return str(ipaddress.IPv4Address(value))
        raise RuntimeError(f"address block {cidr} is exhausted")

    def _block(self, cidr: str, size: int = 16) -> str:
        base, total = _prefix(cidr)
        r = self.r
        for _ in range(1000):
            first = base + r.randrange(0, total // size) * size
            if any(first + i in self.used_ips for i in range(size)):
                continue
            self.used_ips.update(range(first, first + size))
            return f"{ipaddress.IPv4Address(first)}/{32 - int(math.log2(size))}"
        raise RuntimeError(f"address block {cidr} is exhausted")

    def _isp(self, country: str, kind: str = "res") -> sd.Isp:
        isps = [i for i in sd.ISPS.get(country, sd.ISPS["US"]) if i.kind == kind] or \
               [i for i in sd.ISPS.get(country, sd.ISPS["US"]) if i.kind == "res"]
        return self.r.choices(isps, weights=[i.weight for i in isps])[0]

    def _geo(self, city: sd.City, accuracy: float, spread_deg: float = 0.03, with_city: bool = True) -> Geo:
        r = self.r
        return Geo(country=city.country, region=city.region, city=city.name if with_city else None,
                   lat=round(city.lat + r.uniform(-spread_deg, spread_deg), 4),
                   lon=round(city.lon + r.uniform(-spread_deg, spread_deg), 4), accuracy_km=accuracy)

    def _net(self, city: sd.City, isp: sd.Isp, kind: str, px: tuple[float, float], *, accuracy: float | None = None,
             wifi: bool = True, ssid: str | None = None, anonymizer: Anonymizer | None = None) -> Net:
        r = self.r
        if accuracy is None:
            accuracy = r.choice((5, 10, 20, 20, 50, 100)) if kind != "mobile" else r.choice((200, 500, 1000))
        geo = self._geo(city, float(accuracy), spread_deg=0.03 if kind != "mobile" else 0.8, with_city=kind != "mobile")
        net = Net(ip=self._ip(r.choice(isp.prefixes)), asn=Asn(number=isp.asn, org=isp.org), geo=geo,
                  px_lat=px[0], px_lon=px[1], kind=kind, anonymizer=anonymizer)
        net.gateway = _nearest_vantage(*px)
        if wifi:
            net.ssid = ssid
            net.bssids = (self._mac(),)
            net.gw_mac = self._mac()
        return net

    def _home_ssid(self, last: str, country: str) -> str:
        r = self.r
        return r.choice(sd.HOME_SSIDS.get(country, sd.GENERIC_SSIDS)).format(n=r.randint(10, 999), h=f"{r.getrandbits(16):04X}",
                                             last=last.replace("'", ""))

    def _jitter(self, lat: float, lon: float, km: float) -> tuple[float, float]:
        r = self.r
        d = km * math.sqrt(r.random())
        bearing = r.uniform(0, 2 * math.pi)
        dlat = d * math.cos(bearing) / 111.0
        dlon = d * math.sin(bearing) / (111.0 * max(0.2, math.cos(math.radians(lat))))
        return round(lat + dlat, 5), round(lon + dlon, 5)

    def _where(self, lat: float, lon: float, tz: str, *, access: tuple[float, float] = (2, 20),
               infl: tuple[float, float] = (1.2, 2.0), flaky: float = 0.02) -> Where:
        r = self.r
        return Where(lat=lat, lon=lon, infl=r.uniform(*infl), access_ms=r.uniform(*access), flaky=flaky, tz=tz)

    # ---- the organisation ---------------------------------------------------------------------

    def build_org(self) -> None:
        r = self.r
        self.corp = r.choice(("acme", "globex", "initech", "umbrella", "hooli", "vandelay", "soylent", "tyrell"))
        self.domain = f"{self.corp}.example.com"
        self.helpdesk_tool = r.choice(sd.HELPDESK_TOOLS)
        # VPN egress and servers: a /28 of each vantage's cloud for egress, one for servers.
        self.egress: dict[str, list[Net]] = {}
        self.egress_cidrs: list[str] = []
        self.servers: dict[str, list[str]] = {}
        for vid, vantage in VANTAGE_POINTS.items():
            asn, org, prefix = sd.CLOUD_NETWORKS[vantage.cloud]
            cidr = self._block(prefix, 16)
            self.egress_cidrs.append(cidr)
            base, _ = _prefix(cidr)
            city = sd.City(vantage.name.split(",")[0], "", self._vantage_country(vid), vantage.lat, vantage.lon, "UTC", 1)
            nets = []
            for i in range(r.randint(2, 4)):
                geo = Geo(country=city.country, city=city.name, lat=round(vantage.lat, 4), lon=round(vantage.lon, 4),
                          accuracy_km=float(r.choice((100, 200, 1000))))
                nets.append(Net(ip=str(ipaddress.IPv4Address(base + 1 + i)), asn=Asn(number=asn, org=org), geo=geo,
                                px_lat=vantage.lat, px_lon=vantage.lon, kind="corp_vpn", gateway=vid,
                                anonymizer=Anonymizer(type="hosting", provider=org)))
            self.egress[vid] = nets
            server_block = self._block(prefix, 16)
            sbase, _ = _prefix(server_block)
            self.servers[vid] = [str(ipaddress.IPv4Address(sbase + 1 + i)) for i in range(8)]
        # Offices: a few metros, at least two in the US.
        us = [c for c in sd.OFFICE_CANDIDATES[:8]]
        rest = [c for c in sd.OFFICE_CANDIDATES[8:]]
        chosen = r.sample(us, r.randint(2, 3)) + r.sample(rest, r.randint(1, 2))
        self.offices: list[Office] = []
        by_name = {c.name: c for c in sd.HOME_CITIES}
        for name in chosen:
            city = by_name[name]
            isp = self._isp(city.country, "biz")
            cidr = self._block(r.choice(isp.prefixes), 16)
            base, _ = _prefix(cidr)
            bssids = tuple(self._mac() for _ in range(r.randint(12, 40)))
            gw = self._mac()
            nets = []
            for i in range(r.randint(2, 4)):
                geo = self._geo(city, float(r.choice((5, 10, 20))), spread_deg=0.01)
                nets.append(Net(ip=str(ipaddress.IPv4Address(base + 2 + i)), asn=Asn(number=isp.asn, org=isp.org),
                                geo=geo, px_lat=city.lat, px_lon=city.lon, kind="office",
                                gateway=_nearest_vantage(city.lat, city.lon), ssid=f"{self.corp.upper()}-CORP",
                                bssids=bssids, gw_mac=gw))
            self.offices.append(Office(city=city, cidr=cidr, nets=nets))

    @staticmethod
    def _vantage_country(vid: str) -> str:
        return {"eu-west": "GB", "eu-central": "DE", "ap-southeast": "SG"}.get(vid, "US")

    # ---- people ---------------------------------------------------------------------------------

    def _office_near(self, lat: float, lon: float) -> Office | None:
        best = min(self.offices, key=lambda o: haversine_km(lat, lon, o.city.lat, o.city.lon))
        return best if haversine_km(lat, lon, best.city.lat, best.city.lon) <= 80 else None

    def _pick_city(self) -> sd.City:
        if not hasattr(self, "_city_weights"):
            weights = []
            for c in sd.HOME_CITIES:
                near = any(haversine_km(c.lat, c.lon, o.city.lat, o.city.lon) <= 80 for o in self.offices)
                weights.append(c.weight * (2.5 if near else 1.0))
            self._city_weights = weights
        return self.r.choices(sd.HOME_CITIES, weights=self._city_weights)[0]

    def _new_device(self, since: int, os: str, first: str, last: str) -> Device:
        r = self.r
        asset = r.randint(10000, 99999)
        prefix = {"windows": "WIN", "macos": "MAC", "linux": "LNX"}[os]
        return Device(since_ms=since, device_id=f"dev-{self._uid(10)}", hostname=f"{self.corp.upper()}-{prefix}-{asset}",
                      os=os, os_version=r.choice(sd.OS_VERSIONS[os]))

    def _household(self, city: sd.City, lat: float, lon: float, last: str) -> Household:
        r = self.r
        isp = self._isp(city.country)
        net = self._net(city, isp, "home", (lat, lon), ssid=self._home_ssid(last, city.country))
        nets = [(0, net)]
        if r.random() < 0.08 * self.days / 14:  # a DHCP lease change: same router, new address
            t = self._window_ms(r.uniform(0.5, self.days - 0.1))
            moved = Net(ip=self._ip(r.choice(isp.prefixes)), asn=net.asn, geo=net.geo, px_lat=lat, px_lon=lon,
                        kind="home", gateway=net.gateway, ssid=net.ssid, bssids=net.bssids, gw_mac=net.gw_mac)
            nets.append((t, moved))
        return Household(nets)

    def _window_ms(self, days: float) -> int:
        return _local_ms("UTC", self.start, 0) + int(days * DAY_MS)

    def new_person(self, idx: int, eid: str, *, city: sd.City | None = None, household: Household | None = None,
                   home: tuple[float, float] | None = None, role: str | None = None) -> Person:
        r = self.r
        city = city or self._pick_city()
        lat, lon = home or self._jitter(city.lat, city.lon, 25)
        first = r.choice(sd.FIRST_NAMES)
        last = r.choice(sd.LAST_NAMES)
        if role is None:
            roles = sd.ROLES
            role, _, engineer = r.choices(roles, weights=[x[1] for x in roles])[0]
        else:
            engineer = True
        locale = r.choice(sd.LOCALES.get(city.country, ("en-US",)))
        layout = locale if not locale.startswith("en-") or locale in ("en-GB", "en-IE", "en-US") else "en-US"
        layouts = [layout]
        os = r.choices(("windows", "macos", "linux"), weights=(35, 50, 15) if engineer else (60, 38, 2))[0]
        device = self._new_device(0, os, first, last)
        household = household or self._household(city, lat, lon, last)
        flaky = 0.25 if r.random() < 0.08 else 0.02
        where = self._where(lat, lon, city.tz, flaky=flaky)
        start = r.choice((7.0, 7.5, 8.0, 8.0, 8.5, 8.5, 9.0, 9.0, 9.0, 9.5, 10.0))
        p = Person(idx=idx, eid=eid, first=first, last=last, role=role, engineer=engineer, city=city, lat=lat, lon=lon,
                   tz=city.tz, locale=locale, layouts=layouts, devices=[device], mfa=[(0, f"mfa-{self._uid(10)}")],
                   household=household, home=where, work_start=start, work_end=start + r.choice((8.0, 8.5, 9.0, 9.5)),
                   hire_date=self.start - dt.timedelta(days=r.randint(20, 3500)))
        p.listed_devices = [device.device_id]
        p.weekend_rate = r.choice((0.0, 0.05, 0.1, 0.2, 0.35))
        p.evening_rate = r.choice((0.05, 0.1, 0.2, 0.4))
        p.session_rate = r.uniform(2.5, 6.0) if engineer else r.choice((0.0, 0.0, 0.2, 0.5))
        if flaky > 0.1:
            p.tags.append("flaky_wifi")
        return p

    def _peripherals(self, p: Person) -> None:
        r = self.r
        os = p.devices[0].os
        usb = [UsbDevice(vendor_id=v, product_id=pid, vendor=vn, product=pn, interface_classes=list(ic))
               for v, pid, vn, pn, ic in r.sample(sd.NORMAL_USB, r.randint(1, 4))]
        if os == "linux":
            usb += [UsbDevice(vendor_id=v, product_id=pid, vendor=vn, product=pn, interface_classes=list(ic))
                    for v, pid, vn, pn, ic in sd.LINUX_ROOT_HUBS]
        p.usb = usb
        name, maker = sd.BUILTIN_DISPLAY[os]
        p.displays = [Display(name=name, manufacturer=maker)] + [
            Display(name=n, manufacturer=m) for n, m in r.sample(sd.NORMAL_DISPLAYS, r.choice((0, 1, 1, 2)))]

    def build_people(self) -> None:
        r = self.r
        n = self.n
        ids = [f"emp-{i:05d}" for i in range(1, n + 1)]
        counts = self._operative_counts()
        kinds = [k for k, c in counts.items() for _ in range(c)]
        slots = sorted(r.sample(range(n), len(kinds)))
        r.shuffle(kinds)
        op_kind = dict(zip(slots, kinds))
        normals = [i for i in range(n) if i not in op_kind]
        # Couples: two employees of one household (hard negative for shared infrastructure).
        n_couples = int(round(len(normals) * r.uniform(0.01, 0.02)))
        pool = r.sample(normals, min(len(normals), 2 * n_couples))
        partner = {max(pool[2 * i], pool[2 * i + 1]): min(pool[2 * i], pool[2 * i + 1]) for i in range(len(pool) // 2)}
        people: list[Person | None] = [None] * n
        for i in normals:  # ascending, so a partner's mate already exists
            if i in partner:
                mate = people[partner[i]]
                p = self.new_person(i, ids[i], city=mate.city, household=mate.household, home=(mate.lat, mate.lon))
                p.home = mate.home  # one network: the same access link, Wi-Fi and route
                if "flaky_wifi" in p.tags:
                    p.tags.remove("flaky_wifi")
                if "flaky_wifi" in mate.tags:
                    p.tags.append("flaky_wifi")
                p.tags.append("couple")
                mate.tags.append("couple")
            else:
                p = self.new_person(i, ids[i])
            people[i] = p
        self.people = people  # operatives filled in below
        self._normal_traits([people[i] for i in normals])
        self._plant(op_kind, ids)
        for p in self.people:
            if not p.usb:
                self._peripherals(p)

    def _normal_traits(self, normals: list[Person]) -> None:
        r = self.r
        days = self.days
        for p in normals:
            if p.it_staff:
                continue
            office = self._office_near(p.lat, p.lon)
            if office is not None and r.random() < 0.6:
                p.office = office
                p.office_days = tuple(sorted(r.sample(range(5), r.randint(1, 4))))
                p.tags.append("office")
            far = min(haversine_km(p.lat, p.lon, v.lat, v.lon) for v in VANTAGE_POINTS.values())
            if far > 2000:
                p.tags.append("far_from_vantage")
            if r.random() < 0.07 and p.city.country in ("US", "CA", "GB", "AU"):
                layout = r.choices([x[0] for x in sd.SECOND_LAYOUTS], weights=[x[1] for x in sd.SECOND_LAYOUTS])[0]
                if layout == "ko-KR":
                    p.last = r.choice(sd.KOREAN_LAST_NAMES)
                p.layouts.append(layout)
                p.tags.append("second_layout")
            if r.random() < 0.03:
                p.hotspot_rate = r.uniform(0.1, 0.4)
                p.hotspot_isp = self._isp(p.city.country, "mobile")
                p.tags.append("hotspot")
            if r.random() < 0.02:  # a personal privacy VPN, on in the evenings
                provider = r.choice(sd.CONSUMER_VPNS)
                host = r.choice(sd.HOSTING)
                for _ in range(r.randint(1, 2)):
                    city = sd.HOSTING_CITIES[r.choice(host.cities)]
                    flagged = r.random() < 0.8
                    anon = Anonymizer(type="vpn", provider=provider) if flagged else Anonymizer(type="hosting", provider=host.org)
                    isp = sd.Isp(host.asn, host.org, host.prefixes, 1, "biz")
                    p.privacy_vpn.append(self._net(city, isp, "vpn_exit", (city.lat, city.lon), accuracy=r.choice((20, 100, 1000)),
                                                   wifi=False, anonymizer=anon))
                p.tags.append("privacy_vpn")
            if p.devices[0].os == "macos" and r.random() < 0.06:
                asn, org, prefix = r.choice(sd.RELAY_NETWORKS)
                isp = sd.Isp(asn, org, (prefix,), 1, "biz")
                p.relay = self._net(p.city, isp, "relay", (p.lat, p.lon), accuracy=r.choice((50, 100, 200)), wifi=False,
                                    anonymizer=Anonymizer(type="relay", provider="iCloud Private Relay"))
                p.tags.append("icloud_relay")
            if r.random() < 0.015:
                p.personal_processes.append(r.choice(("caffeine", "mouse_jiggler", "move_mouse")))
                p.tags.append("jiggler")
            if r.random() < 0.04:
                p.work_start, p.work_end = r.choice(((14.0, 22.5), (16.0, 24.0), (6.0, 14.5)))
                p.evening_rate = 0.5
                p.tags.append("night_owl")
            if r.random() < 0.012 * days / 14 + 0.002:
                t = self._window_ms(r.uniform(0.3, days - 0.2))
                old = p.devices[0]
                new = self._new_device(t, r.choice(("windows", "macos")) if old.os != "linux" else "linux", p.first, p.last)
                p.devices.append(new)
                if r.random() < 0.7:
                    p.listed_devices.append(new.device_id)
                p.tags.append("device_replaced")
            roll = r.random()
            if roll < 0.004:
                p.status = "terminated"
            elif roll < 0.02:
                p.status = "leave"
                p.tags.append("on_leave")
            elif roll < 0.02 + 0.006 * days / 14 and days > 1:
                p.active_from_day = r.randint(1, days - 1)
                p.hire_date = self.start + dt.timedelta(days=p.active_from_day)
                p.tags.append("new_hire")
            elif roll < 0.05:
                p.hire_date = self.start - dt.timedelta(days=r.randint(1, 120))
        # IT staff with the organisation's helpdesk tool.
        for p in normals:
            if r.random() < 0.015 and p.status == "active":
                p.it_staff = True
                p.role = sd.IT_ROLE
                p.engineer = True
                p.session_rate = r.uniform(1.0, 2.5)
                p.tags.append("it_staff")
        self.it_staff = [p for p in normals if p.it_staff]
        if normals and not self.it_staff:
            p = normals[0]
            p.it_staff, p.role, p.engineer = True, sd.IT_ROLE, True
            p.tags.append("it_staff")
            self.it_staff = [p]
        self.helpdesk_targets = [p for p in normals if p.status == "active" and not p.it_staff]
        self._plan_travel(normals)
        self._plan_trip_devices(normals)

    # ---- travel -----------------------------------------------------------------------------------

    def _hotel(self, city: sd.City) -> Net:
        r = self.r
        hotels = self.hotels.setdefault(city.name, [])
        if len(hotels) < 3 and (not hotels or r.random() < 0.5):
            isp = self._isp(city.country, "biz")
            hotels.append(self._net(city, isp, "hotel", (city.lat, city.lon), accuracy=r.choice((10, 20, 50)),
                                    ssid=r.choice(sd.HOTEL_SSIDS)))
        return r.choice(hotels)

    def _destination(self, p: Person, international: bool) -> sd.City:
        r = self.r
        office_cities = [o.city for o in self.offices]
        if international:
            pool = [c for c in office_cities if c.country != p.city.country] + [
                c for c in sd.HOME_CITIES + sd.TRAVEL_ONLY_CITIES
                if c.country != p.city.country and c.weight >= 1]
        else:
            pool = [c for c in office_cities if c.country == p.city.country] + [
                c for c in sd.HOME_CITIES + sd.TRAVEL_ONLY_CITIES if c.country == p.city.country and c.weight >= 1.5]
        pool = [c for c in pool if haversine_km(p.lat, p.lon, c.lat, c.lon) > 250] or \
               [c for c in sd.HOME_CITIES if haversine_km(p.lat, p.lon, c.lat, c.lon) > 250]
        return r.choice(pool)

    def _make_trip(self, p: Person, dest: sd.City, depart_day: int, nights: int, hotel: Net | None = None) -> Trip:
        r = self.r
        date = self.start + dt.timedelta(days=depart_day)
        dist = haversine_km(p.lat, p.lon, dest.lat, dest.lon)
        hours = dist / 80 if dist < 350 else dist / 850 + 0.6
        depart = _local_ms(p.tz, date, r.uniform(6.5, 14.0))
        arrive = depart + int(hours * HOUR_MS)
        back_date = date + dt.timedelta(days=nights)
        back_depart = max(_local_ms(dest.tz, back_date, r.uniform(11.0, 18.0)), arrive + 12 * HOUR_MS)
        back_arrive = back_depart + int(hours * HOUR_MS)
        hotel = hotel or self._hotel(dest)
        lat, lon = self._jitter(dest.lat, dest.lon, 8)
        tz = dest.tz if r.random() < 0.85 else p.tz  # most devices set their zone automatically
        where = self._where(lat, lon, tz, access=(3, 25), infl=(1.3, 1.9), flaky=0.15)
        office = next((o for o in self.offices if o.city.name == dest.name), None)
        return Trip(depart_day, depart_day + nights, dest, depart, arrive, back_depart, back_arrive, hotel, where, office)

    def _plan_travel(self, normals: list[Person]) -> None:
        r = self.r
        days = self.days
        eligible = [p for p in normals if p.status == "active" and p.active_from_day == 0]
        if days < 3 or not eligible:
            return
        rate = r.uniform(0.04, 0.08) * min(1.0, days / 14)
        travellers = r.sample(eligible, min(len(eligible), int(round(rate * len(eligible)))))
        for p in travellers:
            nights = r.randint(1, min(4, days - 2))
            depart_day = r.randint(0, days - 1 - nights)
            p.trip = self._make_trip(p, self._destination(p, r.random() < 0.3), depart_day, nights)
            p.tags.append("traveller")
        # A team offsite: several colleagues from different homes in one hotel for a few nights.
        if days >= 4 and len(eligible) >= 100 and r.random() < 0.6:
            free = [p for p in eligible if p.trip is None]
            group = r.sample(free, min(len(free), r.randint(4, 9)))
            dest = r.choice([o.city for o in self.offices])
            hotel = self._hotel(dest)
            nights = r.randint(2, 3)
            depart_day = r.randint(0, days - 1 - nights)
            for p in group:
                if haversine_km(p.lat, p.lon, dest.lat, dest.lon) <= 250:
                    continue
                p.trip = self._make_trip(p, dest, depart_day, nights, hotel)
                p.tags.append("offsite")
            self.scenario_params["offsite"] = {"city": dest.name, "hotel_ip": hotel.ip,
                                               "employees": [p.eid for p in group if "offsite" in p.tags]}

    def _plan_trip_devices(self, normals: list[Person]) -> None:
        """Some travellers also bring a second device the directory does not list, used only on the trip.

        A personal iPad (VPN logins only, no agents) or a spare laptop from IT's pool (its agents
        report too), in the evenings at the hotel where the usual laptop also logs in: the hard
        negative of home_mismatch's "device never used near home". Drawn from `trip_r` alone.
        """
        r = self.trip_r
        rate = r.uniform(0.1, 0.25)
        for p in normals:
            if p.trip is None or r.random() >= rate:
                continue
            managed = r.random() < 0.35
            since = p.trip.depart_ms
            if managed:
                os = r.choice(("windows", "macos"))
                device = Device(since, f"dev-{r.getrandbits(40):010x}", f"{self.corp.upper()}-LOANER-{r.randint(100, 999)}",
                                os, r.choice(sd.OS_VERSIONS[os]))
            else:
                device = Device(since, f"dev-{r.getrandbits(40):010x}", f"{p.first}'s iPad", "ipados",
                                r.choice(sd.OS_VERSIONS["ipados"]))
            self.trip_devices.append((p, device, managed))
            p.tags.append("trip_device")
        self.scenario_params["trip_device"] = {"rate": round(rate, 3),
                                               "employees": [p.eid for p, _, _ in self.trip_devices]}

    def _trip_device_events(self) -> None:
        """The second devices' logins (and a loaner's snapshots): evenings at the destination, mostly on the
        hotel's Wi-Fi, now and then on a local mobile network. Every draw comes from `trip_r`."""
        main, self.r = self.r, self.trip_r
        try:
            r = self.r
            for p, device, managed in self.trip_devices:
                trip = p.trip
                for day in range(trip.depart_day, trip.return_day):
                    if r.random() >= 0.7:
                        continue
                    date = self.start + dt.timedelta(days=day)
                    t0 = max(_local_ms(trip.dest.tz, date, r.uniform(19.0, 22.5)), trip.arrive_ms + HOUR_MS)
                    t1 = min(t0 + int(r.uniform(0.5, 2.0) * HOUR_MS), trip.back_depart_ms - 2 * HOUR_MS)
                    if t1 <= t0:
                        continue
                    net = trip.hotel
                    if r.random() < 0.2:
                        net = self._net(trip.dest, self._isp(trip.dest.country, "mobile"), "mobile",
                                        (trip.dest.lat, trip.dest.lon), wifi=False)
                    for _ in range(r.choice((1, 1, 2))):
                        self._login(p, r.randint(t0, t1), trip.where, net, "success", device)
                    if managed:
                        self._snapshot(p, r.randint(t0, t1), trip.where, net, "light", device)
        finally:
            self.r = main

    def _returners(self) -> None:
        """A few employees go silent for days off and come back on a device never seen before.

        The innocent twin of a dormant account's takeover (silence, a new device, a far place):
        ``holiday`` — on leave abroad, checking in once or twice from a personal laptop or tablet
        the directory does not list (VPN logins only, no agents), from a hotel or a local mobile
        network, sometimes in a country hijackers also use (family visits); ``new_laptop`` — back
        at home after days off with a replacement laptop from IT (listed or not yet), which takes
        over every later event. The employee's own events in the silence are dropped. Planned and
        drawn from `returner_r` alone, after everything else, so every other employee's events
        are unchanged.
        """
        main, self.r = self.r, self.returner_r
        try:
            r = self.r
            days = self.days
            rate = r.uniform(0.02, 0.04)
            eligible = [p for p in self.people if p.scenario is None and p.status == "active" and p.active_from_day == 0
                        and p.trip is None and not p.it_staff and len(p.devices) == 1]
            chosen = [p for p in eligible if r.random() < rate] if days >= 6 else []
            silences: dict[int, tuple[int, int]] = {}
            listed: list[str] = []
            for p in chosen:
                first_day = r.randint(1, days - 4)
                length = r.randint(3, 9)
                t0 = _local_ms(p.tz, self.start + dt.timedelta(days=first_day), 0)
                t1 = _local_ms(p.tz, self.start + dt.timedelta(days=first_day + length), 0)
                silences[p.idx] = (t0, t1)
                kind = "holiday" if r.random() < 0.6 else "new_laptop"
                p.tags += ["returner", kind]
                if kind == "holiday":
                    self._holiday_logins(p, first_day, first_day + length, (t0, t1))
                elif first_day + length < days:
                    old = p.devices[0]
                    new = self._new_device(t1, old.os, p.first, p.last)
                    p.devices.append(new)
                    if r.random() < 0.5:
                        p.listed_devices.append(new.device_id)
                        listed.append(p.eid)
            self.scenario_params["returner"] = {"rate": round(rate, 3), "employees": [p.eid for p in chosen],
                                                "new_laptop_listed": listed}
            swapped = {p.idx for p in chosen if len(p.devices) == 2}
            self.events = [self._on_device_at(e) if e.person in swapped else e for e in self.events
                           if not (e.person in silences and silences[e.person][0] <= e.ts_ms < silences[e.person][1]
                                   and e.event.device_id == self.people[e.person].devices[0].device_id)]
        finally:
            self.r = main

    def _holiday_logins(self, p: Person, first_day: int, end_day: int, silence: tuple[int, int]) -> None:
        """One or two days of a holiday abroad with a personal device: a few VPN logins, no agents.

        Never on the first or last day of the silence (the flights), and never within 12 h of its ends.
        """
        r = self.r
        pool = [c for c in sd.HOME_CITIES + sd.TRAVEL_ONLY_CITIES + sd.HIJACKER_CITIES
                if c.country != p.city.country and haversine_km(p.lat, p.lon, c.lat, c.lon) > 1000]
        dest = r.choices(pool, weights=[c.weight for c in pool])[0]
        if r.random() < 0.5:
            device = Device(0, f"dev-{r.getrandbits(40):010x}", f"{p.first}'s iPad", "ipados",
                            r.choice(sd.OS_VERSIONS["ipados"]))
        else:
            os = r.choice(("windows", "macos"))
            host = f"DESKTOP-{r.getrandbits(28):07X}" if os == "windows" else f"{p.first}s-MacBook-Air"
            device = Device(0, f"dev-{r.getrandbits(40):010x}", host, os, r.choice(sd.OS_VERSIONS[os]))
        lat, lon = self._jitter(dest.lat, dest.lon, 10)
        where = self._where(lat, lon, dest.tz, access=(3, 25), infl=(1.3, 1.9), flaky=0.15)
        hotel = self._hotel(dest)
        days = list(range(first_day + 1, min(end_day - 1, self.days)))
        for day in sorted(r.sample(days, min(len(days), r.choice((1, 1, 2))))):
            date = self.start + dt.timedelta(days=day)
            net = hotel if r.random() < 0.7 else self._net(dest, self._isp(dest.country, "mobile"), "mobile",
                                                           (dest.lat, dest.lon), wifi=False)
            for _ in range(r.choice((1, 1, 2, 3))):
                t = _local_ms(dest.tz, date, r.uniform(8.0, 23.0))
                if silence[0] + 12 * HOUR_MS < t < silence[1] - 12 * HOUR_MS:
                    self._login(p, t, where, net, "success", device)

    def _on_device_at(self, e: SimEvent) -> SimEvent:
        """The event as sent from the device the employee had at its time (a replacement laptop after the silence)."""
        p = self.people[e.person]
        device = p.device_at(e.ts_ms)
        if device is p.devices[0]:
            return e
        changes: dict[str, Any] = {"device_id": device.device_id}
        if isinstance(e.event, DeviceSnapshot) and e.event.hostname is not None:
            changes["hostname"] = device.hostname
        return e._replace(event=msgspec.structs.replace(e.event, **changes))

    # ---- operatives ---------------------------------------------------------------------------------

    def _operative_counts(self) -> dict[str, int]:
        r = self.r
        n = self.n
        rate = r.uniform(0.005, 0.01)
        total = int(round(rate * n))
        counts = dict.fromkeys(SCENARIOS, 0)
        farm_sizes: list[int] = []
        if n >= 200:
            groups = 1 if total < 18 else r.randint(1, 2)
            farm_sizes = [r.randint(3, 5) for _ in range(groups)]
            rest = max(4, total - sum(farm_sizes))
            others = [k for k in SCENARIOS if k != "laptop_farm"]
            for k in others:
                counts[k] = 1
            for _ in range(rest - 4):
                counts[r.choice(others)] += 1
        elif total >= 1:
            if total >= 3 and r.random() < 0.5:
                farm_sizes = [3]
                total -= 3
            others = [k for k in SCENARIOS if k != "laptop_farm"]
            r.shuffle(others)
            for i in range(total):
                counts[others[i % 4]] += 1
        counts["laptop_farm"] = sum(farm_sizes)
        self.farm_sizes = farm_sizes
        self.scenario_params.update({"operative_rate": round(rate, 5), "counts": counts, "farm_sizes": farm_sizes})
        return counts

    def _start_day(self) -> int:
        return self.r.randint(0, max(0, self.days // 2 - 1))

    def _operator_excess(self, operator: sd.City, lat: float, lon: float, overhead: tuple[float, float]) -> tuple[float, float]:
        """Keystroke-delay excess of an operator abroad: their round trip to the device plus the tool's overhead."""
        r = self.r
        d = haversine_km(operator.lat, operator.lon, lat, lon)
        operator_rtt = d / 100 * r.uniform(1.25, 1.7) + r.uniform(8, 30)
        return operator_rtt, r.uniform(*overhead)

    def _base_operative(self, idx: int, eid: str, scenario: str, *, city: sd.City | None = None,
                        home: tuple[float, float] | None = None, household: Household | None = None) -> Person:
        r = self.r
        us = [c for c in sd.HOME_CITIES if c.country == "US"]
        city = city or r.choices(us, weights=[c.weight for c in us])[0]
        p = self.new_person(idx, eid, city=city, home=home, household=household, role=r.choice(sd.OPERATIVE_ROLES))
        p.scenario = scenario
        p.session_rate = r.uniform(2.5, 6.0)
        p.layouts = ["en-US"]
        p.locale = "en-US"
        p.weekend_rate = r.choice((0.1, 0.3, 0.5))
        return p

    def _rmm(self) -> str:
        r = self.r
        tools = [(t, w) for t, w in sd.OPERATIVE_RMM if t != self.helpdesk_tool]
        return r.choices([t for t, _ in tools], weights=[w for _, w in tools])[0]

    def _process_name(self, tool: str, os: str) -> str:
        windows, mac = sd.TOOL_PROCESS[tool]
        return windows if os == "windows" else mac

    def _foreign_net(self, city: sd.City) -> Net:
        lat, lon = self._jitter(city.lat, city.lon, 10)
        return self._net(city, self._isp(city.country), "foreign", (lat, lon), ssid=self._home_ssid("Home", city.country))

    def _vpn_exits(self, provider: str, flag_rate: float, count: int) -> list[Net]:
        r = self.r
        host = r.choice(sd.HOSTING)
        exits = []
        for _ in range(count):
            city = sd.HOSTING_CITIES[r.choice(host.cities)]
            isp = sd.Isp(host.asn, host.org, host.prefixes, 1, "biz")
            flagged = r.random() < flag_rate
            anon = Anonymizer(type="vpn", provider=provider) if flagged else (
                Anonymizer(type="hosting", provider=host.org) if r.random() < 0.7 else None)
            exits.append(self._net(city, isp, "vpn_exit", (city.lat, city.lon), accuracy=float(r.choice((20, 100, 500, 1000))),
                                   wifi=False, anonymizer=anon))
        return exits

    def _plant(self, op_kind: dict[int, str], ids: list[str]) -> None:
        by_kind: dict[str, list[int]] = {k: [] for k in SCENARIOS}
        for i, k in op_kind.items():
            by_kind[k].append(i)
        # Farms first: group the farm slots.
        slots = by_kind["laptop_farm"]
        groups = []
        for g, size in enumerate(self.farm_sizes, 1):
            groups.append((f"farm-{g}", slots[:size]))
            slots = slots[size:]
        self.scenario_params["farm_groups"] = {}
        for gid, members in groups:
            self._plant_farm(gid, members, ids)
        for i in by_kind["remote_control"]:
            self._plant_remote_control(i, ids[i])
        for i in by_kind["vpn_offshore"]:
            self._plant_vpn_offshore(i, ids[i])
        for i in by_kind["dormant_hijack"]:
            self._plant_dormant(i, ids[i])
        for i in by_kind["quiet"]:
            self._plant_quiet(i, ids[i])

    def _plant_farm(self, gid: str, members: list[int], ids: list[str]) -> None:
        r = self.r
        us = [c for c in sd.HOME_CITIES if c.country == "US" and c.weight >= 1]
        farm_city = r.choice(us)
        farm_lat, farm_lon = self._jitter(farm_city.lat, farm_city.lon, 20)
        facilitator = self._household(farm_city, farm_lat, farm_lon, r.choice(sd.LAST_NAMES))
        farm_where_base = self._where(farm_lat, farm_lon, farm_city.tz)
        start = self._start_day()
        p_same_city = r.uniform(0.2, 0.8)
        operator_city = r.choices(sd.OPERATOR_CITIES, weights=[c.weight for c in sd.OPERATOR_CITIES])[0]
        shift = 0.0 if r.random() < 0.6 else r.uniform(2, 6)
        shared_mfa = f"mfa-{self._uid(10)}" if r.random() < 0.3 else None
        self.scenario_params["farm_groups"][gid] = {
            "size": len(members), "city": farm_city.name, "region": farm_city.region,
            "ip": facilitator.nets[0][1].ip, "bssid": facilitator.nets[0][1].bssids[0],
            "gateway_mac": facilitator.nets[0][1].gw_mac, "start_day": start, "shared_mfa": shared_mfa is not None,
            "members": [ids[i] for i in members]}
        for i in members:
            same = r.random() < p_same_city
            city = farm_city if same else r.choices(us, weights=[c.weight for c in us])[0]
            p = self._base_operative(i, ids[i], "laptop_farm", city=city)
            p.group = gid
            op_city = operator_city if r.random() < 0.7 else r.choices(
                sd.OPERATOR_CITIES, weights=[c.weight for c in sd.OPERATOR_CITIES])[0]
            kvm = r.choices(("pikvm", "tinypilot", "jetkvm", "glinet", "capture_dongle", None), weights=(4, 3, 1, 1, 1, 2))[0]
            operator_rtt, overhead = self._operator_excess(op_city, farm_lat, farm_lon, (30, 70) if kvm else (20, 50))
            excess = operator_rtt + overhead
            where = Where(lat=farm_lat, lon=farm_lon, infl=farm_where_base.infl, access_ms=farm_where_base.access_ms + r.uniform(0, 3),
                          flaky=0.03, tz=farm_city.tz, telling=True, input_excess=excess)
            p.home = where
            p.household = facilitator
            if kvm:
                vid, pid, vendor, product, classes = sd.KVM_DEVICES[kvm]["usb"]
                p.planted_usb = [UsbDevice(vendor_id=vid, product_id=pid, vendor=vendor, product=product,
                                           serial=sd.KVM_DEVICES[kvm]["serial"], interface_classes=list(classes))]
                p.planted_displays = [Display(name=r.choice(sd.KVM_DEVICES[kvm]["displays"]))]
                p.kvm_visibility = r.uniform(0.4, 1.0)
                tool = None
            else:
                tool = self._rmm()
                p.planted_processes = [self._process_name(tool, p.devices[0].os)]
                p.process_visibility = r.uniform(0.5, 1.0)
                p.inbound_tool = tool
                p.inbound_peers = [self._foreign_net(op_city).ip]
            if shared_mfa:
                p.mfa = [(0, shared_mfa)]
            if r.random() < 0.2:
                p.layouts = ["en-US", "ko-KR"]
                p.planted_layouts = ("ko-KR",)
            my_start = min(self.days - 1, start + r.choice((0, 0, 1)))
            p.active_from_day = my_start
            p.hire_date = self.start + dt.timedelta(days=my_start - r.randint(0, 14))
            p.watch_hours = shift > 0
            p.op_plan = {"shift": shift}
            p.params = {"start": str(self.start + dt.timedelta(days=my_start)), "farm_city": farm_city.name,
                        "claimed_city": city.name, "claimed_same_city": same, "operator_city": op_city.name,
                        "operator_country": op_city.country, "kvm": kvm, "tool": tool,
                        "operator_rtt_ms": round(operator_rtt, 1), "tool_overhead_ms": round(overhead, 1),
                        "input_excess_ms": round(excess, 1), "hours_shift_h": round(shift, 2),
                        "kvm_visibility": round(p.kvm_visibility, 2), "ko_layout": bool(p.planted_layouts),
                        "shared_mfa": shared_mfa is not None}
            self.people[i] = p

    def _plant_remote_control(self, i: int, eid: str) -> None:
        r = self.r
        p = self._base_operative(i, eid, "remote_control")
        op_city = r.choices(sd.OPERATOR_CITIES, weights=[c.weight for c in sd.OPERATOR_CITIES])[0]
        tool = self._rmm()
        operator_rtt, overhead = self._operator_excess(op_city, p.lat, p.lon, (20, 50))
        p.home.input_excess = operator_rtt + overhead
        p.planted_processes = [self._process_name(tool, p.devices[0].os)]
        if r.random() < 0.3:
            p.planted_processes.append(self._process_name(r.choice(("caffeine", "mouse_jiggler", "move_mouse")), p.devices[0].os))
        p.process_visibility = r.uniform(0.6, 1.0)
        p.inbound_tool = tool
        via_vpn = r.random() < 0.5
        if via_vpn:
            p.inbound_peers = [n.ip for n in self._vpn_exits("Astrill VPN", 1.0, r.randint(1, 2))]
        else:
            p.inbound_peers = [self._foreign_net(op_city).ip]
        start = self._start_day()
        shift = 0.0 if r.random() < 0.6 else r.uniform(2, 6)
        p.active_from_day = start
        p.hire_date = self.start + dt.timedelta(days=start - r.randint(0, 60))
        p.watch_hours = shift > 0
        p.op_plan = {"shift": shift}
        p.params = {"start": str(self.start + dt.timedelta(days=start)), "claimed_city": p.city.name, "tool": tool,
                    "operator_city": op_city.name, "operator_country": op_city.country, "peer_via_vpn": via_vpn,
                    "operator_rtt_ms": round(operator_rtt, 1), "tool_overhead_ms": round(overhead, 1),
                    "input_excess_ms": round(p.home.input_excess, 1), "hours_shift_h": round(shift, 2),
                    "process_visibility": round(p.process_visibility, 2), "processes": list(p.planted_processes)}
        self.people[i] = p

    def _plant_vpn_offshore(self, i: int, eid: str) -> None:
        r = self.r
        p = self._base_operative(i, eid, "vpn_offshore")
        op_city = r.choices(sd.OPERATOR_CITIES, weights=[c.weight for c in sd.OPERATOR_CITIES])[0]
        provider = r.choices([v for v, _ in sd.OPERATIVE_VPNS], weights=[w for _, w in sd.OPERATIVE_VPNS])[0]
        flag_rate = r.uniform(0.5, 1.0)
        exits = self._vpn_exits(provider, flag_rate, r.randint(1, 3))
        lat, lon = self._jitter(op_city.lat, op_city.lon, 10)
        tz_operator = r.random() < 0.4
        where = self._where(lat, lon, op_city.tz if tz_operator else p.tz)
        where.telling = True
        p.home = where
        p.household = Household([(0, exits[0])])
        p.op_plan = {"exits": exits, "slip_net": self._foreign_net(op_city), "slips": set(),
                     "night_shift": r.random() < 0.5, "operator_tz": op_city.tz}
        if r.random() < 0.3:
            extra = r.choice(("ko-KR", "zh-CN"))
            p.layouts = ["en-US", extra]
            p.planted_layouts = (extra,)
        if tz_operator:
            p.planted_tz = (op_city.tz,)
        start = self._start_day()
        active_days = list(range(start, self.days))
        weekdays = [d for d in active_days if (self.start + dt.timedelta(days=d)).weekday() < 5] or active_days
        n_slips = min(len(weekdays), r.randint(1, 1 + self.days // 5))
        p.op_plan["slips"] = set(r.sample(weekdays, n_slips))
        p.active_from_day = start
        p.hire_date = self.start + dt.timedelta(days=start - r.randint(0, 60))
        p.watch_hours = p.op_plan["night_shift"]
        p.params = {"start": str(self.start + dt.timedelta(days=start)), "claimed_city": p.city.name,
                    "operator_city": op_city.name, "operator_country": op_city.country, "vpn_provider": provider,
                    "anonymizer_flag_rate": round(flag_rate, 2), "exit_ips": [e.ip for e in exits],
                    "slip_ip": p.op_plan["slip_net"].ip, "slip_days": sorted(p.op_plan["slips"]),
                    "device_tz": where.tz, "works_operator_daytime": p.op_plan["night_shift"],
                    "planted_layouts": list(p.planted_layouts)}
        self.people[i] = p

    def _plant_dormant(self, i: int, eid: str) -> None:
        r = self.r
        us = [c for c in sd.HOME_CITIES if c.country == "US"]
        p = self.new_person(i, eid, city=r.choices(us, weights=[c.weight for c in us])[0])
        p.scenario = "dormant_hijack"
        p.hire_date = self.start - dt.timedelta(days=r.randint(200, 2500))
        days = self.days
        a = r.randint(0, max(0, days // 4))
        q_max = max(0, days - 2 - a)
        q = r.randint(min(2, q_max), min(5, q_max))
        if q == 0:
            a = 0
        b = min(days - 1, a + q)
        hijacker = r.choices(sd.HIJACKER_CITIES, weights=[c.weight for c in sd.HIJACKER_CITIES])[0]
        lat, lon = self._jitter(hijacker.lat, hijacker.lon, 10)
        via_vpn = r.random() < 0.4
        net = self._vpn_exits(r.choice(sd.CONSUMER_VPNS), 0.7, 1)[0] if via_vpn else self._foreign_net(hijacker)
        keep_tz = r.random() < 0.4
        where = self._where(lat, lon, p.tz if keep_tz else hijacker.tz)
        where.telling = True
        t_b = _local_ms(hijacker.tz, self.start + dt.timedelta(days=b), 0)
        new_device = self._new_device(t_b, "windows", p.first, p.last)
        new_device.hostname = f"DESKTOP-{self._uid(7).upper()}"
        p.devices.append(new_device)
        new_mfa = r.random() < 0.7
        if new_mfa:
            p.mfa.append((t_b, f"mfa-{self._uid(10)}"))
        on_leave = r.random() < 0.4
        if on_leave:
            p.status = "leave"
        p.op_plan = {"active_until": a, "hijack_day": b, "where": where, "net": net, "tz": hijacker.tz}
        p.params = {"start": str(self.start + dt.timedelta(days=b)), "normal_days": a, "quiet_days": b - a,
                    "hijacker_city": hijacker.name, "hijacker_country": hijacker.country, "via_vpn": via_vpn,
                    "ip": net.ip, "new_device_id": new_device.device_id, "new_mfa_device": new_mfa,
                    "status_leave": on_leave, "device_tz": where.tz}
        self.people[i] = p

    def _plant_quiet(self, i: int, eid: str) -> None:
        r = self.r
        p = self._base_operative(i, eid, "quiet")
        tells = [t for t in ("ko_layout", "asian_tz", "odd_hours", "latency_excess") if r.random() < 0.65]
        while len(tells) < 2:
            extra = r.choice(("ko_layout", "asian_tz", "odd_hours", "latency_excess"))
            if extra not in tells:
                tells.append(extra)
        tells.sort()
        params: dict[str, Any] = {"tells": tells}
        if "ko_layout" in tells:
            p.layouts = ["en-US", "ko-KR"]
            p.planted_layouts = ("ko-KR",)
        if "asian_tz" in tells:
            tz = r.choices(("Asia/Seoul", "Asia/Pyongyang", "Asia/Shanghai", "Asia/Vladivostok"), weights=(5, 1, 2.5, 1.5))[0]
            p.home.tz = tz
            p.planted_tz = (tz,)
            params["device_tz"] = tz
        shift = r.uniform(6, 11) if "odd_hours" in tells else 0.0
        if "latency_excess" in tells:
            p.home.input_excess = r.uniform(25, 60)
            params["input_excess_ms"] = round(p.home.input_excess, 1)
        start = self._start_day()
        p.active_from_day = start
        p.hire_date = self.start + dt.timedelta(days=start - r.randint(0, 90))
        p.watch_hours = shift > 0
        p.op_plan = {"shift": shift}
        params.update({"start": str(self.start + dt.timedelta(days=start)), "claimed_city": p.city.name,
                       "hours_shift_h": round(shift, 2)})
        p.params = params
        self.people[i] = p

    # ---- days -> blocks ----------------------------------------------------------------------------

    def _is_workday(self, p: Person, date: dt.date) -> bool:
        return date.weekday() < 5 and date not in holidays(p.city.country, date.year)

    def _blocks(self, p: Person, day: int) -> list[Block]:
        if p.status == "terminated" or day < p.active_from_day:
            return []
        if p.scenario in ("laptop_farm", "remote_control", "quiet"):
            return self._shifted_blocks(p, day)
        if p.scenario == "vpn_offshore":
            return self._offshore_blocks(p, day)
        if p.scenario == "dormant_hijack":
            plan = p.op_plan
            if day >= plan["hijack_day"]:
                return self._hijack_blocks(p, day)
            if day >= plan["active_until"]:
                return []
        return self._normal_blocks(p, day)

    def _normal_blocks(self, p: Person, day: int) -> list[Block]:
        r = self.r
        date = self.start + dt.timedelta(days=day)
        trip = p.trip
        if trip is not None and trip.depart_day <= day <= trip.return_day:
            return self._trip_blocks(p, day, date, trip)
        home_net = p.household.net_at(_local_ms(p.tz, date, 12))
        if p.status == "leave":
            if r.random() < 0.15:
                t = _local_ms(p.tz, date, r.uniform(9, 21))
                return [Block(t, t + 20 * MINUTE_MS, p.home, home_net, "background")]
            return []
        blocks = []
        if self._is_workday(p, date) and r.random() >= 0.03:  # 3%: a day off
            t0 = _local_ms(p.tz, date, p.work_start + r.gauss(0, 0.4))
            t1 = _local_ms(p.tz, date, p.work_end + r.gauss(0, 0.5))
            at_office = p.office is not None and date.weekday() in p.office_days and r.random() < 0.85
            if at_office:
                net = r.choice(p.office.nets)
                commute = int(r.uniform(0.3, 1.2) * HOUR_MS)
                blocks.append(Block(t0 + commute, t1, p.home, net, "work"))
            elif p.hotspot_rate and r.random() < p.hotspot_rate:
                blocks.append(Block(t0, t1, self._hotspot_where(p), self._hotspot_net(p), "work"))
            else:
                blocks.append(Block(t0, t1, p.home, home_net, "work"))
            if r.random() < p.evening_rate:
                e0 = max(t1 + HOUR_MS, _local_ms(p.tz, date, r.uniform(19.5, 22.5)))
                blocks.append(self._evening(p, e0, e0 + int(r.uniform(0.3, 1.5) * HOUR_MS), home_net))
        elif r.random() < p.weekend_rate:
            e0 = _local_ms(p.tz, date, r.uniform(9.0, 21.0))
            blocks.append(self._evening(p, e0, e0 + int(r.uniform(0.3, 2.0) * HOUR_MS), home_net))
        if r.random() < 0.5:  # the laptop is on and its agents report, nobody at it
            t = _local_ms(p.tz, date, r.uniform(0, 24))
            blocks.append(Block(t, t + 10 * MINUTE_MS, p.home, home_net, "background"))
        if trip is not None:  # nothing at home while the laptop is away (long-haul flights cross midnight)
            leave, back = trip.depart_ms - int(1.5 * HOUR_MS), trip.back_arrive_ms + HOUR_MS
            blocks = [b for b in blocks if b.t1 <= leave or b.t0 >= back]
        return blocks

    def _evening(self, p: Person, t0: int, t1: int, home_net: Net) -> Block:
        if p.privacy_vpn and self.r.random() < 0.6:
            return Block(t0, t1, p.home, self.r.choice(p.privacy_vpn), "light")
        return Block(t0, t1, p.home, home_net, "light")

    def _hotspot_where(self, p: Person) -> Where:
        w = p.home
        return Where(lat=w.lat, lon=w.lon, infl=w.infl, access_ms=w.access_ms + self.r.uniform(20, 50), flaky=0.3, tz=w.tz,
                     vinfl=w.vinfl)

    def _hotspot_net(self, p: Person) -> Net:
        assert p.hotspot_isp is not None
        return self._net(p.city, p.hotspot_isp, "mobile", (p.lat, p.lon), wifi=False)

    def _trip_blocks(self, p: Person, day: int, date: dt.date, trip: Trip) -> list[Block]:
        r = self.r
        blocks = []
        dest_tz = trip.dest.tz
        home_net = p.household.net_at(trip.depart_ms)
        if day == trip.depart_day:
            t0 = min(_local_ms(p.tz, date, p.work_start), trip.depart_ms - 3 * HOUR_MS)
            t1 = trip.depart_ms - int(1.5 * HOUR_MS)
            if t1 - t0 >= 30 * MINUTE_MS:
                blocks.append(Block(t0, t1, p.home, home_net, "light"))
            a0 = trip.arrive_ms + HOUR_MS
            blocks.append(Block(a0, a0 + int(r.uniform(1, 3) * HOUR_MS), trip.where, trip.hotel, "light"))
        elif day < trip.return_day:
            dest_date = date
            t0 = max(_local_ms(dest_tz, dest_date, p.work_start + r.gauss(0, 0.3)), trip.arrive_ms + HOUR_MS)
            t1 = _local_ms(dest_tz, dest_date, p.work_end + r.gauss(0, 0.3))
            if t1 - t0 >= HOUR_MS:
                if trip.office is not None:
                    blocks.append(Block(t0, t1, trip.where, r.choice(trip.office.nets), "work"))
                    e0 = t1 + HOUR_MS
                    blocks.append(Block(e0, e0 + HOUR_MS, trip.where, trip.hotel, "light"))
                else:
                    blocks.append(Block(t0, t1, trip.where, trip.hotel, "work"))
        else:
            t0 = max(_local_ms(dest_tz, date, 7.5), trip.arrive_ms + HOUR_MS)
            t1 = trip.back_depart_ms - int(1.5 * HOUR_MS)
            if t1 - t0 >= 30 * MINUTE_MS:
                blocks.append(Block(t0, t1, trip.where, trip.hotel, "light"))
            a0 = trip.back_arrive_ms + HOUR_MS
            if _local_hour(p.tz, a0)[0] < 22.5 and r.random() < 0.6:
                blocks.append(Block(a0, a0 + HOUR_MS, p.home, p.household.net_at(a0), "light"))
        return blocks

    def _shifted_blocks(self, p: Person, day: int) -> list[Block]:
        """Operatives at the device's place (farm, controlled home, quiet): claimed hours shifted by their plan."""
        r = self.r
        date = self.start + dt.timedelta(days=day)
        shift = p.op_plan["shift"]
        net = p.household.net_at(_local_ms(p.tz, date, 12))
        blocks = []
        if date.weekday() < 5 or r.random() < p.weekend_rate:
            t0 = _local_ms(p.tz, date, p.work_start + shift + r.gauss(0, 0.3))
            t1 = _local_ms(p.tz, date, p.work_end + shift + r.gauss(0, 0.4))
            blocks.append(Block(t0, t1, p.home, net, "work"))
        if r.random() < (0.8 if p.scenario == "laptop_farm" else 0.5):  # the laptop stays on between sessions
            t = _local_ms(p.tz, date, r.uniform(0, 24))
            blocks.append(Block(t, t + 10 * MINUTE_MS, p.home, net, "background"))
        return blocks

    def _offshore_blocks(self, p: Person, day: int) -> list[Block]:
        r = self.r
        plan = p.op_plan
        date = self.start + dt.timedelta(days=day)
        if not (date.weekday() < 5 or r.random() < p.weekend_rate):
            return []
        if plan["night_shift"]:  # works in the operator's own daytime: the claimed home's night
            t0 = _local_ms(plan["operator_tz"], date, 9.0 + r.gauss(0, 0.4))
            t1 = _local_ms(plan["operator_tz"], date, 18.0 + r.gauss(0, 0.5))
        else:
            t0 = _local_ms(p.tz, date, p.work_start + r.gauss(0, 0.3))
            t1 = _local_ms(p.tz, date, p.work_end + r.gauss(0, 0.4))
        exit_net = r.choice(plan["exits"])
        blocks = [Block(t0, t1, p.home, exit_net, "work")]
        if day in plan["slips"]:  # the VPN drops for a while: the real country shows
            s0 = t0 + int((t1 - t0) * r.uniform(0.2, 0.8))
            blocks.append(Block(s0, s0 + int(r.uniform(10, 40) * MINUTE_MS), p.home, plan["slip_net"], "slip"))
        return blocks

    def _hijack_blocks(self, p: Person, day: int) -> list[Block]:
        r = self.r
        plan = p.op_plan
        date = self.start + dt.timedelta(days=day)
        if day > plan["hijack_day"] and r.random() < 0.25:
            return []
        t0 = _local_ms(plan["tz"], date, r.uniform(9, 13))
        t1 = t0 + int(r.uniform(2, 7) * HOUR_MS)
        return [Block(t0, t1, plan["where"], plan["net"], "work")]

    # ---- blocks -> events -----------------------------------------------------------------------------

    def run(self) -> None:
        for p in self.people:
            for day in range(self.days):
                for block in self._blocks(p, day):
                    self._emit_block(p, block)
        self._trip_device_events()
        self._returners()

    def _add(self, p: Person, t: int, event, telling: bool, where: Where | None) -> None:
        if p.watch_hours and not telling:
            hour, weekday = _local_hour(p.tz, t)
            if weekday >= 5 or not (p.work_start - 1 <= hour <= p.work_end + 1):
                telling = True
        self._seq += 1
        self.events.append(SimEvent(t, p.idx, self._seq, event, telling and p.scenario is not None,
                                    where.lat if where else None, where.lon if where else None))

    def _emit_block(self, p: Person, b: Block) -> None:
        r = self.r
        t0, t1 = b.t0, max(b.t1, b.t0 + 5 * MINUTE_MS)
        span = t1 - t0
        if b.intensity == "work":
            n_login = 1 + r.choices((0, 1, 2, 3), weights=(15, 40, 30, 15))[0]
            n_snap = r.randint(4, 10)
            n_sess = min(10, int(r.expovariate(1 / p.session_rate) + 0.5)) if p.session_rate else 0
        elif b.intensity == "light":
            n_login, n_snap = 1, 1 + (r.random() < 0.5)
            n_sess = 1 if (p.engineer and r.random() < 0.3) else 0
        elif b.intensity == "slip":
            n_login, n_snap, n_sess = 1, 1, 0
        else:
            n_login, n_snap, n_sess = 0, r.randint(1, 2), 0
        for k in range(n_login):
            t = t0 + r.randint(0, 5 * MINUTE_MS) if k == 0 else t0 + r.randint(0, span)
            net = b.net
            if k and net.kind in ("home", "hotel") and r.random() < 0.08:  # re-auth through the tunnel
                net = r.choice(self.egress[b.net.gateway])
            if r.random() < 0.04:
                self._login(p, t, b.where, net, "failure")
                t += r.randint(15_000, 120_000)
            self._login(p, t, b.where, net, "success")
        for _ in range(n_snap):
            self._snapshot(p, t0 + r.randint(0, span), b.where, b.net, b.intensity)
        for _ in range(n_sess):
            self._session(p, t0 + r.randint(0, span), b.where, b.net)
        if b.intensity == "work":
            if p.it_staff and self.helpdesk_targets:
                for _ in range(r.randint(1, 4)):
                    self._helpdesk(p, t0 + r.randint(0, span), b.net)
            if p.inbound_tool:
                self._inbound(p, t0, t1, b.where)

    def _login(self, p: Person, t: int, where: Where, net: Net, outcome: str, device: Device | None = None) -> None:
        r = self.r
        device = device or p.device_at(t)
        src = net
        if p.relay is not None and net.kind == "home" and r.random() < 0.25:
            src = p.relay  # browser SSO through iCloud Private Relay
        agent = sd.VPN_CLIENTS[device.os].format(os=device.os_version)
        event = VpnLogin(employee_id=p.eid, ts=_ts(t), device_id=device.device_id, source="globalprotect",
                         src_ip=src.ip, outcome=outcome, gateway=net.gateway, geo=src.geo, asn=src.asn,
                         anonymizer=src.anonymizer,
                         mfa=Mfa(method="push", device_id=p.mfa_at(t)) if outcome == "success" else None,
                         client=Client(os=device.os_version, version="6.2.4", user_agent=agent))
        self._add(p, t, event, where.telling, where)

    def _rtt(self, where: Where, net: Net, vid: str) -> tuple[float, float, float, int]:
        r = self.r
        v = VANTAGE_POINTS[vid]
        factor = where.vinfl.get(vid)
        if factor is None:
            factor = where.vinfl[vid] = r.uniform(1.0, 1.15)
        path = haversine_km(where.lat, where.lon, net.px_lat, net.px_lon) + \
            haversine_km(net.px_lat, net.px_lon, v.lat, v.lon)
        base = path / 100 * where.infl * factor + where.access_ms
        mn = base + r.uniform(0, 1.5)
        p50 = mn + r.uniform(0.3, 4)
        p95 = p50 + r.uniform(1, 12)
        if where.flaky and r.random() < where.flaky:  # bufferbloat or a bad Wi-Fi patch
            spike = r.uniform(10, 150)
            mn += spike * r.uniform(0, 0.6)
            p50 += spike
            p95 += spike * r.uniform(1.5, 4)
        return mn, p50, p95, r.randint(5, 60)

    @staticmethod
    def _stats(mn: float, p50: float, p95: float, n: int) -> Stats:
        return Stats(min=round(mn, 1), p50=round(p50, 1), p95=round(p95, 1), n=n)

    def _snapshot(self, p: Person, t: int, where: Where, net: Net, intensity: str, device: Device | None = None) -> None:
        r = self.r
        device = device or p.device_at(t)
        kind = r.choices(("netprobe", "edr", "mdm"), weights=(45, 30, 25))[0] if intensity != "slip" else "netprobe"
        telling = where.telling
        fields: dict[str, Any] = {}
        if kind == "netprobe":
            shown = net
            if net.kind in ("home", "hotel", "office") and r.random() < 0.15:  # the agent's check went through the tunnel
                shown = r.choice(self.egress[net.gateway])
            vid = shown.gateway if r.random() < 0.7 else r.choice(_VIDS)
            mn, p50, p95, n = self._rtt(where, shown, vid)
            fields["public_ip"] = shown.ip
            if net.bssids:
                fields["wifi"] = Wifi(ssid=net.ssid, bssid=r.choice(net.bssids))
            if net.gw_mac:
                fields["gateway_mac"] = net.gw_mac
            fields["latency"] = Latency(vantage=vid, rtt_ms=self._stats(mn, p50, p95, n))
            source = "netprobe"
        elif kind == "edr":
            names = list(r.sample(sd.PROCESSES[device.os], r.randint(5, 10)))
            names += [self._process_name(t_, device.os) for t_ in p.personal_processes]
            if p.it_staff:
                names.append(self._process_name(self.helpdesk_tool, device.os) if self.helpdesk_tool in sd.TOOL_PROCESS
                             else self.helpdesk_tool)
            if p.planted_processes and r.random() < p.process_visibility:
                names += p.planted_processes
                telling = True
            fields.update(hostname=device.hostname, os=device.os_version, processes=names, public_ip=net.ip)
            source = "crowdstrike"
        else:
            layouts = list(p.layouts)
            if p.planted_layouts and any(x in p.planted_layouts for x in layouts):
                telling = True
            if where.tz in p.planted_tz:
                telling = True
            usb = [u for u in p.usb if r.random() < 0.8]
            displays = [d for d in p.displays if r.random() < 0.9]
            if p.planted_usb and r.random() < p.kvm_visibility:
                usb += p.planted_usb
                telling = True
            if p.planted_displays and r.random() < p.kvm_visibility:
                displays = [d for d in displays if d.name not in ("Built-in Retina Display", "Built-in Display", "eDP-1")]
                displays += p.planted_displays
                telling = True
            fields.update(hostname=device.hostname, os=device.os_version, timezone=where.tz, locale=p.locale,
                          keyboard_layouts=layouts, usb_devices=usb, displays=displays)
            source = "jamf" if device.os == "macos" else "intune"
        event = DeviceSnapshot(employee_id=p.eid, ts=_ts(t), device_id=device.device_id, source=source, **fields)
        self._add(p, t, event, telling, where)

    def _session(self, p: Person, t: int, where: Where, net: Net) -> None:
        r = self.r
        device = p.device_at(t)
        home_vid = _nearest_vantage(p.city.lat, p.city.lon)
        vid = home_vid if r.random() < 0.6 else r.choice(_VIDS)
        roll = r.random()
        tool, source = ("ssh", "teleport") if roll < 0.75 or device.os != "windows" else \
            (("rdp", "rdgateway") if roll < 0.9 else ("citrix", "citrix"))
        mn, p50, p95, n = self._rtt(where, net, vid)
        echo = r.uniform(2, 8)
        extra = where.input_excess + (r.uniform(0, 4) if where.input_excess else 0.0)
        imin = mn + echo + extra
        ip50 = imin + (p50 - mn) + r.uniform(1, 6)
        ip95 = ip50 + (p95 - p50) + r.uniform(2, 25)
        latency = Latency(vantage=vid, rtt_ms=self._stats(mn, p50, p95, n),
                          input_ms=self._stats(imin, ip50, ip95, r.randint(30, 3000)))
        duration = r.uniform(60, 7200)
        event = RemoteSession(employee_id=p.eid, ts=_ts(t), device_id=device.device_id, source=source, tool=tool,
                              session_id=f"s-{self._uid(12)}", direction="outbound", peer_ip=r.choice(self.servers[vid]),
                              duration_s=round(duration, 1), bytes_in=int(duration * r.uniform(200, 5000)),
                              bytes_out=int(duration * r.uniform(100, 2000)), latency=latency)
        self._add(p, t, event, where.telling or where.input_excess > 0, where)

    def _helpdesk(self, it: Person, t: int, net: Net) -> None:
        """An IT support session: outbound on the technician, inbound on the employee helped."""
        r = self.r
        target = r.choice(self.helpdesk_targets)
        if target is it:
            return
        peer = net.ip
        if net.kind == "home" and r.random() < 0.9:  # remote technicians work through the corporate VPN
            peer = r.choice(self.egress[net.gateway]).ip
        duration = r.uniform(120, 2400)
        sid = f"s-{self._uid(12)}"
        it_device = it.device_at(t)
        out = RemoteSession(employee_id=it.eid, ts=_ts(t), device_id=it_device.device_id, source="helpdesk", tool=self.helpdesk_tool,
                            session_id=sid, direction="outbound", peer_ip=target.household.net_at(t).ip,
                            duration_s=round(duration, 1), bytes_in=int(duration * 3000), bytes_out=int(duration * 800))
        self._add(it, t, out, False, None)
        t_in = t + r.randint(1000, 5000)
        inbound = RemoteSession(employee_id=target.eid, ts=_ts(t_in), device_id=target.device_at(t).device_id,
                                source="helpdesk", tool=self.helpdesk_tool, session_id=sid, direction="inbound",
                                peer_ip=peer, duration_s=round(duration, 1), bytes_in=int(duration * 800),
                                bytes_out=int(duration * 3000))
        self._add(target, t_in, inbound, False, None)

    def _inbound(self, p: Person, t0: int, t1: int, where: Where) -> None:
        """The operator's remote-control session(s) into the laptop for the working block."""
        r = self.r
        t = t0 - r.randint(MINUTE_MS, 10 * MINUTE_MS)
        end = t1
        while t < end:
            length = min(end - t, int(r.uniform(1, 6) * HOUR_MS))
            event = RemoteSession(employee_id=p.eid, ts=_ts(t), device_id=p.device_at(t).device_id, source="crowdstrike",
                                  tool=p.inbound_tool, session_id=f"s-{self._uid(12)}", direction="inbound",
                                  peer_ip=r.choice(p.inbound_peers), duration_s=round(length / 1000, 1),
                                  bytes_in=int(length / 1000 * r.uniform(2000, 6000)),
                                  bytes_out=int(length / 1000 * r.uniform(50_000, 300_000)))
            self._add(p, t, event, True, where)
            t += length + r.randint(5, 60) * MINUTE_MS

    # ---- outputs ---------------------------------------------------------------------------------------

    def employee_records(self) -> list[Employee]:
        r = self.r
        updated = _ts(_local_ms("UTC", self.start, 0) - DAY_MS)
        records = []
        for p in self.people:
            manager = self.people[r.randrange(len(self.people))].eid if len(self.people) > 1 else None
            if manager == p.eid:
                manager = None
            username = f"{p.first[0]}{p.last}".lower().replace("'", "").replace(" ", "").replace("-", "")
            approved = [self.helpdesk_tool, "rdp", "ssh"] if p.it_staff else None
            records.append(Employee(
                employee_id=p.eid, updated_at=updated, source="workday",
                home=Home(city=p.city.name, region=p.city.region, country=p.city.country, lat=round(p.lat, 4), lon=round(p.lon, 4)),
                timezone=p.tz, work_hours=WorkHours(start=_hhmm(p.work_start), end=_hhmm(p.work_end)),
                status=p.status, role=p.role, manager_id=manager, devices=list(p.listed_devices),
                aliases=[f"{p.first.lower()}.{p.last.lower().replace(chr(39), '')}@{self.domain}", username,
                         p.devices[0].hostname],
                approved_remote_tools=approved, hire_date=p.hire_date))
        return records

    def labels(self, telemetry: list[SimEvent]) -> dict[str, Any]:
        first: dict[int, int] = {}
        for e in telemetry:
            if e.telling and e.person not in first:
                first[e.person] = e.ts_ms
        operatives = {}
        for p in sorted((p for p in self.people if p.scenario), key=lambda p: p.eid):
            t = first.get(p.idx)
            operatives[p.eid] = {"scenario": p.scenario, "first_telling_time": rfc3339(t) if t is not None else None,
                                 "group": p.group, "params": p.params}
        cohorts = {p.eid: p.tags for p in self.people if not p.scenario and p.tags}
        params = dict(self.scenario_params)
        params["helpdesk_tool"] = self.helpdesk_tool
        params["offices"] = {o.city.name: o.cidr for o in self.offices}
        return {"format": LABELS_FORMAT, "seed": self.seed, "employees": self.n, "days": self.days,
                "start": str(self.start), "end": str(self.start + dt.timedelta(days=self.days)),
                "operatives": operatives, "scenario_params": params, "cohorts": cohorts}

    def config_toml(self) -> str:
        lines = [f"# Organisation config assumed by `telltales simulate --seed {self.seed} --employees {self.n} "
                 f"--days {self.days} --start {self.start}`.", ""]
        for vid, v in VANTAGE_POINTS.items():
            lines += [f"[vantage_points.{vid}]", f"lat = {v.lat}", f"lon = {v.lon}", f'name = "{v.name}"', ""]
        lines += ["[networks]",
                  "office = [" + ", ".join(f'"{o.cidr}"' for o in self.offices) + "]  # " +
                  ", ".join(o.city.name for o in self.offices),
                  "vpn_egress = [" + ", ".join(f'"{c}"' for c in self.egress_cidrs) + "]", "",
                  # The IT helpdesk's tool is sanctioned organisation-wide, as a real org's config says;
                  # operatives are drawn from other tools, so it hides none of them.
                  "[allowlists]", f'remote_tools = ["{self.helpdesk_tool}"]', ""]
        return "\n".join(lines)


@dataclass
class Simulation:
    """A generated organisation: directory records, time-ordered telemetry with ground truth, labels and config."""

    employees: list[Employee]
    telemetry: list[SimEvent]
    labels: dict[str, Any]
    config_toml: str

    def lines(self) -> Iterator[bytes]:
        """The events file, one encoded event per item (without newline)."""
        encode = msgspec.json.Encoder().encode
        for record in self.employees:
            yield encode(record)
        for e in self.telemetry:
            yield encode(e.event)

    def write(self, out: Path) -> dict[str, Path]:
        out.mkdir(parents=True, exist_ok=True)
        encoder = msgspec.json.Encoder()
        paths = {"events": out / "events.jsonl", "labels": out / "labels.json", "config": out / "telltales.toml"}
        with paths["events"].open("wb") as fh:
            fh.write(encoder.encode_lines(self.employees))
            chunk = 20_000
            for i in range(0, len(self.telemetry), chunk):
                fh.write(encoder.encode_lines([e.event for e in self.telemetry[i:i + chunk]]))
        paths["labels"].write_text(json.dumps(self.labels, indent=1, ensure_ascii=False, sort_keys=False) + "\n", "utf-8")
        paths["config"].write_text(self.config_toml, "utf-8")
        return paths


def simulate(employees: int = 2000, days: int = 14, seed: int = 0, start: dt.date = DEFAULT_START) -> Simulation:
    """Generate an organisation. Deterministic in its arguments.

    >>> sim = simulate(employees=30, days=2, seed=1)
    >>> len(sim.employees), sim.labels["format"], sim.telemetry == sorted(sim.telemetry, key=lambda e: (e.ts_ms, e.person, e.seq))
    (30, 1, True)
    """
    gen = _Generator(employees, days, seed, start)
    gen.build_org()
    gen.build_people()
    gen.run()
    telemetry = sorted(gen.events, key=lambda e: (e.ts_ms, e.person, e.seq))
    records = sorted(gen.employee_records(), key=lambda e: e.employee_id)
    return Simulation(records, telemetry, gen.labels(telemetry), gen.config_toml())


# --------------------------------------------------------------------------------------------
# Live mode


def produce(sim: Simulation, bootstrap: str, rate: float, topics=None, *, progress=None) -> int:
    """Send the simulation to Kafka (directory first, then telemetry in time order) at `rate` events/s; returns the count."""
    from kafka import KafkaProducer

    from telltales.schemas.config import TopicsConfig

    from .topics import topic_for, topic_value

    topics = topics or TopicsConfig()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, client_id="telltales-simulate")
    sent = 0
    began = time.monotonic()
    try:
        records = [*sim.employees, *(e.event for e in sim.telemetry)]
        for event in records:
            producer.send(topic_for(topics, event), key=event.employee_id.encode("utf-8"), value=topic_value(event))
            sent += 1
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            if progress and sent % 10_000 == 0:
                progress(sent, len(records))
        producer.flush()
    finally:
        producer.close()
    return sent


# --------------------------------------------------------------------------------------------
# Command line


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "simulate", help="generate a synthetic organisation with labelled planted operatives",
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes events.jsonl, labels.json and telltales.toml to --out, and/or produces to Kafka.")
    parser.add_argument("--employees", type=int, default=2000, help="number of employees (default 2000)")
    parser.add_argument("--days", type=int, default=14, help="number of simulated days (default 14)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=DEFAULT_START,
                        help=f"first simulated day, YYYY-MM-DD (default {DEFAULT_START}, a Monday)")
    parser.add_argument("--out", type=Path, help="directory to write events.jsonl, labels.json, telltales.toml")
    parser.add_argument("--kafka", metavar="BOOTSTRAP", help="produce to Kafka at this bootstrap address (live mode)")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second in live mode; 0 = unpaced (default 1000)")
    parser.add_argument("--config", type=Path, help="telltales.toml whose topic names live mode uses (default: SPEC names)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.out is None and args.kafka is None:
        print("telltales simulate: give --out DIR and/or --kafka BOOTSTRAP", file=sys.stderr)
        return 2
    if args.employees < 1 or args.days < 1:
        print("telltales simulate: --employees and --days must be at least 1", file=sys.stderr)
        return 2
    began = time.perf_counter()
    sim = simulate(employees=args.employees, days=args.days, seed=args.seed, start=args.start)
    elapsed = time.perf_counter() - began
    total = len(sim.telemetry)
    ops = sim.labels["operatives"]
    kinds = ", ".join(f"{k} {sum(1 for o in ops.values() if o['scenario'] == k)}" for k in SCENARIOS)
    print(f"simulated {args.employees} employees × {args.days} days: {total} telemetry events "
          f"({total / max(elapsed, 1e-9):,.0f}/s, {elapsed:.1f} s); operatives: {kinds}", file=sys.stderr)
    if args.out is not None:
        try:
            paths = sim.write(args.out)
        except OSError as exc:
            print(f"telltales simulate: cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
            return 2
        print(f"wrote {paths['events']}, {paths['labels']}, {paths['config']}", file=sys.stderr)
    if args.kafka is not None:
        topics = None
        if args.config is not None:
            from telltales.schemas.config import ConfigError, load

            try:
                topics = load(args.config).topics
            except ConfigError as exc:
                print(f"telltales simulate: {exc}", file=sys.stderr)
                return 2
        sent = produce(sim, args.kafka, args.rate, topics,
                       progress=lambda n, total: print(f"produced {n}/{total}", file=sys.stderr))
        print(f"produced {sent} events to {args.kafka}", file=sys.stderr)
    return 0
