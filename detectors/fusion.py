"""Risk fusion and the case lifecycle: decaying signals combine into a 0–100 risk per employee.

Each detector contributes its strongest current signal, weight × score, halved every
`half_life` of event time. Contributions combine like independent pieces of evidence
(noisy-OR): risk = 100 × (1 − Π(1 − cᵢ)). One weak tell stays low; several together
cross the threshold. A case opens when risk reaches `create_threshold`, is updated only
when its band changes or a new detector contributes, and closes when risk decays below
`close_threshold` or no evidence arrives for `case_ttl`. An open case moves down a band
only once risk falls `BAND_HYSTERESIS` points below that band's edge, so a risk
hovering at an edge (89.9, 90.1, 89.8 …) does not send an Update for every wobble.

*Place agreement.* Some tells say where the person behind the account lives, as a UTC
offset known to a tolerance: a device clock no located login explains, an input
language, the day that activity hours fit. Detectors put these in their signal data
under `places` (see `place_hint`). Each such tell is weak because it has an innocent
explanation of its own (a bilingual employee, a night owl, a clock set by hand), and
those explanations are unrelated to one another, so they point at places that agree
only by chance. Where logins come from is deliberately not a place tell: being there
(a trip, a move) explains a far login and the hours kept there at once, so their
agreement is what every traveller shows, and home_mismatch already scores the presence.
When independent tells of the contributing signals agree on one offset, fusion adds one more piece of evidence, `place_agreement`, scored 1 − the
chance that unrelated tells would land that close (each further tell within ±(its
tolerance + the tightest one's) of the place, out of 24 hours: a device clock and an
input language pointing at UTC+9 score 1 − 2/24 ≈ 0.92; activity hours within 2 h of
them 0.79). Its weight is `place_weight` (`fusion.place_agreement_weight`, 0 turns it
off); it runs at the pace of its oldest agreeing tell, so it decays with them. Only
signals fusion counts take part: a shadow-mode detector's or a zero-weight detector's
tells agree with nothing.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import msgspec
from msgspec.structs import replace

from .base import Signal

MAX_CASE_EVENT_IDS: Final = 8
MIN_CONTRIBUTION: Final = 0.005  # below this a decayed signal is forgotten (keeps state small)

# Bands above the create threshold; a case is updated when its band changes.
BAND_EDGES: Final = (75.0, 90.0)  # medium < 75 ≤ high < 90 ≤ critical
BAND_HYSTERESIS: Final = 5.0  # an open case leaves a band downward only this far below its edge

PLACE_AGREEMENT: Final = "place_agreement"  # the evidence id of agreeing place tells
MIN_AGREEING: Final = 2  # one tell cannot agree with itself
# What a finding says about place agreement (it is evidence, not a detector module).
PLACE_AGREEMENT_META: Final = {
    "title": "Independent tells agree on one foreign place",
    "severity": "medium",
    "attacks": ("T1078",),
    "runbook": ("Read which tells agree (device clock, input language, activity hours) and on what UTC "
                "offset; ask the employee where they work from and verify their identity on a live video call."),
    "event_types": (),
}


class Active(msgspec.Struct, frozen=True, array_like=True):
    """A detector's strongest current signal for one employee (plain values only)."""

    weight: float
    score: float
    time: float
    summary: str
    data: dict
    event_ids: tuple[str, ...] = ()
    group: str | None = None


class Case(msgspec.Struct, frozen=True, array_like=True):
    number: int = 0  # cases opened so far for this employee; the open case's uid derives from it
    open: bool = False
    band: int = 0
    detectors: tuple[str, ...] = ()
    first_seen: float = 0.0
    last_seen: float = 0.0
    event_ids: tuple[str, ...] = ()
    group: str | None = None


class FusionState(msgspec.Struct, frozen=True, array_like=True):
    active: dict[str, Active] = {}
    case: Case = Case()


class CaseChange(msgspec.Struct, frozen=True, kw_only=True):
    """What the finding builder needs to write one OCSF Detection Finding."""

    activity: Literal["create", "update", "close"]
    employee_id: str
    case: Case
    risk: float
    time: float  # event time of the newest evidence (epoch seconds)
    evidence: dict[str, Active]  # detector id → its contributing signal
    reason: str  # why this record was emitted (band change, new detector, decayed, ttl)


