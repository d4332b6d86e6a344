"""Activity hours shifted far from the declared working day: someone else's daytime, on the claimed clock.

Each human-driven event (a successful VPN login, a remote session, a device snapshot
that carries keystroke timing) is a point on the 24-hour circle. The per-employee
profile is its circular mean resultant, learned online with exponential forgetting by
event time (half-life `half_life_days`): faded sums C = Σ w·cos θ, S = Σ w·sin θ and the
weight W = Σ w, three plain floats. The mean direction atan2(S, C) is the activity
centroid; the resultant length R̄ = √(C² + S²) / W (0 = spread round the clock, 1 = all
at one hour) says whether a centroid exists. Angles are learned in UTC and turned into
the claimed home's local time (`ctx.employee.timezone`, `zoneinfo`) when judged, so a
change of the directory record does not invalidate the profile; DST blurs it by at most
one hour twice a year.

A signal needs enough history — a centroid known to within `max_centroid_se_h` (1 h,
its standard error: 1 / √(W·κ·R̄) radians for W faded events and the von Mises
concentration κ that R̄ implies), at least `min_events` (10) events, and `min_days` (5)
distinct days, a week of work — a concentrated profile (R̄ ≥ `min_concentration` 0.35 —
an eight-hour day gives 0.83, activity spread over 16 h about 0.41), and a centroid at
least `min_shift_h` (6 h) from the middle of the declared `work_hours` on the 24-hour
dial: a quarter-day, well beyond early birds, night owls and the two-hour spread of
ordinary schedules. Such a shift is what an operative working Asian daytime on a US
employee's account looks like (Pyongyang/Shenyang 09–18 is 18–03 in Chicago). Score
0.4 at 6 h rising to 1.0 at 10 h, scaled down for a loose profile. Weight is low: night
shifts, caregivers and people who work US hours from abroad all exist. Without a
directory time zone the detector stays quiet; an employee with a time zone but no
`work_hours` is judged against `default_work_hours` (09:00–17:00; set it to "" to stay
quiet). Days of the week are not used (weekend work moves nothing
on the hour dial). Re-raised at most every `resignal_s` so the evidence stays fresh without a
signal per event. A late event still folds into the profile (exponential decay is
order-free) but raises nothing.

*Place.* A shifted day also says where the person may live, for fusion's place
agreement (`data["places"]`): the UTC offset at which the activity centroid falls on the
middle of the declared working day. People's own days centre anywhere from about 11:00
to 15:00, so that offset is known to ±`PLACE_TOLERANCE_H` (2 h).
"""

from __future__ import annotations

import functools
import math
from typing import ClassVar, Final

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import DeviceSnapshot, RemoteSession, VpnLogin

from .base import Context, Detector, Signal
from .fusion import place_hint
from .locale_timezone import utc_offset_h

TAU: Final = 2 * math.pi
DAY_S: Final = 86400.0
PLACE_TOLERANCE_H: Final = 2.0  # where a working day centres varies by about this much between people


class State(msgspec.Struct, frozen=True, array_like=True):
    """Faded circular sums of activity hours (UTC) and how much history backs them (≤ 64 bytes as msgpack).

    c, s, w  faded Σcos, Σsin and Σweight as of time `t` (epoch s); n raw events (capped);
    days distinct UTC days seen; day the last of them; sig time of the last signal.
    """

    c: float = 0.0
    s: float = 0.0
    w: float = 0.0
    t: int = 0
    n: int = 0
    days: int = 0
    day: int = 0
    sig: int = 0


def parse_clock(text: str) -> float:
    """'HH:MM' → hours.

    >>> parse_clock("09:30")
    9.5
    """
    hours, minutes = text.split(":")
    return int(hours) + int(minutes) / 60


@functools.lru_cache(maxsize=1024)  # judged on every event once warmed up; employees share a few shifts
def work_middle_h(start: str, end: str) -> float:
    """Middle of a working day on the 24-hour dial, overnight shifts included.

    >>> work_middle_h("09:00", "17:00"), work_middle_h("22:00", "06:00")
    (13.0, 2.0)
    """
    a, b = parse_clock(start), parse_clock(end)
    length = (b - a) % 24
    return (a + length / 2) % 24


def centroid_se_h(concentration: float, weight: float) -> float:
    """Standard error of the activity centroid, hours: 1 / √(W·κ·R̄) radians (Mardia & Jupp 2000, §4.8).

    κ is the von Mises concentration that the mean resultant length R̄ implies (Best and
    Fisher's approximation, Fisher 1993 eq. 4.40). An eight-hour day (R̄ 0.83) is known to
    the hour after about 6 events; a loose profile (R̄ 0.4) needs about 45.

    >>> round(centroid_se_h(0.83, 6), 2), round(centroid_se_h(0.4, 45), 2), centroid_se_h(0.0, 50)
    (0.94, 0.96, inf)
    """
    r = concentration
    if r <= 0.0 or weight <= 0.0:
        return math.inf
    if r < 0.53:
        kappa = 2 * r + r ** 3 + 5 * r ** 5 / 6
    elif r < 0.85:
        kappa = -0.4 + 1.39 * r + 0.43 / (1 - r)
    else:
        kappa = 1 / (r ** 3 - 4 * r ** 2 + 3 * r) if r < 1.0 else math.inf
    return 24 / TAU / math.sqrt(weight * kappa * r)


