"""Per-employee baseline of a few event features; flags sustained, extreme departures (shadow by default).

A catch-all for changes no specific detector names: the device's network round trip
(log of `latency.rtt_ms.min`), a remote session's volume (log of bytes in + out) and
length (log of `duration_s`), and logins from an autonomous system the employee rarely
uses. Each numeric feature keeps an exponentially weighted mean and variance (river's
`EWMean`/`EWVar` formulas with fading factor `alpha`, shared with `latency_physics`;
river's Rust-backed statistics can be restored only through pickle, which the state
contract forbids, so the state keeps the plain numbers; a test checks them against
river). After `warmup` samples a value's z-score is |x − mean| / √(var + `floor`²) — the
floor keeps a feature that never varied from turning every wobble into an outlier.
Values are learned winsorised to mean ± 3σ, and an extreme value moves only the mean (by
at most `alpha` × 3σ), never the variance, so one outlier cannot blow up the spread and
hide the next, while a lasting change is still absorbed (a lasting 12 → 160 ms jump in
round trip stops counting after about 20 events). A login from an ASN outside the last
three the employee used, when such logins have been rarer than `asn_rare_rate` over at
least `warmup` logins, counts as extreme too.

An event is extreme when its largest z reaches `z_extreme` (6: by Chebyshev's
inequality at most 1/36 of any distribution lies that far out, and for the near-log-normal
quantities here far less). A signal needs `min_extreme` (4) extreme events among the
employee's last 8 scored events, the newest among them — one odd session never signals —
and is re-raised at most every `resignal_s`. Score 0.3 rising to 0.6; status shadow with
weight 0.15: recorded for detection engineers, no effect on risk until tuned.

No shared model. A shared river HalfSpaceTrees over normalised features was measured at
about 8 µs per score and 9 µs per learn (river 0.26, 4 features) — the whole pipeline's
per-event budget — and would make each employee's result depend on the order of other
employees' events, differently in each Kafka worker process (each would own its own
model). Per-employee statistics are deterministic under per-employee ordering, which both
replay and the partitioned worker guarantee, and cost about 2 µs per event.
"""

from __future__ import annotations

import math
from typing import ClassVar, Final

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import RemoteSession, VpnLogin

from .base import Context, Detector, Signal
from .latency_physics import ew_update

FEATURES: Final = ("rtt_ms", "session_bytes", "session_s")  # learned as log(1 + x)
RECENT_ASNS: Final = 3
MASK: Final = 0xFF


class State(msgspec.Struct, frozen=True, array_like=True):
    """Compact per-employee baselines (≤ 128 bytes as msgpack).

    m     per feature [EW mean, EW variance] of log(1 + x), flattened in FEATURES order ([] before any)
    n     samples per feature (capped at 255)
    asns  the last three distinct ASNs seen, most recent last; an EW rate of new-ASN logins; al logins with an ASN (capped)
    mask  extreme flags of the last 8 scored events (newest in bit 0); sig time of the last signal
    """

    m: list[float] = []
    n: list[int] = []
    asns: list[int] = []
    an: float = 0.0
    al: int = 0
    mask: int = 0
    sig: int = 0


