"""Latency physics: the device cannot be where its owner claims, or the person typing is far from the device.

Two tells from one kind of measurement (`latency` on device snapshots and remote
sessions), told apart by `data["kind"]`:

*Feasibility* (hard, ``kind="feasibility"``). Nothing outruns light. In optical fibre
light covers about 200 km per millisecond one way (c / 1.47), so a device whose minimum
round trip to a vantage point is R ms lies within R × 100 km of it (`geo.KM_PER_RTT_MS`);
any detour, queue or VPN tunnel only adds time, so the bound is an upper limit on the
distance whatever the route — provided the vantage itself answers the probe (ICMP/UDP or
an application echo): a TCP handshake timed through a terminating cloud proxy measures
the proxy's nearest point of presence, so adapters must not label such probes with a
vantage id. If the claimed home lies farther from the vantage than that
(plus `margin_km` for the geocoding error of the home and the vantage), the device is
not at home. Even free-space paths (microwave, satellite lasers) cannot beat c in vacuum
(R × 150 km): a claim missing that bound too scores 1.0, one missing only the fibre
bound scores `fibre_score`. Recent measurements at other vantage points still bound the
device, each circle widened by `travel_kmh` (an airliner) for the time since it was
taken, so the device lies in all the circles at once; the claim must fit every one. If
the employee's most recent located login (not an anonymizer or the organisation's own
egress) also lies inside the circles, IP geolocation and physics agree the employee is
elsewhere — a trip or an unreported move, which `home_mismatch` judges with its
sustained logic — and the score drops to `travel_factor` (0.2) of itself: kept as
corroboration, too weak to tip a business traveller into a case together with one other
weak tell. When the located login contradicts physics (the IP says "home", the round
trip says "far from home"), the IP location is a lie — a residential proxy — and the
score stays full — but only when the login is too recent for anyone to have travelled
from it to where the device is (`travel_kmh` × its age). A located login followed by
logins through an anonymizer is no trip either: a traveller's own logins keep matching
the trip, an offshore worker's slip matches the device while every other login wears a
VPN ("masked", full score; consumer privacy relays such as iCloud Private Relay, on by
default on ordinary devices, do not count). That is judged at the next measurement, or
— when the measurement came first and was discounted as travel — at the first
anonymized login after it: through the VPN the device's round trips are long and bound
nothing, so the one tight measurement taken during the slip may be the only one. With
no login, or one old enough to allow the trip (a traveller's laptop often probes before
its first VPN login abroad), the measurement waits: it signals only if the infeasibility
persists for `confirm_s` (an hour) with nothing explaining it.

The converse — a round trip much *longer* than the home's distance predicts — is weak
alone (slow Wi-Fi, mobile hotspots, geostationary satellite links at 600 ms), so it is a
soft tell only (``kind="slow_rtt"``): the minimum RTT must exceed the home's fibre
minimum × `route_inflation` + `slow_slack_ms` in at least `min_sessions` of the last 8
measurement sessions, not explained by a recent located login, and its score is capped
at `slow_score`. A rural employee on a geostationary link will show this permanently; at
`slow_score` × weight it stays far below the case threshold alone.

*Remote human* (soft, ``kind="remote_human"``). `input_ms` is the keystroke-to-echo
delay seen at the vantage point; `rtt_ms` is the device's own round trip to the same
vantage. A person at the device adds a few ms of local processing to the RTT; a person
driving the device through remote-control software or an IP-KVM adds the round trip
between them and the device — 40–60 ms on intercontinental paths, 100+ ms East Asia ↔
US. Amazon caught a laptop-farm operative by a ~110 ms keystroke delay where tens of ms
were normal (public reporting, 2025). The excess `input.min - rtt.min` must reach the
threshold in at least `min_sessions` of the last 8 sessions (samples closer than
`session_gap_s` form one session, which counts as high only if all its samples are
high: the minimum is the floor) — one sample never signals. The threshold is
`min_excess_ms`, raised for an employee whose local echo is noisy to their own baseline
mean + `baseline_k`·σ (capped at `max_excess_ms`). The baseline is an exponentially
weighted mean/variance learned only from sub-threshold sessions, so an operative present
from day one cannot teach it to accept them. Sessions an approved tool drives inbound (an
IT admin helping) are left out. Score 0.45 at the threshold, 0.9 at 60 ms above it, up
to 1.0 as high sessions reach 6 of 8.

A late event (older than the tolerance) updates no memory, counts no session and raises
no feasibility signal: the logins it would be judged against are out of order.

The baseline statistics are the formulas of `river.stats.EWMean` / `EWVar` written
inline (the tests check them against river): river's Rust-backed statistics can be
restored only through pickle, which the state contract forbids, so the per-employee
baseline is three plain numbers updated by the same formulas.

Weight 0.55: a physics impossibility alone (risk 55) stays just below the case threshold
— a mis-configured vantage point would otherwise open a case for everyone near it — and
any second tell carries it over. Fusion keeps one signal per detector, so feasibility and
remote-human evidence for one employee do not add up; the stronger stands.
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar, Final

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import Latency, RemoteSession, VpnLogin

from .base import Context, Detector, Signal
from .geo import HALF_EQUATOR_KM, KM_PER_RTT_MS, haversine_km

LIGHT_KM_PER_RTT_MS: Final = 299.792458 / 2  # vacuum: no path of any kind is faster
SESSIONS: Final = 0xFF  # sessions remembered in the bit masks (the last 8)
MAX_VANTAGES: Final = 3  # recent per-vantage measurements kept for intersecting circles

# Home → vantage distances repeat for every measurement of an employee; haversine costs ~1 µs.
_distance_km = functools.lru_cache(maxsize=1 << 16)(haversine_km)


class State(msgspec.Struct, frozen=True, array_like=True):
    """Compact per-employee memory (≤ `LatencyPhysics.max_state_bytes` as msgpack; ~60–110 bytes typical).

    vp   vantage id → [min RTT in 0.1 ms, epoch s] of its latest measurement (≤ 3 known vantages)
    loc  latest located login: [lat×100, lon×100, accuracy km, epoch s], or []
    hm   remote-human sessions, newest in bit 0: 1 = excess over threshold; ht its last sample time; hx its minimum excess (ms)
    bm, bv, bn   baseline of sub-threshold excess: EW mean, EW variance (ms, ms²), samples (capped)
    sm   slow-RTT sessions as a bit mask; st its last sample time
    fz   when an infeasible measurement no login explains or contradicts was first seen (0 = none pending)
    an   when the latest successful login through a third-party anonymizer was seen (epoch s; 0 = never)
    tv   the latest infeasible measurement discounted as travel: [epoch s, vantage id, min RTT in 0.1 ms], or []
    """

    vp: dict[str, list[int]] = {}
    loc: list[int] = []
    hm: int = 0
    ht: int = 0
    hx: int = 0
    bm: float = 0.0
    bv: float = 0.0
    bn: int = 0
    sm: int = 0
    st: int = 0
    fz: int = 0
    an: int = 0
    tv: list[int | str] = []  # [epoch s, vantage id, min RTT in 0.1 ms] (see the docstring)


class LatencyPhysics(Detector):
    id = "latency_physics"
    title = "Latency physics: device out of reach of the claimed home, or a remote hand on the keyboard"
    description = __doc__
    severity = "high"
    weight = 0.6
    attacks = ("T1219", "T1219.003", "T1090", "T1078")
    runbook = ("Check data.kind: for feasibility, compare the bound with the claimed home and recent logins and ask "
               "where the laptop is; for remote_human, list remote-control tools and USB/KVM devices on the host "
               "and ask the employee to type live on camera.")
    status = "stable"
    event_types = ("device_snapshot", "remote_session", "vpn_login")
    State = State
    max_state_bytes = 200
    params: ClassVar = {
        "margin_km": 100.0,          # geocoding error of the claimed home and of the vantage point
        "travel_kmh": 900.0,         # an older circle widens at airliner speed
        "vantage_memory_s": 12 * 3600.0,
        # Feasibility scores stay ≤ 0.8 (× weight 0.6 = 48 < the create threshold): one impossible
        # measurement alone, which a misconfigured vantage point could cause, never opens a case.
        "fibre_score": 0.6,          # misses the fibre bound only
        "light_score": 0.8,          # misses the light-in-vacuum bound too
        "travel_factor": 0.2,        # physics agrees with a recent located login: corroboration, not a lie
        "travel_window_s": 72 * 3600.0,
        "confirm_s": 3600.0,         # an infeasibility no login explains must persist this long
        "default_accuracy_km": 100.0,
        "min_excess_ms": 40.0,       # local echo adds a few ms; a remote operator tens to hundreds
        "max_excess_ms": 80.0,       # a noisy personal baseline never raises the bar beyond this
        "baseline_k": 3.0,
        "baseline_alpha": 0.05,      # river fading_factor: weight of the newest session
        "baseline_min_n": 10,
        "min_sessions": 3,           # of the last 8
        "session_gap_s": 1800.0,
        "pair_window_s": 3600.0,     # an RTT from another event pairs with input_ms if this recent
        "min_input_samples": 5,
        "route_inflation": 2.0,
        "slow_slack_ms": 80.0,       # access network, Wi-Fi, queueing
        "slow_score": 0.3,
        "slow_max_score": 0.5,       # ≥ 2× the allowed RTT in ≥ 5 of the last 8 sessions
    }

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        self._vantages = {vid: (vp.lat, vp.lon, vp.name or vid) for vid, vp in org.vantage_points.items()}
        self._own_networks = bool(org.vpn_egress_networks or org.allowlisted_networks)
        # network_of parses the address (~4 µs); logins repeat a small set of addresses per employee.
        self._network_of = functools.lru_cache(maxsize=8192)(org.network_of)
        p = self.p
        self._margin = float(p["margin_km"])
        self._memory_s = float(p["vantage_memory_s"])
        self._travel_km_per_s = p["travel_kmh"] / 3600
        self._inflation_ms_per_km = p["route_inflation"] / KM_PER_RTT_MS
        self._slack_ms = float(p["slow_slack_ms"])
        self._gap_s = float(p["session_gap_s"])
        self._pair_s = float(p["pair_window_s"])
        self._confirm_s = float(p["confirm_s"])
        self._window_s = float(p["travel_window_s"])
        self._min_input = p["min_input_samples"]
        self._min_sessions = p["min_sessions"]
        self._alpha = p["baseline_alpha"]
        self._between = {(a, b): haversine_km(va[0], va[1], vb[0], vb[1])
                         for a, va in self._vantages.items() for b, vb in self._vantages.items()}


    # ------------------------------------------------------------------------------------
    def observe(self, event, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        if type(event) is VpnLogin:
            return self._located(event, state, ctx)
        latency: Latency | None = event.latency
        if latency is None:
            return state, []
        rtt = latency.rtt_ms
        vid = latency.vantage
        t = ctx.time or event.ts.timestamp()
        signals: list[Signal] = []
        changes: dict = {}
        vantage = self._vantages.get(vid) if vid is not None else None
        if rtt is not None and vantage is not None:
            self._physics(event, state, ctx, t, vid, vantage, rtt.min, changes, signals)
        if latency.input_ms is not None:
            self._remote_human(event, state, ctx, t, vid, latency, changes, signals)
        return (replace(state, **changes) if changes else state), signals

    # Located logins (for travel tolerance) -----------------------------------------------
    def _located(self, event: VpnLogin, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        geo = event.geo
        if event.outcome != "success" or ctx.late:
            return state, []
        t = int(ctx.time or event.ts.timestamp())
        if event.anonymizer is not None:
            if event.anonymizer.type == "relay":  # iCloud Private Relay, WARP: on by default, hides nobody's country
                return state, []
            # Logins now hide behind a VPN/proxy: an older located login no longer says where they are.
            if t > state.an and not (self._own_networks and self._network_of(event.src_ip) in ("vpn_egress", "allowlisted")):
                if state.tv:
                    return replace(state, an=t, tv=[]), self._masked_travel(event, state, ctx, t)
                return replace(state, an=t), []
            return state, []
        if geo is None or geo.lat is None:
            return state, []
        loc = state.loc
        lat, lon = round(geo.lat * 100), round(geo.lon * 100)
        if loc and loc[0] == lat and loc[1] == lon:  # the same place again (most logins): refresh its time
            return (replace(state, loc=[lat, lon, loc[2], t], tv=[]) if t > loc[3] else state), []
        if loc and loc[3] > t:
            return state, []
        if self._own_networks and self._network_of(event.src_ip) in ("vpn_egress", "allowlisted"):
            return state, []
        accuracy = geo.accuracy_km if geo.accuracy_km is not None else self.p["default_accuracy_km"]
        return replace(state, loc=[lat, lon, round(accuracy), t], tv=[]), []

    def _masked_travel(self, event: VpnLogin, state: State, ctx: Context, t: int) -> list[Signal]:
        """The measurement discounted as travel, judged again now that an anonymized login follows its login."""
        when, vid, tenths = state.tv
        employee = ctx.employee
        home = employee.home if employee is not None else None
        vantage = self._vantages.get(vid)
        if home is None or home.lat is None or vantage is None or not 0 <= t - when <= self._window_s:
            return []
        r = tenths / 10
        bound = r * KM_PER_RTT_MS
        distance = _distance_km(home.lat, home.lon, vantage[0], vantage[1])
        miss = distance - bound - self._margin
        if miss <= 0:
            return []
        loc = state.loc
        login = (loc[0] / 100, loc[1] / 100, float(loc[2]), (t - loc[3]) / 3600) if loc else None
        return [self._infeasible(event, miss, distance, (vid, vantage, r, bound, 0.0), [], login, "masked", home,
                                 pending_h=None)]

    def _recent_login(self, state: State, t: float) -> tuple[float, float, float, float] | None:
        loc = state.loc
        if loc and 0 <= t - loc[3] <= self._window_s:
            return loc[0] / 100, loc[1] / 100, float(loc[2]), (t - loc[3]) / 3600
        return None

    # Feasibility and the slow-RTT soft tell -----------------------------------------------
    def _physics(self, event, state: State, ctx: Context, t: float, vid: str, vantage, r: float,
                 changes: dict, signals: list[Signal]) -> None:
        vp = state.vp
        if not ctx.late:
            changes["vp"] = self._remember(vp, vid, r, t)
        employee = ctx.employee
        home = employee.home if employee is not None else None
        if home is None or home.lat is None:
            return
        margin = self._margin
        bound = r * KM_PER_RTT_MS
        home_km = _distance_km(home.lat, home.lon, vantage[0], vantage[1])
        miss = home_km - bound - margin
        if miss <= 0 and len(vp) > (vid in vp):  # the newest circle admits home; might an older one exclude it?
            for other, (tenths, when) in vp.items():
                age = t - when
                if other == vid or age < 0 or age > self._memory_s:
                    continue
                # By the triangle inequality home is at most home_km + (vantage ↔ other) from the other
                # vantage: a circle that wide admits it without computing the distance (the usual case).
                widened = tenths * (KM_PER_RTT_MS / 10) + self._travel_km_per_s * age
                if widened + margin < home_km + self._between.get((vid, other), -math.inf):
                    for circle in self._circles(vp, vid, bound, t):
                        miss = max(miss, _distance_km(home.lat, home.lon, circle[1][0], circle[1][1])
                                   - circle[3] - margin)
                    break
        if miss <= 0:
            if state.fz and not ctx.late:
                changes["fz"] = 0
            self._slow(event, state, ctx, t, vid, vantage, r, home_km, changes, signals)
            return
        if ctx.late:  # its login context is out of order: judge nothing
            return
        circles = [(vid, vantage, r, bound, 0.0), *self._circles(vp, vid, bound, t)]
        login = self._recent_login(state, t)
        verdict = self._verdict(login, circles)
        if verdict == "agrees" and state.an > state.loc[3]:
            # The place physics agrees with is not where the employee now says they are: their logins
            # since come through an anonymizer. A traveller's own logins keep matching the trip; an
            # offshore worker's slip matches the device while every other login wears a VPN.
            verdict = "masked"
        if verdict is None:  # no login places the employee anywhere useful: wait for it to persist
            if not state.fz or t - state.fz > self._window_s:
                changes["fz"] = int(t)
                return
            if t - state.fz < self._confirm_s:
                return
        elif state.fz:
            changes["fz"] = 0
        if verdict == "agrees":  # judged again if the logins that follow are anonymized
            changes["tv"] = [int(t), vid, round(r * 10)]
        worst = max(((_distance_km(home.lat, home.lon, c[1][0], c[1][1]) - c[3] - margin, c) for c in circles),
                    key=lambda item: item[0])
        signals.append(self._infeasible(event, worst[0], worst[0] + worst[1][3] + margin, worst[1], circles, login,
                                        verdict, home, pending_h=(t - state.fz) / 3600 if verdict is None else None))

    def _circles(self, vp: dict[str, list[int]], vid: str, bound: float, t: float) -> list[tuple]:
        """Recent measurements at other vantage points, each widened by travel since: (id, vantage, rtt, km, age s)."""
        circles = []
        for other, (tenths, when) in vp.items():
            age = t - when
            if other == vid or not 0 <= age <= self._memory_s or other not in self._vantages:
                continue
            widened = tenths * (KM_PER_RTT_MS / 10) + self._travel_km_per_s * age
            # A circle as wide as the Earth bounds nothing; circles that do not meet mean a measurement
            # or the vantage config is wrong: trust the newest.
            if widened < HALF_EQUATOR_KM and self._between[vid, other] <= bound + widened + 2 * self._margin:
                circles.append((other, self._vantages[other], tenths / 10, widened, age))
        return circles

    def _verdict(self, login, circles) -> str | None:
        """What the latest located login says about an infeasible measurement.

        "agrees": it lies inside every circle (the employee says they are there: a trip);
        "contradicts": it lies farther from some circle than anyone could have travelled
        since it (the IP location is a lie); None: no login, or one old enough to be
        anywhere by now.
        """
        if login is None:
            return None
        lat, lon, accuracy, age_h = login
        reach = self.p["travel_kmh"] * age_h
        agrees = True
        for c in circles:
            outside = haversine_km(lat, lon, c[1][0], c[1][1]) - c[3] - self._margin - accuracy
            if outside > reach:
                return "contradicts"
            if outside > 0:
                agrees = False
        return "agrees" if agrees else None

    def _remember(self, vp: dict[str, list[int]], vid: str, r: float, t: float) -> dict[str, list[int]]:
        entry = [round(r * 10), int(t)]
        if vp.get(vid) == entry:
            return vp
        if not vp or (len(vp) == 1 and vid in vp):
            return {vid: entry}
        kept = dict(vp)  # copied and pruned in place: cheaper than a comprehension for ≤ 3 entries
        kept.pop(vid, None)
        for k, v in vp.items():
            if k != vid and t - v[1] > self._memory_s:
                del kept[k]
        while len(kept) >= MAX_VANTAGES:  # insertion order is update order: the first is the stalest
            del kept[next(iter(kept))]
        kept[vid] = entry
        return kept

    def _infeasible(self, event, miss, distance, circle, circles, login, verdict, home, pending_h) -> Signal:
        p = self.p
        vid, vantage, r, bound, age = circle
        light_miss = distance - r * LIGHT_KM_PER_RTT_MS - p["travel_kmh"] * age / 3600 - p["margin_km"]
        span = r * (LIGHT_KM_PER_RTT_MS - KM_PER_RTT_MS)
        score = p["light_score"] if light_miss > 0 else p["fibre_score"] + (p["light_score"] - p["fibre_score"]) * min(
            1.0, miss / span if span else 1.0)
        if verdict == "agrees":
            score *= p["travel_factor"]
        place = ", ".join(filter(None, (home.city, home.country))) or f"{home.lat:.2f},{home.lon:.2f}"
        summary = (f"Device answered {vantage[2]} in {r:.1f} ms minimum RTT, so it is within {bound:,.0f} km of it; "
                   f"the claimed home {place} is {distance:,.0f} km away — the claim misses the bound by "
                   f"{miss + p['margin_km']:,.0f} km")
        if verdict == "agrees":
            summary += " (a recent located login is inside the bound too: travel or an unreported move)"
        elif verdict == "contradicts":
            summary += (f" (a login {login[3]:.1f} h earlier geolocates where the device cannot have come from: "
                        f"the IP location is likely a proxy)")
        elif verdict == "masked":
            summary += (" (an earlier direct login placed the employee there, and their logins since come through "
                        "an anonymizer: the VPN hides where the device is)")
        else:
            summary += f" (for {pending_h:.1f} h, with no login placing the employee there)"
        return self.signal(
            event, score, summary, kind="feasibility", vantage=vid, vantage_name=vantage[2],
            rtt_min_ms=round(r, 1), bound_km=round(bound), home_distance_km=round(distance),
            miss_km=round(miss + p["margin_km"]), margin_km=p["margin_km"], beyond_light_speed=light_miss > 0,
            circles=[{"vantage": c[0], "rtt_min_ms": round(c[2], 1), "bound_km": round(c[3]),
                      "age_h": round(c[4] / 3600, 2)} for c in circles] if len(circles) > 1 else None,
            located_login=None if login is None else {"lat": login[0], "lon": login[1], "age_h": round(login[3], 1),
                                                      "verdict": verdict or "stale"},
            unexplained_for_h=None if pending_h is None else round(pending_h, 1),
            device_id=event.device_id)

    def _slow(self, event, state: State, ctx: Context, t: float, vid: str, vantage, r: float, home_km: float,
              changes: dict, signals: list[Signal]) -> None:
        if ctx.late:
            return
        p = self.p
        expected = home_km * self._inflation_ms_per_km + self._slack_ms
        slow = r > expected
        if slow:
            login = self._recent_login(state, t)
            if login is not None:
                login_km = haversine_km(login[0], login[1], vantage[0], vantage[1])
                slow = r > login_km * self._inflation_ms_per_km + self._slack_ms
        elif not state.sm:
            return  # no slow session in memory: a fast one changes nothing that matters
        mask, last, _ = _session(state.sm, state.st, slow, t, self._gap_s)
        if mask != state.sm or last != state.st:
            changes["sm"], changes["st"] = mask, last
        count = mask.bit_count()
        if mask & 1 and count >= self._min_sessions:
            # Twice the round trip the home's distance allows, session after session, is more than a
            # slow link: it is the length of an ocean. The soft tell grows to `slow_max_score` then.
            grown = min(1.0, r / expected - 1.0) * min(1.0, (count - self._min_sessions) / 2)
            score = p["slow_score"] + (p["slow_max_score"] - p["slow_score"]) * grown
            signals.append(self.signal(
                event, score,
                f"Device's minimum RTT to {vantage[2]} is {r:.0f} ms in {count} of the last 8 sessions, where the "
                f"claimed home {home_km:,.0f} km away predicts at most {expected:.0f} ms: it may be far away "
                f"(weak alone: slow links do this too)",
                kind="slow_rtt", vantage=vid, vantage_name=vantage[2], rtt_min_ms=round(r, 1),
                expected_max_ms=round(expected, 1), home_distance_km=round(home_km), sessions=count,
                device_id=event.device_id))

    # Remote human ----------------------------------------------------------------------------
    def _remote_human(self, event, state: State, ctx: Context, t: float, vid: str | None, latency: Latency,
                      changes: dict, signals: list[Signal]) -> None:
        typed = latency.input_ms
        if typed.n < self._min_input or ctx.late:
            return
        if type(event) is RemoteSession and event.direction == "inbound" and self._approved(event.tool, ctx):
            return
        if latency.rtt_ms is not None:
            rtt = latency.rtt_ms.min
        else:
            stored = state.vp.get(vid) if vid is not None else None
            if stored is None or not 0 <= t - stored[1] <= self._pair_s:
                return
            rtt = stored[0] / 10
        excess = typed.min - rtt if typed.min > rtt else 0.0
        threshold = self._threshold(state)
        high = excess >= threshold
        mask, last, merged = _session(state.hm, state.ht, high, t, self._gap_s)
        if merged:
            low = min(state.hx, round(excess))
        else:
            low = round(excess)
            if state.ht and not state.hm & 1:  # the session just closed was local typing: learn from it
                changes["bm"], changes["bv"], changes["bn"] = ew_update(
                    state.bm, state.bv, state.bn, float(state.hx), self._alpha)
        changes["hm"], changes["ht"], changes["hx"] = mask, last, low
        count = mask.bit_count()
        if not (mask & 1 and count >= self._min_sessions):
            return
        score = min(1.0, 0.45 + 0.45 * min(1.0, (low - threshold) / 60.0)
                    + 0.1 * min(1.0, (count - self._min_sessions) / 3))
        where = self._vantages.get(vid, (0, 0, vid))[2] if vid is not None else "the vantage point"
        baseline = round(state.bm, 1) if state.bn >= self.p["baseline_min_n"] else None
        signals.append(self.signal(
            event, score,
            f"Keystroke echo at {where} runs {low:.0f} ms above the device's own round trip "
            f"(input {typed.min:.0f} ms vs RTT {rtt:.0f} ms minimum) in {count} of the last 8 sessions: "
            f"the person typing is far from the device",
            kind="remote_human", vantage=vid, input_min_ms=round(typed.min, 1), rtt_min_ms=round(rtt, 1),
            excess_ms=low, threshold_ms=round(threshold, 1), sessions=count, baseline_excess_ms=baseline,
            tool=getattr(event, "tool", None), device_id=event.device_id))

    def _threshold(self, state: State) -> float:
        p = self.p
        if state.bn < p["baseline_min_n"]:
            return p["min_excess_ms"]
        personal = state.bm + p["baseline_k"] * math.sqrt(max(0.0, state.bv))
        return max(p["min_excess_ms"], min(personal, p["max_excess_ms"]))

    def _approved(self, tool: str, ctx: Context) -> bool:
        if tool in self.org.approved_tools:
            return True
        employee = ctx.employee
        return bool(employee is not None and employee.approved_remote_tools and tool in employee.approved_remote_tools)


def _session(mask: int, last: int, flag: bool, t: float, gap: float) -> tuple[int, int, bool]:
    """Fold one sample into a bit mask of sessions (newest in bit 0): (mask, last sample time, merged?).

    Samples closer than `gap` to the session's last one belong to it; a session is high
    only if all its samples are (its minimum decides).

    >>> _session(0b1, 1000, False, 1600.0, 1800.0)
    (0, 1600, True)
    >>> _session(0b1, 1000, True, 9000.0, 1800.0)
    (3, 9000, False)
    """
    now = int(t)
    if last and abs(now - last) < gap:
        return (mask if flag else mask & ~1), max(last, now), True
    return ((mask << 1) | flag) & SESSIONS, now, False


def ew_update(mean: float, var: float, n: int, x: float, alpha: float) -> tuple[float, float, int]:
    """One step of river's EWMean/EWVar (var = EW mean of x² − mean²), kept as plain numbers.

    >>> ew_update(0.0, 0.0, 0, 4.0, 0.5)
    (4.0, 0.0, 1)
    >>> ew_update(4.0, 0.0, 1, 6.0, 0.5)
    (5.0, 1.0, 2)
    """
    if n == 0:
        return x, 0.0, 1
    new_mean = alpha * x + (1 - alpha) * mean
    # EW mean of squares, recovered from the stored variance: E[x²] = var + mean².
    squares = alpha * x * x + (1 - alpha) * (var + mean * mean)
    return new_mean, max(0.0, squares - new_mean * new_mean), min(n + 1, 255)