class Fusion:
    """Pure risk fusion with the thresholds and weights of one configuration."""

    def __init__(self, *, half_life_s: float, create_threshold: float, close_threshold: float,
                 case_ttl_s: float, weights: dict[str, float], shadow: frozenset[str] = frozenset(),
                 place_weight: float = 0.0) -> None:
        if close_threshold > create_threshold:
            raise ValueError("fusion.close_threshold must not exceed fusion.create_threshold")
        self.half_life_s = half_life_s
        self.create_threshold = create_threshold
        self.close_threshold = close_threshold
        self.case_ttl_s = case_ttl_s
        self.weights = weights
        self.shadow = shadow
        self.place_weight = place_weight

    def decayed(self, active: Active, now: float) -> float:
        age = max(0.0, now - active.time)
        return active.weight * active.score * math.pow(0.5, age / self.half_life_s)

    def risk(self, state: FusionState, now: float) -> float:
        survival = 1.0
        for active in state.active.values():
            survival *= 1.0 - min(0.999, self.decayed(active, now))
        return round(100.0 * (1.0 - survival), 3)

    def band(self, risk: float) -> int:
        if risk < self.create_threshold:
            return 0
        return 1 + sum(risk >= edge for edge in BAND_EDGES)

    def held_band(self, risk: float, current: int) -> int:
        """The band of an open case now in band `current`: up at the edge, down only `BAND_HYSTERESIS` below it."""
        band = self.band(risk)
        for held in range(current, max(band, 1), -1):
            if risk >= BAND_EDGES[held - 2] - BAND_HYSTERESIS:
                return held
        return band

    def add(self, state: FusionState, signals: list[Signal], employee_id: str) -> tuple[FusionState, list[CaseChange]]:
        """Fold signals (all for `employee_id`) into the state; return the case records to emit."""
        if not signals:
            return state, []
        active = dict(state.active)
        # Evaluate at the newest event time seen, so a late signal cannot move the clock back.
        now = max(max(s.time for s in signals), state.case.last_seen)
        for signal in signals:
            if signal.detector in self.shadow:
                continue
            weight = self.weights.get(signal.detector, 0.0)
            candidate = Active(weight, signal.score, signal.time, signal.summary, signal.data,
                               signal.event_ids, signal.group)
            current = active.get(signal.detector)
            if current is None or self.decayed(candidate, now) > self.decayed(current, now) + 1e-9:
                active[signal.detector] = candidate
        if self.place_weight > 0:
            agreement = self._place_agreement(active, now)
            current = active.get(PLACE_AGREEMENT)
            if agreement is not None and (current is None or self.decayed(agreement, now)
                                          > self.decayed(current, now) + 1e-9):
                active[PLACE_AGREEMENT] = agreement
        state = replace(state, active=self._prune(active, now))
        return self._transition(state, employee_id, now, signals)

    def sweep(self, state: FusionState, now: float, employee_id: str) -> tuple[FusionState, list[CaseChange]]:
        """Re-evaluate an open case at event time `now` (decay and TTL); used as time advances."""
        if not state.case.open:
            return state, []
        return self._transition(replace(state, active=self._prune(dict(state.active), now)), employee_id, now, [])

    def _place_agreement(self, active: dict[str, Active], now: float) -> Active | None:
        """The agreement of the contributing signals' place tells, as one more piece of evidence, or None."""
        hints = []  # (tell, offset, tolerance, detector, signal)
        for detector, signal in active.items():
            places = signal.data.get("places") if detector != PLACE_AGREEMENT else None
            if places and self.decayed(signal, now) >= 0.01:  # contributing, so neither shadowed nor weighted 0
                hints += [(tell, float(offset), float(tolerance), detector, signal)
                          for tell, offset, tolerance in places]
        if len(hints) < MIN_AGREEING:
            return None
        best = _largest_agreement(hints)
        if best is None:
            return None
        centre, agreeing = best
        tightest = agreeing[0][2]  # agreeing tells come tightest first
        chance = 1.0
        for _, _, tolerance, _, _ in agreeing[1:]:
            chance *= min(1.0, 2 * (tightest + tolerance) / 24)
        tells = [f"{tell} ({detector}, UTC{_offset(offset)} ±{tolerance:g} h)" for tell, offset, tolerance, detector, _
                 in agreeing]
        summary = (f"{len(agreeing)} independent tells agree on one place, UTC{_offset(centre)}: {'; '.join(tells)}; "
                   f"unrelated tells would land this close by chance {chance:.0%} of the time")
        signals = [h[4] for h in agreeing]
        return Active(self.place_weight, 1.0 - chance, min(s.time for s in signals), summary,
                      {"utc_offset_h": centre, "tells": [h[0] for h in agreeing],
                       "detectors": sorted({h[3] for h in agreeing}), "chance": round(chance, 3)},
                      tuple(dict.fromkeys(i for s in signals for i in s.event_ids))[-MAX_CASE_EVENT_IDS:])

    def _prune(self, active: dict[str, Active], now: float) -> dict[str, Active]:
        return {d: a for d, a in sorted(active.items()) if self.decayed(a, now) >= MIN_CONTRIBUTION}

    def _transition(self, state: FusionState, employee_id: str, now: float,
                    signals: list[Signal]) -> tuple[FusionState, list[CaseChange]]:
        case = state.case
        risk = self.risk(state, now)
        band = self.held_band(risk, case.band) if case.open else self.band(risk)
        contributing = tuple(sorted(d for d, a in state.active.items() if self.decayed(a, now) >= 0.01))
        new_ids = tuple(i for s in signals if s.detector not in self.shadow for i in s.event_ids)
        # A case keeps the group it opened with; a new one takes the group of its strongest
        # group-linked evidence (one farm is seen through its IP, Wi-Fi and router at once).
        group = case.group if case.open and case.group else self._strongest_group(state, now)
        if not case.open:
            if band == 0:
                return state, []
            case = Case(number=case.number + 1, open=True, band=band, detectors=contributing,
                        first_seen=min(a.time for a in state.active.values()), last_seen=now,
                        event_ids=_bounded(new_ids), group=group)
            return self._emit(state, case, "create", employee_id, risk, now, "risk reached the create threshold")
        ttl_expired = now - case.last_seen > self.case_ttl_s and not signals
        if risk < self.close_threshold or ttl_expired:
            case = replace(case, open=False, band=0)
            reason = "no new evidence within the case TTL" if ttl_expired and risk >= self.close_threshold \
                else "risk decayed below the close threshold"
            return self._emit(state, case, "close", employee_id, risk, now, reason)
        newcomers = tuple(d for d in contributing if d not in case.detectors)
        merged = tuple(sorted(set(case.detectors) | set(contributing)))
        updated = replace(case, detectors=merged, band=max(band, 1),
                          last_seen=max(case.last_seen, now) if signals else case.last_seen,
                          event_ids=_bounded(case.event_ids + new_ids), group=group)
        if newcomers or (band != case.band and band > 0):
            reason = f"new detector {', '.join(newcomers)}" if newcomers else f"risk band {case.band} → {band}"
            return self._emit(state, updated, "update", employee_id, risk, now, reason)
        return replace(state, case=updated), []

    def _strongest_group(self, state: FusionState, now: float) -> str | None:
        linked = [(self.decayed(a, now), d, a.group) for d, a in state.active.items() if a.group]
        return max(linked)[2] if linked else None

    def _emit(self, state: FusionState, case: Case, activity, employee_id: str, risk: float, now: float,
              reason: str) -> tuple[FusionState, list[CaseChange]]:
        state = replace(state, case=case)
        evidence = {d: a for d, a in state.active.items() if self.decayed(a, now) >= 0.01}
        return state, [CaseChange(activity=activity, employee_id=employee_id, case=case, risk=risk,
                                  time=now, evidence=evidence, reason=reason)]


