"""Sustained logins far from the claimed home: the employee lives, or works from, somewhere else.

A DPRK IT worker claims a US home (often the facilitator's address, where the laptop
farm is) but works from China or Russia — where public reporting places most of them
(State/Treasury/FBI advisory of 16 May 2022; DOJ, May 2024 and Dec 2024 indictments;
Mandiant UNC5267). When the VPN slips, or the laptop sits in another state than the one
claimed, logins come from far away, and keep coming. One trip must not fire, so this
looks at recent activity, not one login: successful located logins are counted per UTC
day over the last 14 active days (within 30 days), and a signal needs at least 60% of
them far from home, at least 4 far logins, on at least 3 different days (a two-day
business trip never fires on its own).

"Far" means more than 500 km from the claimed home after subtracting the location's
accuracy radius — beyond any commute and beyond city-level GeoIP error — or in another
country and more than 100 km away (so Detroit ↔ Windsor commuters stay quiet); with no
coordinates on either side the country alone decides. Logins from the organisation's own
networks (office, VPN egress, allowlisted) and through anonymizers say nothing about
where the person is and are not counted. The score grows with the number of far days
(full at 7) and with where they are: a country on the high-risk list (KP, CN, RU —
where DPRK IT workers are reported to operate — and the comprehensively sanctioned IR,
CU, SY; configurable) scores fully, another country 0.75, far within the home country
(another state: the laptop-farm pattern, but also a move HR did not hear about) 0.6.

*A device that never logs in at home.* People travel with their own laptop, so a trip
is far logins from the device also used near home; that is what the three far days are
there to rule out. A far login from a device never seen on a near login — while another
device is, and the directory does not list it as the employee's (a loaner laptop for
travel should be listed) — is not that: it is another machine being used from far away,
the pattern of a taken-over or handed-over account. Then one far day suffices and the
score is not discounted for a possible trip (the place factor still applies). The device
identifiers (`device_id` of the logins) are remembered as CRC-32s of the last
`HOME_DEVICES` used near home; `never_home_device = false` turns the rule off.

Except when a device used near home is there too: a traveller who brings a second device
(a personal tablet, a spare laptop) logs in from it at the hotel where the usual laptop
also logs in. A far login within `companion_km` (after the login's accuracy) of where a
home device logged in far from home, at most `companion_days` earlier, is that second
device, and only the trip rules apply. Someone who took over or was handed the account
does not have the employee's laptop with them; if they do, it is a trip's pattern again
and three far days decide. Only the newest such place is remembered.
"""

from __future__ import annotations

import zlib
from typing import ClassVar, Final

import msgspec

from telltales.schemas.events import Geo, Home, VpnLogin

from .anonymizer import HIGH_RISK_COUNTRIES, anonymity
from .base import Context, Detector, Org, Signal
from .geo import haversine_km

DAY_S: Final = 86400
KM_PER_DEGREE: Final = 111.2  # a degree of latitude, and the most a degree of longitude can be
MAX_COUNT: Final = 250  # per-day counts saturate here (one msgpack byte or two)
HOME_DEVICES: Final = 3  # devices remembered from near logins (a laptop, a phone, a replacement)


class State(msgspec.Struct, frozen=True, array_like=True):
    """Per-day counts of located logins (≤ 14 days ≈ 130 bytes) for the home they were judged against."""

    home: int = 0  # fingerprint of the claimed home (see `home_key`); a changed home restarts the window
    days: list[tuple[int, int, int, str]] = []  # (UTC day number, far logins, near logins, last far country)
    near_devices: list[int] = []  # CRC-32 of the device ids of near logins, newest last (≤ HOME_DEVICES)
    trip_place: list[int] = []  # newest far login of a near device: [UTC day, lat × 10, lon × 10]