class WorkHours(Detector):
    id = "work_hours"
    title = "Activity hours shifted far from the declared working day"
    description = __doc__
    severity = "low"
    weight = 0.3
    attacks = ("T1078",)
    runbook = ("Compare the activity centroid with the employee's declared hours and the manager's expectations; "
               "a shift of 6+ hours alone is weak — look for latency, locale or remote-control evidence.")
    status = "stable"
    event_types = ("vpn_login", "remote_session", "device_snapshot")
    State = State
    max_state_bytes = 72
    params: ClassVar = {
        "half_life_days": 14.0,
        "min_events": 10,
        "max_centroid_se_h": 1.0,
        "min_days": 5,
        "min_concentration": 0.35,
        "min_shift_h": 6.0,
        "full_shift_h": 10.0,
        "resignal_s": 12 * 3600.0,
        "default_work_hours": "09:00-17:00",
    }

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        self._decay_per_s = math.log(2) / (self.p["half_life_days"] * DAY_S)
        p = self.p
        default = p["default_work_hours"]
        self._default_middle = work_middle_h(*default.split("-")) if default else None
        self._min_events, self._min_days, self._resignal_s = p["min_events"], p["min_days"], p["resignal_s"]


    def observe(self, event, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        kind = type(event)
        if kind is VpnLogin:
            if event.outcome != "success":
                return state, []
        elif kind is DeviceSnapshot:
            if event.latency is None or event.latency.input_ms is None:
                return state, []  # periodic inventory, not a person
        elif kind is not RemoteSession:
            return state, []
        t = event.ts.timestamp()
        angle = TAU * (t % DAY_S) / DAY_S
        if t >= state.t:  # fade the sums forward to this event, then add it at full weight
            fade = math.exp(-self._decay_per_s * (t - state.t)) if state.t else 1.0
            c, s, w, last = state.c * fade + math.cos(angle), state.s * fade + math.sin(angle), state.w * fade + 1.0, t
        else:  # an older event enters at the weight it would have had by now: decay is order-free
            weight = math.exp(-self._decay_per_s * (state.t - t))
            c, s, w, last = (state.c + weight * math.cos(angle), state.s + weight * math.sin(angle),
                             state.w + weight, state.t)
        day = int(t // DAY_S)
        new_day = day != state.day and not ctx.late
        # Built positionally, not with `replace(**fields)`: this runs for 40% of all events.
        new = State(c, s, w, int(last), min(state.n + 1, 65535), min(state.days + new_day, 255),
                    day if new_day else state.day, state.sig)
        if ctx.late or new.n < self._min_events or new.days < self._min_days or t - state.sig < self._resignal_s:
            return new, []
        signal = self._judge(event, new, ctx, t)
        if signal is None:
            return new, []
        return replace(new, sig=int(t)), [signal]

    def _judge(self, event, state: State, ctx: Context, t: float) -> Signal | None:
        p = self.p
        employee = ctx.employee
        if employee is None or employee.timezone is None:
            return None
        hours = employee.work_hours
        middle = work_middle_h(hours.start, hours.end) if hours is not None else self._default_middle
        if middle is None:
            return None
        concentration = math.hypot(state.c, state.s) / state.w if state.w else 0.0
        if concentration < p["min_concentration"]:
            return None
        se_h = centroid_se_h(concentration, state.w)
        if se_h > p["max_centroid_se_h"]:
            return None
        offset = utc_offset_h(employee.timezone, int(t // 900))
        if offset is None:
            return None
        centroid_utc = math.atan2(state.s, state.c) / TAU * 24
        centroid = (centroid_utc + offset) % 24
        shift = abs((centroid - middle + 12) % 24 - 12)
        if shift < p["min_shift_h"]:
            return None
        ramp = min(1.0, (shift - p["min_shift_h"]) / max(1e-9, p["full_shift_h"] - p["min_shift_h"]))
        score = (0.4 + 0.6 * ramp) * min(1.0, concentration / 0.6)
        declared = f"{hours.start}–{hours.end}" if hours is not None else f"{p['default_work_hours']} (assumed)"
        return self.signal(
            event, score,
            f"Activity centres on {_clock(centroid)} {employee.timezone} time over {state.n} events on "
            f"{state.days} days, {shift:.1f} h from the middle of the declared working day {declared}",
            centroid_local_h=round(centroid, 2), work_middle_h=round(middle, 2), shift_h=round(shift, 2),
            concentration=round(concentration, 3), centroid_se_h=round(se_h, 2), events=state.n, days=state.days,
            declared_hours=declared, places=[place_hint("activity_hours", middle - centroid_utc, PLACE_TOLERANCE_H)])


def _clock(hours: float) -> str:
    minutes = round(hours * 60) % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