def place_hint(tell: str, utc_offset_h: float, tolerance_h: float) -> list:
    """One `places` entry of a signal's data: a tell saying the person lives at this UTC offset, ± tolerance.

    >>> place_hint("device_clock", 9, 0.5)
    ['device_clock', 9.0, 0.5]
    """
    return [tell, round(_wrap(float(utc_offset_h)), 2), float(tolerance_h)]


def _wrap(offset: float) -> float:
    """An offset on the 24-hour dial as a number in [-12, 12)."""
    return (offset + 12.0) % 24.0 - 12.0


def _offset(hours: float) -> str:
    return f"{hours:+g}" if hours else "±0"


def _largest_agreement(hints: list[tuple]) -> tuple[float, list[tuple]] | None:
    """(centre, hints) of the most distinct tells whose ranges share a point on the 24-hour dial, or None under two.

    Each tell counts once (its tightest hint); ties go to the tighter agreement, then the smaller offset.
    """
    best: tuple | None = None
    # The most tells overlap at one of their range ends or centres: only those points need checking.
    points = {_wrap(o + side * t) for _, o, t, _, _ in hints for side in (-1, 0, 1)}
    for point in sorted(points):
        by_tell: dict[str, tuple] = {}
        for hint in hints:
            tell, offset, tolerance = hint[:3]
            if abs(_wrap(offset - point)) <= tolerance + 1e-9 and (tell not in by_tell or tolerance < by_tell[tell][2]):
                by_tell[tell] = hint
        if len(by_tell) < MIN_AGREEING:
            continue
        agreeing = sorted(by_tell.values(), key=lambda h: (h[2], h[0]))
        rank = (len(agreeing), -sum(h[2] for h in agreeing))
        if best is None or rank > best[0]:
            best = (rank, agreeing)
    if best is None:
        return None
    _, agreeing = best
    # The centre is where the tightest tells put it (an exact device clock over a ±2 h activity window).
    tightest = agreeing[0]
    return round(tightest[1], 2), agreeing


def _bounded(ids: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = dict.fromkeys(ids)
    return tuple(seen)[-MAX_CASE_EVENT_IDS:]