class BaselineAnomaly(Detector):
    id = "baseline_anomaly"
    title = "Sustained departure from the employee's own baseline"
    description = __doc__
    severity = "low"
    weight = 0.15
    attacks = ("T1078", "T1133")
    runbook = ("Shadow detector: read data.features for what changed (values vs usual) and check it against the "
               "employee's other signals; do not act on it alone.")
    status = "shadow"
    event_types = ("device_snapshot", "remote_session", "vpn_login")
    State = State
    max_state_bytes = 128
    params: ClassVar = {
        "alpha": 0.05,
        "warmup": 20,
        "floor": 0.25,          # log units: changes under ~25% are never extreme
        "z_extreme": 6.0,
        "min_extreme": 4,       # of the last 8 scored events
        "asn_rare_rate": 0.05,
        "resignal_s": 24 * 3600.0,
    }

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        p = self.p
        self._alpha, self._warmup, self._floor2 = p["alpha"], p["warmup"], p["floor"] ** 2
        self._z_extreme, self._min_extreme = p["z_extreme"], p["min_extreme"]


    def observe(self, event, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        kind = type(event)
        if kind is VpnLogin:
            return self._login(event, state, ctx)
        values: list[tuple[int, float]] = []
        latency = event.latency
        if latency is not None and latency.rtt_ms is not None:
            values.append((0, latency.rtt_ms.min))
        if kind is RemoteSession:
            if event.bytes_in is not None or event.bytes_out is not None:
                values.append((1, float((event.bytes_in or 0) + (event.bytes_out or 0))))
            if event.duration_s is not None:
                values.append((2, event.duration_s))
        if not values:
            return state, []
        m = list(state.m) or [0.0] * (2 * len(FEATURES))
        n = list(state.n) or [0] * len(FEATURES)
        worst = 0.0
        scored = False
        evidence: dict = {}
        for index, raw in values:
            x = math.log1p(raw)
            mean, var, count = m[2 * index], m[2 * index + 1], n[index]
            if count >= self._warmup:
                scored = True
                sd = math.sqrt(var + self._floor2)
                z = abs(x - mean) / sd
                if z > worst:
                    worst = z
                x = min(max(x, mean - 3 * sd), mean + 3 * sd)  # winsorised
                if z >= self._z_extreme:
                    evidence[FEATURES[index]] = {"value": round(raw, 1), "usual": round(math.expm1(mean), 1),
                                                 "z": round(z, 1)}
                    # An outlier moves the mean a bounded step but leaves the spread alone, so it cannot
                    # hide the next one; a lasting change is still absorbed.
                    m[2 * index], n[index] = mean + self._alpha * (x - mean), min(count + 1, 255)
                    continue
            m[2 * index], m[2 * index + 1], n[index] = ew_update(mean, var, count, x, self._alpha)
        if not scored:
            return replace(state, m=m, n=n), []
        return self._judge(event, state, ctx, bool(evidence), evidence, worst, m=m, n=n)

    def _login(self, event: VpnLogin, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        if event.asn is None or event.outcome != "success":
            return state, []
        number = event.asn.number
        asns = state.asns
        novel = number not in asns
        if novel:
            asns = (asns + [number])[-RECENT_ASNS:]
        elif asns[-1] != number:
            asns = [a for a in asns if a != number] + [number]
        an = float(novel) if state.al == 0 else self._alpha * novel + (1 - self._alpha) * state.an
        updates = {"asns": asns, "an": an, "al": min(state.al + 1, 255)}
        if state.al < self._warmup:
            return replace(state, **updates), []
        rare = novel and state.an < self.p["asn_rare_rate"]
        evidence = {"new_asn": {"asn": number, "org": event.asn.org, "usual": state.asns,
                                "new_asn_rate": round(state.an, 3)}} if rare else {}
        return self._judge(event, state, ctx, rare, evidence, 0.0, **updates)

    def _judge(self, event, state: State, ctx: Context, extreme: bool, evidence: dict, worst: float,
               **updates) -> tuple[State, list[Signal]]:
        """Fold one scored event into the extreme-event mask (one `replace` with the learned `updates`)."""
        if ctx.late or (not extreme and not state.mask):  # late: learned from, never judged in the wrong order
            return replace(state, **updates), []
        mask = ((state.mask << 1) | extreme) & MASK
        count = mask.bit_count()
        if not extreme or count < self._min_extreme:
            return replace(state, mask=mask, **updates), []
        t = ctx.time or event.ts.timestamp()
        if t - state.sig < self.p["resignal_s"]:
            return replace(state, mask=mask, **updates), []
        score = min(0.6, 0.3 + 0.1 * (count - self._min_extreme))
        described = ", ".join(
            f"{name} {v['value']} vs usual {v['usual']}" if "value" in v else f"login from rarely-used AS{v['asn']}"
            for name, v in evidence.items())
        signal = self.signal(event, score, f"{count} of the last 8 events far outside this employee's baseline: "
                                           f"{described}", features=evidence, extreme_events=count,
                             max_z=round(worst, 1) if worst else None, device_id=event.device_id)
        return replace(state, mask=mask, sig=int(t), **updates), [signal]
