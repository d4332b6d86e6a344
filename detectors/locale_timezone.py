"""Device clock and language settings that do not fit the claimed home: a weak, travel-tolerant tell.

*Time zone.* The device's UTC offset at the event time is compared with the claimed
home's (both from the IANA database via `zoneinfo`, so DST and zones sharing an offset
are handled: Detroit and New York agree). Clocks are compared on the 24-hour dial (a
difference of 15 h is 9 h the other way). A difference under `min_offset_h` (2 h) says
nothing — neighbouring US zones, a laptop left on office time. From there the score rises
from 0.3 to 1.0 at `full_offset_h` (8 h: Asia vs the Americas). "UTC"-like zones are
uninformative (servers, fresh installs) and skipped. *Travel tolerance:* if the
employee's latest located login (not an anonymizer, not the organisation's own egress,
within `travel_window_s` of the snapshot, before or after) lies where civil time matches the device's offset — solar
offset = longitude / 15 h, within `solar_tolerance_h` (3 h covers the widest civil-vs-
solar gaps of populated places: western China, Spain, Argentina) — the device clock
follows a trip, not a lie, and is not a tell. Because a traveller's laptop changes its
clock before the first VPN login abroad, a mismatch must persist `confirm_s` (an hour)
unexplained before it counts; late snapshots judge no clock.

*Language.* Keyboard layouts and the system locale are matched against a short mapping
of hints to a language, and each language to the countries where it is commonly a
household language. Only languages named in public reporting on the DPRK IT-worker
scheme are listed: Korean (the workers' own), Chinese and Russian (where they are
based: Shenyang, Dandong, Vladivostok; FBI/DoJ 2023–2025 advisories). A French or
Spanish layout says nothing about this scheme and is not listed. A hint whose language is
spoken in the claimed home country is no tell. Otherwise the system locale weighs more
than an extra keyboard layout (many bilingual employees add a layout; few run the whole
system in another language): Korean locale 0.6 / layout 0.45, Chinese or Russian locale
0.45 / layout 0.3. A Korean-American in Chicago may well have a Korean layout, which is
why the detector's weight is low and no part of it can open a case alone.

The two parts combine by noisy-OR into one signal per snapshot that shows them (re-raised
so the evidence stays fresh; fusion keeps the strongest).

*Place.* Both parts also say where the person may live, for fusion's place agreement
(`data["places"]`): an unexplained device clock its own UTC offset (±0.5 h: half-hour
zones), Korean UTC+9 (both Koreas) and Chinese UTC+8 (China, Taiwan, Hong Kong, Macau,
Singapore are all on it), ±0.5 h. Russian names no place: Russia alone spans eleven zones.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from typing import ClassVar, Final, NamedTuple

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import DeviceSnapshot, VpnLogin

from .base import Context, Detector, Signal
from .fusion import place_hint

UNINFORMATIVE_ZONES: Final = frozenset({
    "UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", "Etc/GMT0", "GMT0",
    "Etc/GMT+0", "Etc/GMT-0", "Etc/Greenwich", "Greenwich", "UCT", "Etc/UCT",
})

PLACE_TOLERANCE_H: Final = 0.5  # a clock or a language's civil time names the offset to within a half-hour zone

# Token boundaries: a hint must be a whole word/code, so "ru" does not match "truetype".
_B = r"(?<![0-9a-z])"
_E = r"(?![0-9a-z])"


class Language(NamedTuple):
    name: str
    hints: re.Pattern
    countries: frozenset[str]
    locale_score: float
    layout_score: float
    utc_offset_h: float | None  # the one civil time of the countries above, if they share one


# Hints: macOS input sources (com.apple.keylayout.2SetKorean, com.apple.inputmethod.SCIM.ITABC),
# Windows keyboard layout ids / LCIDs (00000412, 0412:{…}), X11/xkb codes (kr, ru, cn),
# IME names, and BCP 47 / POSIX locales (ko-KR, zh_CN.UTF-8).
LANGUAGES: Final = (
    Language("Korean", re.compile(_B + r"(?:ko|kr|kor|0412|00000412)" + _E + r"|korean|hangul|hangeul|2set|3set",
                                  re.IGNORECASE),
             frozenset({"KR", "KP"}), 0.6, 0.45, 9.0),
    Language("Chinese", re.compile(_B + r"(?:zh|cn|chs|cht|tw|0804|00000804|0404|00000404|0c04|1004|1404)" + _E
                                   + r"|chinese|pinyin|wubi|zhuyin|bopomofo|cangjie|sogou|itabc|scim|tcim",
                                   re.IGNORECASE),
             frozenset({"CN", "TW", "HK", "MO", "SG"}), 0.45, 0.3, 8.0),
    Language("Russian", re.compile(_B + r"(?:ru|rus|0419|00000419)" + _E + r"|russian", re.IGNORECASE),
             frozenset({"RU", "BY", "KZ", "KG", "UA"}), 0.45, 0.3, None),
)


@functools.lru_cache(maxsize=4096)
def hinted_languages(text: str) -> tuple[int, ...]:
    """Indices into LANGUAGES of the languages a locale or keyboard-layout string hints at (cached: few distinct values).

    >>> [LANGUAGES[i].name for i in hinted_languages("com.apple.inputmethod.Korean.2SetKorean")]
    ['Korean']
    >>> hinted_languages("com.apple.keylayout.US"), hinted_languages("en_US")
    ((), ())
    """
    return tuple(i for i, language in enumerate(LANGUAGES) if language.hints.search(text))


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


@functools.lru_cache(maxsize=8192)
def utc_offset_h(name: str, quarter_hour: int) -> float | None:
    """UTC offset of zone `name`, hours, during the 15-minute slot `quarter_hour` (epoch s // 900).

    Offsets change only on quarter-hour boundaries, so the cache is exact.

    >>> utc_offset_h("Asia/Seoul", 0), utc_offset_h("America/Chicago", 1772442000 // 900), utc_offset_h("Nowhere/Land", 0)
    (9.0, -6.0, None)
    """
    zone = _zone(name)
    if zone is None:
        return None
    offset = dt.datetime.fromtimestamp(quarter_hour * 900, zone).utcoffset()
    return offset.total_seconds() / 3600 if offset is not None else None


def clock_difference_h(a: float, b: float) -> float:
    """Distance between two UTC offsets on the 24-hour dial, hours (0–12).

    >>> clock_difference_h(-6.0, 9.0), clock_difference_h(-10.0, 13.0), clock_difference_h(5.5, 5.5)
    (9.0, 1.0, 0.0)
    """
    d = abs(a - b) % 24
    return min(d, 24 - d)


class State(msgspec.Struct, frozen=True, array_like=True):
    """Travel tolerance (≤ 24 bytes as msgpack).

    loc   latest located login: [lon×100, epoch s] or []
    pend  when an unexplained clock mismatch was first seen (0 = none pending)
    """

    loc: list[int] = []
    pend: int = 0


class LocaleTimezone(Detector):
    id = "locale_timezone"
    title = "Device time zone, keyboard layout or locale inconsistent with the claimed home"
    description = __doc__
    severity = "low"
    weight = 0.3
    attacks = ("T1078", "T1219")
    runbook = ("Compare the device time zone and input languages with the employee's claimed home and recent travel; "
               "alone this is a weak tell — look for latency, remote-control or shared-infrastructure evidence.")
    status = "stable"
    event_types = ("device_snapshot", "vpn_login")
    State = State
    max_state_bytes = 32
    params: ClassVar = {
        "min_offset_h": 2.0,
        "full_offset_h": 8.0,
        "solar_tolerance_h": 3.0,
        "travel_window_s": 7 * 86400.0,
        "confirm_s": 3600.0,
    }

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        self._own_networks = bool(org.vpn_egress_networks or org.allowlisted_networks)
        # network_of parses the address (~4 µs); logins repeat a small set of addresses per employee.
        self._network_of = functools.lru_cache(maxsize=8192)(org.network_of)


    def observe(self, event, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        if type(event) is VpnLogin:
            return self._located(event, state, ctx), []
        employee = ctx.employee
        if employee is None or (event.timezone is None and event.locale is None and not event.keyboard_layouts):
            return state, []
        t = event.ts.timestamp()
        parts: list[float] = []
        data: dict = {}
        words: list[str] = []
        new = state
        if event.timezone is not None and employee.timezone is not None:
            new = self._timezone(event.timezone, employee.timezone, t, state, ctx, parts, data, words)
        country = employee.home.country if employee.home is not None else None
        if country is not None:
            self._language(event, country, parts, data, words)
        if not parts:
            return new, []
        survival = 1.0
        for part in parts:
            survival *= 1.0 - part
        summary = "; ".join(words)
        return new, [self.signal(event, 1.0 - survival, summary[0].upper() + summary[1:], **data,
                                 device_id=event.device_id, hostname=event.hostname)]

    def _located(self, event: VpnLogin, state: State, ctx: Context) -> State:
        geo = event.geo
        if geo is None or geo.lon is None or event.outcome != "success" or event.anonymizer is not None or ctx.late:
            return state
        t = int(event.ts.timestamp())
        if state.loc and state.loc[1] > t:
            return state
        if self._own_networks and self._network_of(event.src_ip) in ("vpn_egress", "allowlisted"):
            return state
        return replace(state, loc=[round(geo.lon * 100), t])

    def _timezone(self, device_zone: str, home_zone: str, t: float, state: State, ctx: Context,
                  parts, data, words) -> State:
        """Judge the device clock; return the state (its pending mark set or cleared)."""
        p = self.p
        if device_zone in UNINFORMATIVE_ZONES:
            return state
        slot = int(t // 900)
        device_offset = utc_offset_h(device_zone, slot)
        home_offset = utc_offset_h(home_zone, slot)
        if device_offset is None or home_offset is None:
            return state
        difference = clock_difference_h(device_offset, home_offset)
        loc = state.loc
        explained = difference < p["min_offset_h"] or (
            loc and abs(t - loc[1]) <= p["travel_window_s"]  # a login on either side of the snapshot
            and clock_difference_h(device_offset, loc[0] / 100 / 15) <= p["solar_tolerance_h"])
        if ctx.late:
            return state
        if explained:
            return replace(state, pend=0) if state.pend else state
        # A traveller's laptop switches clocks before its first VPN login abroad: wait for it to persist.
        if not state.pend or t - state.pend > p["travel_window_s"]:
            return replace(state, pend=int(t))
        if t - state.pend < p["confirm_s"]:
            return state
        span = max(1e-9, p["full_offset_h"] - p["min_offset_h"])
        parts.append(0.3 + 0.7 * min(1.0, (difference - p["min_offset_h"]) / span))
        hours = (t - state.pend) / 3600
        data.update(device_timezone=device_zone, device_offset_h=device_offset, home_timezone=home_zone,
                    home_offset_h=home_offset, offset_difference_h=difference, unexplained_for_h=round(hours, 1))
        data.setdefault("places", []).append(place_hint("device_clock", device_offset, PLACE_TOLERANCE_H))
        words.append(f"device clock on {device_zone} (UTC{device_offset:+g}) is {difference:g} h off the claimed "
                     f"home's {home_zone} (UTC{home_offset:+g}) for {hours:.1f} h with no located login there")
        return state

    def _language(self, event: DeviceSnapshot, country: str, parts, data, words) -> None:
        found: dict[int, tuple[float, list[str]]] = {}
        if event.locale:
            for index in hinted_languages(event.locale.split(".", 1)[0]):
                if country not in LANGUAGES[index].countries:
                    found[index] = (LANGUAGES[index].locale_score, [f"locale {event.locale}"])
        for layout in event.keyboard_layouts or ():
            for index in hinted_languages(layout):
                language = LANGUAGES[index]
                if country in language.countries:
                    continue
                score, hits = found.get(index, (0.0, []))
                if len(hits) < 4:
                    hits.append(f"layout {layout}")
                found[index] = (max(score, language.layout_score), hits)
        if not found:
            return
        names = sorted(LANGUAGES[i].name for i in found)
        parts.extend(score for score, _ in found.values())
        data.update(languages=names, language_hints=[h for _, hits in found.values() for h in hits][:6],
                    home_country=country)
        places = [place_hint("input_language", LANGUAGES[i].utc_offset_h, PLACE_TOLERANCE_H) for i in sorted(found)
                  if LANGUAGES[i].utc_offset_h is not None]
        if places:
            data.setdefault("places", []).extend(places)
        words.append(f"{' and '.join(names)} input settings ("
                     f"{', '.join(h for _, hits in found.values() for h in hits[:2])}) on a device of an employee "
                     f"claiming a home in {country}")