class HomeMismatch(Detector):
    id = "home_mismatch"
    title = "Sustained logins far from the claimed home"
    description = __doc__
    severity = "medium"
    weight = 0.4
    attacks = ("T1078", "T1133")
    runbook = ("Compare the login places with the employee's claimed home and HR record; ask whether they moved or "
               "travel; logins from a high-risk country with a US home on file warrant an identity check.")
    status = "stable"
    event_types = ("vpn_login",)
    State = State
    max_state_bytes = 240
    params: ClassVar = {
        "far_km": 500.0,            # beyond a commute and city-level GeoIP error
        "border_km": 100.0,         # another country counts as far only beyond this
        "default_accuracy_km": 50.0,
        "max_days": 14,             # active days kept
        "window_days": 30,          # and none older than this
        "min_share": 0.6,
        "min_far_logins": 4,
        "min_far_days": 3,
        "full_days": 7,             # far days at which the score stops growing
        "high_risk_countries": list(HIGH_RISK_COUNTRIES),
        "high_risk_factor": 1.0,
        "foreign_factor": 0.75,
        "domestic_factor": 0.6,
        "never_home_device": True,  # a far login from a device never used near home is no trip (False: off)
        "companion_km": 100.0,      # ... unless a home device was far from home this close to it (the same city)
        "companion_days": 2,        # ... this many days before at most
    }

    def __init__(self, org: Org, params=None) -> None:
        super().__init__(org, params)
        self._high_risk = frozenset(c.upper() for c in self.p["high_risk_countries"])
        self._far_km = float(self.p["far_km"])
        self._border_km = float(self.p["border_km"])
        self._default_acc = float(self.p["default_accuracy_km"])

    def observe(self, event: VpnLogin, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        employee = ctx.employee
        geo = event.geo
        if (employee is None or employee.home is None or geo is None or event.outcome != "success"
                or self.org.network_of(event.src_ip) is not None or anonymity(event) is not None):
            return state, []
        home = employee.home
        key = home_key(home)
        judged = self._judge(geo, home)
        if not key or judged is None:
            return state, []
        far, km = judged
        same_home = state.home == key
        day = int(event.ts.timestamp() // DAY_S)
        days = self._count(state.days if same_home else [], day, far, geo.country or "")
        near_devices = state.near_devices if same_home else []
        trip_place = state.trip_place if same_home else []
        device = zlib.crc32(event.device_id.lower().encode()) if event.device_id else 0
        if not far:
            if device and (not near_devices or near_devices[-1] != device):
                near_devices = [*(d for d in near_devices if d != device), device][-HOME_DEVICES:]
            return State(key, days, near_devices, trip_place), []
        if device in near_devices and geo.lat is not None and (not trip_place or day >= trip_place[0]):
            trip_place = [day, round(geo.lat * 10), round(geo.lon * 10)]
        stranger = bool(self.p["never_home_device"] and device and near_devices and device not in near_devices
                        and not _listed(event.device_id, employee.devices)
                        and not self._with_home_device(geo, day, trip_place))
        return State(key, days, near_devices, trip_place), self._assess(event, days, home, km, stranger)

    def _with_home_device(self, geo: Geo, day: int, trip_place: list[int]) -> bool:
        """Did a device used near home log in far from home at this place recently (a traveller's second device)?"""
        if not trip_place or geo.lat is None or not 0 <= day - trip_place[0] <= int(self.p["companion_days"]):
            return False
        accuracy = geo.accuracy_km if geo.accuracy_km is not None else self._default_acc
        km = haversine_km(trip_place[1] / 10, trip_place[2] / 10, geo.lat, geo.lon)
        return km - accuracy <= float(self.p["companion_km"])

    def _judge(self, geo: Geo, home: Home) -> tuple[bool, float | None] | None:
        """(far?, km) for one located login, or None when nothing can be said."""
        foreign = bool(geo.country and home.country and geo.country != home.country)
        if geo.lat is not None and home.lat is not None:
            accuracy = geo.accuracy_km if geo.accuracy_km is not None else self._default_acc
            # Cheap upper bound first (along the meridian, then the parallel): most logins are
            # from home, and this spares them the trigonometry.
            bound = KM_PER_DEGREE * (abs(geo.lat - home.lat) + abs(geo.lon - home.lon)) - accuracy
            if bound <= (self._border_km if foreign else self._far_km):
                return False, None
            km = haversine_km(home.lat, home.lon, geo.lat, geo.lon)
            covered = km - accuracy
            return covered > self._far_km or (foreign and covered > self._border_km), km
        if geo.country and home.country:
            return foreign, None
        return None

    def _count(self, days: list[tuple[int, int, int, str]], day: int, far: bool,
               country: str) -> list[tuple[int, int, int, str]]:
        if days and days[-1][0] == day:  # the common case: another login today
            _, f, n, last = days[-1]
            if far:
                entry = (day, f + 1 if f < MAX_COUNT else f, n, country)
            else:
                entry = (day, f, n + 1 if n < MAX_COUNT else n, last)
            return [*days[:-1], entry]
        newest = max(day, days[-1][0]) if days else day
        oldest = newest - int(self.p["window_days"]) + 1
        if day < oldest:
            return days
        updated: list[tuple[int, int, int, str]] = []
        placed = False
        for entry in days:
            if entry[0] < oldest:
                continue
            if entry[0] == day:
                d, f, n, last = entry
                entry = (d, min(MAX_COUNT, f + far), min(MAX_COUNT, n + (not far)), country if far else last)
                placed = True
            elif entry[0] > day and not placed:
                updated.append((day, int(far), int(not far), country if far else ""))
                placed = True
            updated.append(entry)
        if not placed:
            updated.append((day, int(far), int(not far), country if far else ""))
        return updated[-int(self.p["max_days"]):]

    def _assess(self, event: VpnLogin, days: list[tuple[int, int, int, str]], home: Home,
                km: float | None, stranger: bool) -> list[Signal]:
        far_logins = sum(entry[1] for entry in days)
        logins = far_logins + sum(entry[2] for entry in days)
        far_days = sum(1 for entry in days if entry[1])
        min_days = 1 if stranger else int(self.p["min_far_days"])
        if far_days < min_days or far_logins < self.p["min_far_logins"] or far_logins < self.p["min_share"] * logins:
            return []
        countries = sorted({entry[3] for entry in days if entry[1] and entry[3]})
        high_risk = [c for c in countries if c in self._high_risk]
        if high_risk:
            factor = float(self.p["high_risk_factor"])
        elif any(c != home.country for c in countries):
            factor = float(self.p["foreign_factor"])
        else:
            factor = float(self.p["domestic_factor"])
        span = max(1, int(self.p["full_days"]) - min_days)
        sustained = 1.0 if stranger else 0.4 + 0.6 * min(1.0, (far_days - min_days) / span)
        geo = event.geo
        here = ", ".join(filter(None, (geo.city, geo.country))) or f"{geo.lat:.2f},{geo.lon:.2f}"
        claimed = ", ".join(filter(None, (home.city, home.region, home.country))) or "on file"
        distance = f", {round(km):,} km away" if km is not None else ""
        summary = (f"{far_logins} of {logins} located logins over the last {len(days)} active days were far from "
                   f"the claimed home {claimed} ({far_days} days with far logins); this one from {here}{distance}"
                   f"{' (high-risk country: ' + ', '.join(high_risk) + ')' if high_risk else ''}"
                   f"{f'; from device {event.device_id}, never used near home: not a trip with the usual laptop' if stranger else ''}")
        return [self.signal(
            event, sustained * factor, summary,
            src_ip=event.src_ip, place=here, country=geo.country, lat=_round(geo.lat), lon=_round(geo.lon),
            km=round(km) if km is not None else None, home=claimed, home_country=home.country,
            far_logins=far_logins, logins=logins, far_days=far_days, active_days=len(days),
            share=round(far_logins / logins, 2), countries=countries, high_risk=bool(high_risk),
            device_id=event.device_id, device_never_near_home=stranger)]


def home_key(home: Home) -> int:
    """A small stable number for a claimed home: its coordinates to 0.1° (about 10 km), else its country; 0 if neither.

    >>> home_key(Home(country="US", lat=41.88, lon=-87.63)) == home_key(Home(country="US", lat=41.9, lon=-87.6))
    True
    >>> home_key(Home(country="US")), home_key(Home(city="Springfield"))
    (-21843, 0)
    """
    if home.lat is not None:
        return 1 + round((home.lat + 90.0) * 10) * 3601 + round((home.lon + 180.0) * 10)
    if home.country:
        return -(ord(home.country[0]) * 256 + ord(home.country[1]))
    return 0


def _listed(device_id: str, devices: list[str] | None) -> bool:
    return bool(devices) and device_id.lower() in (d.lower() for d in devices)


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
