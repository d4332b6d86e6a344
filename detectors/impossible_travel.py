"""Impossible travel: two successful logins whose places are farther apart than any flight could cover in between.

The speed is the great-circle distance between consecutive located logins, minus both
locations' accuracy radii (GeoIP places a city-level address anywhere within its
radius, so only the distance certainly covered counts), over the event-time gap.
Threshold 900 km/h (Panther uses 900 km/h; Okta and Splunk 500 mph ≈ 805 km/h): jet
airliners cruise at about 850–950 km/h and door-to-door trips average far less because
of airport time, so a real traveller stays below it; we take the top of the published
range because every clue here is fused with others and a false alarm on a real
traveller costs more than a slightly later catch. A minimum of 500 km certainly covered
keeps GeoIP jitter (mobile carriers egressing in a neighbouring metro, country-level
records) from ever firing. The score is 0.5 just above the threshold and reaches 1.0 at
four times it (Seoul → Chicago in one hour is ~10,000 km/h: near-certain).

Logins through an anonymizer (the event's `anonymizer` flag or a hosting/VPN ASN, as
the anonymizer detector classifies them) are hops, not travel: their place is the exit
server's. They never become the last known place, and a jump to one is reported as a
VPN hop with a low score (the anonymizer detector scores the VPN use itself). Logins from the organisation's own networks (office NAT,
VPN egress, allowlisted) say where the network egresses, not where the person is, and
are skipped. Late events (older than the tolerance) never create travel: comparing out
of order would invent journeys.
"""

from __future__ import annotations

import math
from typing import ClassVar, Final

import msgspec

from telltales.schemas.events import VpnLogin

from .anonymizer import anonymity
from .base import Context, Detector, Org, Signal
from .geo import haversine_km

MAX_PLACE: Final = 32  # characters; UTF-8 may take up to 4 bytes each


class State(msgspec.Struct, frozen=True, array_like=True):
    """The last located, direct, successful login: four floats, an IP, a short place name (≤ 224 bytes)."""

    time: float = 0.0
    lat: float = 0.0
    lon: float = 0.0
    accuracy_km: float = 0.0
    ip: str = ""  # empty: no located login yet
    place: str = ""


class ImpossibleTravel(Detector):
    id = "impossible_travel"
    title = "Impossible travel between logins"
    description = __doc__
    severity = "medium"
    weight = 0.5
    attacks = ("T1078", "T1133")
    runbook = ("Compare the two logins' IPs, devices and MFA; ask the employee where they were; an undetected VPN "
               "explains most alerts, so check the second IP's ASN before escalating.")
    status = "stable"
    event_types = ("vpn_login",)
    State = State
    max_state_bytes = 224  # typical: ~60 bytes (IPv4, "Chicago, US")
    params: ClassVar = {
        "max_kmh": 900.0,            # faster than an airliner, door to door
        "min_km": 500.0,             # distance certainly covered (after accuracy radii) below which nothing fires
        "default_accuracy_km": 50.0, # assumed radius when a location comes without one
        "min_gap_s": 60.0,           # a smaller time gap is treated as this (simultaneous logins)
        "certain_ratio": 4.0,        # speed / max_kmh at which the score reaches 1.0
        "hop_score": 0.1,            # a jump through an anonymizer: reported, barely scored
    }

    def __init__(self, org: Org, params=None) -> None:
        super().__init__(org, params)
        self._max_kmh = float(self.p["max_kmh"])
        self._min_km = float(self.p["min_km"])
        self._default_acc = float(self.p["default_accuracy_km"])
        self._min_gap = float(self.p["min_gap_s"])
        self._log_certain = math.log(max(1.0001, float(self.p["certain_ratio"])))

    def observe(self, event: VpnLogin, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        geo = event.geo
        if event.outcome != "success" or geo is None or geo.lat is None or self.org.network_of(event.src_ip) is not None:
            return state, []
        when = ctx.time or event.ts.timestamp()
        accuracy = geo.accuracy_km if geo.accuracy_km is not None else self._default_acc
        hop = anonymity(event)
        signals: list[Signal] = []
        if state.ip and not ctx.late and (geo.lat != state.lat or geo.lon != state.lon):
            travel = self._travel(state, geo.lat, geo.lon, accuracy, when)
            if travel is not None:
                signals.append(self._signal(event, state, travel, hop))
        if hop is not None or (ctx.late and state.ip) or when < state.time:
            return state, signals  # an exit server's place or an older login never becomes the last place
        place = ", ".join(filter(None, (geo.city, geo.country)))[:MAX_PLACE]
        return State(when, geo.lat, geo.lon, accuracy, event.src_ip, place), signals

    def _travel(self, last: State, lat: float, lon: float, accuracy: float,
                when: float) -> tuple[float, float, float, float] | None:
        """(km, km certainly covered, hours, km/h) when the move is impossible, else None."""
        km = haversine_km(last.lat, last.lon, lat, lon)
        covered = km - last.accuracy_km - accuracy
        if covered < self._min_km:
            return None
        gap = abs(when - last.time)
        kmh = covered * 3600.0 / max(gap, self._min_gap)
        if kmh <= self._max_kmh:
            return None
        return km, covered, gap / 3600.0, kmh

    def _signal(self, event: VpnLogin, last: State, travel: tuple[float, float, float, float],
                hop: tuple[str, str] | None) -> Signal:
        km, covered, hours, kmh = travel
        geo = event.geo
        here = ", ".join(filter(None, (geo.city, geo.country))) or f"{geo.lat:.2f},{geo.lon:.2f}"
        there = last.place or f"{last.lat:.2f},{last.lon:.2f}"
        data = dict(from_ip=last.ip, from_place=last.place or None, from_lat=round(last.lat, 2),
                    from_lon=round(last.lon, 2), to_ip=event.src_ip, to_place=here, to_lat=round(geo.lat, 2),
                    to_lon=round(geo.lon, 2), km=round(km), km_beyond_accuracy=round(covered),
                    hours=round(hours, 2), kmh=round(kmh), max_kmh=self._max_kmh)
        move = f"{there} ({last.ip}) to {here} ({event.src_ip}): at least {round(covered):,} km in {hours:.1f} h"
        if hop is not None:
            kind, provider = hop
            via = f"{kind} {provider}".strip()
            return self.signal(event, float(self.p["hop_score"]),
                               f"Login location jumped from {move} through an anonymizer ({via}) — "
                               f"a VPN hop, not travel", hop="anonymizer", anonymizer=kind,
                               provider=provider or None, **data)
        ratio = kmh / self._max_kmh
        score = min(1.0, 0.5 + 0.5 * math.log(ratio) / self._log_certain)
        return self.signal(event, score,
                           f"Impossible travel from {move} = {round(kmh):,} km/h "
                           f"(limit {round(self._max_kmh):,} km/h)", **data)
