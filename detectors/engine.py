"""The detection core both drivers call: per-employee steps, per-key correlation, fusion. Pure.

`Engine.observe` runs one telemetry event through the detectors that read its type and
returns the new employee state, the signals, the key observations for cross-employee
detectors, and any detector errors (isolated: one broken detector cannot stop the
stream). `Engine.correlate` folds a key observation into that key's state and returns
signals addressed to employees. `Engine.fuse` turns signals into case changes.
Replay wires these with dicts; the Kafka worker wires them with tables and topics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import msgspec
from msgspec.structs import replace

from telltales.schemas.config import Config
from telltales.schemas.events import EVENT_TYPES, Employee, Event

from . import registry
from .base import Context, Detector, KeyObservation, Org, Signal
from .fusion import CaseChange, Fusion, FusionState

STATE_VERSION: Final = 3  # 3: `pos` added; 2: `seen` is packed bytes (was a list of ints)
SEEN_IDS: Final = 16  # recently applied event ids remembered per employee, for idempotence
DIGEST_BYTES: Final = 8
_SEEN_KEEP: Final = (SEEN_IDS - 1) * DIGEST_BYTES
MAX_SOURCES: Final = 8  # ordered sources (topic-partitions) whose position an employee state keeps
_BLAKE2B_8: Final = hashlib.blake2b(digest_size=DIGEST_BYTES)  # copied per id: cheaper than parsing the parameters


class EmployeeState(msgspec.Struct, array_like=True):
    """Everything telltales remembers about one employee; msgpack-serialised, small (see `encode_state`)."""

    v: int = STATE_VERSION
    last: float = 0.0  # newest event time applied (epoch s)
    seen: bytes = b""  # 8-byte digests of recently applied event ids, oldest first (see `event_digest`)
    det: dict[str, Any] = {}  # detector id → its State struct
    fusion: FusionState = FusionState()
    # Ordered source (a topic-partition, see `Engine.observe`) → (offset, timestamp s) of the newest record applied.
    pos: dict[int, tuple[int, int]] = {}


class DetectorError(NamedTuple):
    detector: str
    stage: str  # observe | keys | correlate
    error: str


class Step(msgspec.Struct):
    """The outcome of `Engine.observe` (a Struct, not a NamedTuple: one is built per event, 3x cheaper)."""

    state: EmployeeState
    signals: list[Signal]
    observations: list[KeyObservation]
    errors: list[DetectorError]
    duplicate: bool
    time: float = 0.0  # the event's time (epoch s), computed once for the driver too


def event_digest(event_id: str) -> bytes:
    """8-byte digest of an event id (ids are arbitrary strings from sources)."""
    digest = _BLAKE2B_8.copy()
    digest.update(event_id.encode())
    return digest.digest()


def seen_before(seen: bytes, digest: bytes) -> bool:
    """Is `digest` one of the packed digests in `seen`? Only matches at digest boundaries count.

    >>> seen_before(b"abcdefgh12345678", b"12345678"), seen_before(b"abcdefgh12345678", b"efgh1234")
    (True, False)
    """
    at = seen.find(digest)
    while at > 0 and at % DIGEST_BYTES:  # straddles two digests: look further
        at = seen.find(digest, at + 1)
    return at >= 0


class Engine:
    """One configured detection core."""

    def __init__(self, config: Config, *, detectors: list[Detector] | None = None,
                 enrich: Callable[[Event], Event] | None = None) -> None:
        self.config = config
        self.org = Org.from_config(config)
        self.detectors = detectors if detectors is not None else registry.build(config, self.org)
        self.by_id = {d.id: d for d in self.detectors}
        self.enrich = enrich
        # Event classes the enricher may change (all, unless it says which): others skip the call.
        self._enriched = frozenset(getattr(enrich, "event_types", EVENT_TYPES.values()))
        by_type: dict[type, list[Detector]] = {}  # event class → detectors that read it
        for detector in self.detectors:
            for event_type in detector.event_types:
                by_type.setdefault(EVENT_TYPES[event_type], []).append(detector)
        # The hot loop's view: (id, bound method) pairs, so each event looks up no attribute per detector.
        self._observers = {t: tuple((d.id, d.observe) for d in ds) for t, ds in by_type.items()}
        self.correlators = [d for d in self.detectors if d.key_kinds]
        # Bound methods per detector id: one or two key observations per event reach `correlate`.
        self._key_hooks = {d.id: (d.correlate, d.initial_key_state) for d in self.detectors}
        self._correlators_by_type = {
            t: tuple((d.id, d.correlation_keys) for d in ds if d.key_kinds) for t, ds in by_type.items()}
        self._late_s = self.org.late_tolerance_s
        fusion_cfg = config.fusion
        shadow = frozenset(d.id for d in self.detectors if self._mode(d) == "shadow")
        self.shadow = shadow
        self.fusion = Fusion(
            half_life_s=fusion_cfg.half_life_hours * 3600.0,
            create_threshold=fusion_cfg.create_threshold,
            close_threshold=fusion_cfg.close_threshold,
            case_ttl_s=fusion_cfg.case_ttl_hours * 3600.0,
            weights={d.id: self._weight(d) for d in self.detectors},
            shadow=shadow,
            place_weight=fusion_cfg.place_agreement_weight,
        )
        self.allowlisted_employees = frozenset(config.allowlists.employees)

    def _mode(self, detector: Detector) -> str:
        settings = self.config.detectors.get(detector.id)
        if settings is not None and settings.mode is not None:
            return settings.mode
        return "shadow" if detector.status == "shadow" else "active"

    def _weight(self, detector: Detector) -> float:
        settings = self.config.detectors.get(detector.id)
        return settings.weight if settings is not None and settings.weight is not None else detector.weight

    def new_state(self) -> EmployeeState:
        return EmployeeState(det={d.id: d.initial_state() for d in self.detectors if d.State is not None})

    # Per-employee ------------------------------------------------------------------------
    def observe(self, event: Event, state: EmployeeState | None, employee: Employee | None,
                source: tuple[int, int, int] | None = None) -> Step:
        """Apply one telemetry event to its employee's state. The given state is not mutated.

        A repeated event is a duplicate and changes nothing. The last `SEEN_IDS` event ids
        recognise one delivered or produced twice; a driver reading ordered sources also
        passes `source` — (source id, offset, timestamp s), e.g. a Kafka topic-partition —
        and a record at or before the newest applied from that source is a duplicate however
        many came after it: a redelivery after a crash or a rebalance can hold more than
        `SEEN_IDS` of one employee's events. A source's records must then be applied in
        offset order (the worker does). The timestamp must not be newer either, so a topic
        deleted and created again (offsets from 0, new timestamps) is not mistaken for one.
        """
        state = state if state is not None else self.new_state()
        event_id = event.event_id or ""
        digest = event_digest(event_id)
        if state.seen.find(digest) >= 0 and seen_before(state.seen, digest):  # found anywhere, then aligned?
            return Step(state, [], [], [], True)
        pos = state.pos
        if source is not None:
            applied = pos.get(source[0])
            if applied is not None and source[1] <= applied[0] and source[2] <= applied[1]:
                return Step(state, [], [], [], True)
            pos = {k: v for k, v in pos.items() if k != source[0]}
            pos[source[0]] = (source[1], source[2])
            if len(pos) > MAX_SOURCES:  # partitions were added: the oldest-applied source goes
                del pos[next(iter(pos))]
        if self.enrich is not None and type(event) in self._enriched:
            event = self.enrich(event)
        when = event.ts.timestamp()
        last = state.last
        ctx = Context(self.org, employee, last - when > self._late_s, last or None, when)
        det = state.det
        copied = False
        signals: list[Signal] = []
        observations: list[KeyObservation] = []
        errors: list[DetectorError] = []
        event_type = type(event)
        for detector_id, observe in self._observers.get(event_type, ()):
            current = det.get(detector_id)
            try:
                new, raised = observe(event, current, ctx)
            except Exception as exc:  # noqa: BLE001 — isolation is the point; the driver counts and logs it
                errors.append(DetectorError(detector_id, "observe", f"{type(exc).__name__}: {exc}"))
                continue
            if new is not current:
                if not copied:  # copy-on-write: most events leave most detector states as they were
                    det = dict(det)
                    copied = True
                det[detector_id] = new
            if raised:
                signals += raised
        for detector_id, correlation_keys in self._correlators_by_type.get(event_type, ()):
            try:
                keys = correlation_keys(event, det.get(detector_id), ctx)
            except Exception as exc:  # noqa: BLE001
                errors.append(DetectorError(detector_id, "keys", f"{type(exc).__name__}: {exc}"))
                continue
            for kind, value in keys:
                observations.append(KeyObservation(detector_id, kind, value, event.employee_id, when, event_id))
        new_state = replace(state, last=when if when > last else last, seen=state.seen[-_SEEN_KEEP:] + digest, det=det,
                            pos=pos)
        return Step(new_state, signals, observations, errors, False, when)

    # Per correlation key -------------------------------------------------------------------
    def correlate(self, observation: KeyObservation,
                  key_state: Any) -> tuple[Any, list[Signal], list[DetectorError]]:
        hooks = self._key_hooks.get(observation.detector)
        if hooks is None:
            return key_state, [], []
        correlate, initial_key_state = hooks
        if key_state is None:
            key_state = initial_key_state()
        try:
            new, signals = correlate(observation, key_state)
        except Exception as exc:  # noqa: BLE001
            error = DetectorError(observation.detector, "correlate", f"{type(exc).__name__}: {exc}")
            return key_state, [], [error]
        return new, signals, []

    # Fusion ----------------------------------------------------------------------------------
    def fuse(self, state: EmployeeState, signals: list[Signal], employee_id: str) -> tuple[EmployeeState, list[CaseChange]]:
        if not signals or employee_id in self.allowlisted_employees:
            return state, []
        fusion, changes = self.fusion.add(state.fusion, signals, employee_id)
        return (replace(state, fusion=fusion) if fusion is not state.fusion else state), changes

    def sweep(self, state: EmployeeState, now: float, employee_id: str) -> tuple[EmployeeState, list[CaseChange]]:
        fusion, changes = self.fusion.sweep(state.fusion, now, employee_id)
        return (replace(state, fusion=fusion) if fusion is not state.fusion else state), changes

    # Serialisation (versioned msgpack of plain values; never pickle) --------------------------
    def encode_state(self, state: EmployeeState) -> bytes:
        return msgspec.msgpack.encode(state)

    def decode_state(self, data: bytes) -> EmployeeState:
        version = msgspec.msgpack.decode(data, type=_StateVersion).v  # first: older layouts differ after it
        if version in (STATE_VERSION, 2):  # 2 ends before `pos`, which then decodes empty
            raw = msgspec.msgpack.decode(data, type=_RawEmployeeState)
        elif version == 1:  # a changelog written before the upgrade: converted exactly, so duplicates stay known
            old = msgspec.msgpack.decode(data, type=_RawEmployeeStateV1)
            seen = b"".join(digest.to_bytes(DIGEST_BYTES, "big", signed=True) for digest in old.seen)
            raw = _RawEmployeeState(STATE_VERSION, old.last, seen, old.det, old.fusion, {})
        else:
            raise ValueError(f"employee state version {version} is not supported (expected {STATE_VERSION}, 2 or 1)")
        det: dict[str, Any] = {}
        for detector_id, value in raw.det.items():
            detector = self.by_id.get(detector_id)
            if detector is not None and detector.State is not None:
                det[detector_id] = msgspec.msgpack.decode(value, type=detector.State)
        for detector in self.detectors:  # detectors enabled since the state was written start fresh
            if detector.State is not None and detector.id not in det:
                det[detector.id] = detector.initial_state()
        return EmployeeState(v=STATE_VERSION, last=raw.last, seen=raw.seen, det=det, fusion=raw.fusion, pos=raw.pos)

    def encode_key_state(self, state: Any) -> bytes:
        return msgspec.msgpack.encode(state)

    def decode_key_state(self, detector_id: str, data: bytes) -> Any:
        return msgspec.msgpack.decode(data, type=self.by_id[detector_id].KeyState)


class _StateVersion(msgspec.Struct, array_like=True):
    v: int


class _RawEmployeeState(msgspec.Struct, array_like=True):
    v: int
    last: float
    seen: bytes
    det: dict[str, msgspec.Raw]
    fusion: FusionState
    pos: dict[int, tuple[int, int]] = {}


class _RawEmployeeStateV1(msgspec.Struct, array_like=True):
    """Version 1: `seen` held each digest as a signed big-endian 64-bit int."""

    v: int
    last: float
    seen: list[int]
    det: dict[str, msgspec.Raw]
    fusion: FusionState
