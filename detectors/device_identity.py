"""Who is behind the account: a new device, activity after leaving, and devices or MFA shared across employees.

Per employee (weight 0.7):
- a device never seen for this employee and not in the directory's `devices`: weak,
  0.25 (people replace laptops and add phones); 0.35 when the directory lists the
  employee's devices and this is not one of them. After `dormant_days` (7) without any
  activity it is 0.6: the "dormant account suddenly active on a new device" pattern of
  account takeover and of identities handed to someone else (CISA/FBI advisories on
  dormant accounts, e.g. AA22-074A). Seven days is longer than a week's holiday ended
  on the usual laptop, which this does not flag: returning on a known device is normal.
  The first device of an employee with no history and no directory list is learnt
  silently; late events (`ctx.late`) teach devices but never raise "new" from the wrong order.
  A new device stays new while it is used during its first `fresh_hours` (120): each use
  re-raises the tell (at most every `refresh_hours`) with its first score, so the evidence
  does not decay while the condition lasts — a hijacker's new laptop is still unexplained
  when the sustained tells about where it is have built up. home_mismatch needs logins
  on three different far days to rule out a trip; three working days with a weekend
  between them (Friday, Monday, Tuesday) span five calendar days, hence 120 hours.
  Only the newest new device is followed.
- activity while the directory says `status: terminated`: 1.0 (70 risk, a case on its
  own: a leaver's account or unreturned laptop is in use); during `leave`: 0.5. A failed
  login counts half. Events older than the record's `updated_at` are not judged by it.

Across employees (`key_kinds` device_id, mfa_device; window `retention.correlation_window_hours`):
- one device id reporting for several employees: 0.5 for two, 0.8 for three or more —
  operators of several identities work from one machine; company laptops are reassigned,
  but after a wipe that takes longer than the window. Shared hosts (VDI, kiosks) belong
  in `shared_devices`.
- one MFA device approving logins of several employees: 0.7 for two, 0.9 for three or
  more (63 risk, a case on its own) — an MFA authenticator belongs to one person; one
  phone holding the factors of several accounts is someone operating all of them.
Device ids come from logins, snapshots and inbound sessions (an outbound session's id may
name the server reached). Signals go to every employee involved, with a group id so their
findings link. Per key value the state is the bounded member set shared with
`shared_infrastructure` (`Members`): idempotent, at most `max_employees` remembered (the
oldest evicted), re-reported at most every `refresh_hours` unless someone new joins.
"""

from __future__ import annotations

import zlib
from typing import ClassVar, Final

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import DeviceSnapshot, Employee, RemoteSession, VpnLogin

from .base import Context, Detector, KeyObservation, Signal
from .shared_infrastructure import Members, fold_report, group_id

MAX_DEVICES: Final = 8   # device identifiers remembered per employee (a device has up to two: id and hostname)
KEEP_ORDER: Final = 4    # the newest this many identifiers are not reordered on use (fewer state writes)
MEMO_SIZE: Final = 65_536
KIND_LABEL: Final = {"device_id": "Device", "mfa_device": "MFA device"}


class State(msgspec.Struct, frozen=True, array_like=True):
    """Device identifiers seen for the employee and the last status report (≤ 8 ids: under 60 bytes)."""

    devices: list[int] = []  # crc32 of lower-cased device ids and hostnames, least recently used first
    status_at: int = 0       # event time of the last terminated/leave signal
    fresh: list[int] = []    # the newest new device: [crc32, first seen, last raised (epoch s), score × 100]


class DeviceIdentity(Detector):
    id = "device_identity"
    title = "New, shared or out-of-status device use"
    description = __doc__
    severity = "medium"
    weight = 0.7
    attacks = ("T1078", "T1133")
    runbook = ("Confirm the device or MFA enrolment with the employee through a known-good channel; for a leaver "
               "or a shared authenticator, revoke the account's sessions and involve HR and IT asset records.")
    status = "stable"
    event_types = ("vpn_login", "remote_session", "device_snapshot")
    key_kinds = ("device_id", "mfa_device")
    State = State
    KeyState = Members
    max_state_bytes = 128
    params: ClassVar = {
        "new_device_score": 0.25, "unlisted_device_score": 0.35, "dormant_new_device_score": 0.6,
        "dormant_days": 7.0, "terminated_score": 1.0, "leave_score": 0.5, "failed_login_factor": 0.5,
        "shared_device_pair_score": 0.5, "shared_device_group_score": 0.8,
        "shared_mfa_pair_score": 0.7, "shared_mfa_group_score": 0.9,
        "max_employees": 16, "refresh_hours": 6.0, "fresh_hours": 120.0, "shared_devices": [],
    }

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        self._dormant_s = float(self.p["dormant_days"]) * 86400.0
        self._refresh_s = float(self.p["refresh_hours"]) * 3600.0
        self._fresh_s = float(self.p["fresh_hours"]) * 3600.0
        self._window_s = float(org.correlation_window_s)
        self._cap = int(self.p["max_employees"])
        self._shared = frozenset(self.p["shared_devices"])
        self._digests: dict[str, int] = {}  # a cache, not state: device name → its digest
        # kind → (score for two employees, score for three or more)
        self._scores = {"device_id": (self.p["shared_device_pair_score"], self.p["shared_device_group_score"]),
                        "mfa_device": (self.p["shared_mfa_pair_score"], self.p["shared_mfa_group_score"])}

    # Per employee ---------------------------------------------------------------------------
    def observe(self, event: VpnLogin | RemoteSession | DeviceSnapshot, state: State,
                ctx: Context) -> tuple[State, list[Signal]]:
        signals: list[Signal] = []
        employee = ctx.employee
        if employee is not None and employee.status != "active":
            state = self._status(event, state, employee, signals)
        # Only a session can name another machine (`_own_device`): other events skip the call.
        device_id = event.device_id if type(event) is not RemoteSession else _own_device(event)
        names = [device_id] if device_id else []
        if isinstance(event, DeviceSnapshot) and event.hostname:
            names.append(event.hostname)
        if names:
            state = self._device(event, state, ctx, names, signals)
        if len(signals) > 1:
            signals = [self._together(event, signals)]
        return state, signals

    def _together(self, event, signals: list[Signal]) -> Signal:
        """Tells seen in one event corroborate each other (a new device *and* activity during leave):
        fusion keeps one signal per detector, so they combine here, like independent evidence."""
        miss = 1.0
        data: dict = {}
        for signal in signals:
            miss *= 1.0 - signal.score
            data.update(signal.data)
        return self.signal(event, 1.0 - miss, "; ".join(s.summary for s in signals), **data)

    def _status(self, event, state: State, employee: Employee, signals: list[Signal]) -> State:
        now = int(event.ts.timestamp())
        if employee.updated_at is not None and now < employee.updated_at.timestamp():
            return state  # the event may predate the status change
        if state.status_at and now - state.status_at < self._refresh_s:
            return state
        terminated = employee.status == "terminated"
        score = self.p["terminated_score"] if terminated else self.p["leave_score"]
        what = "activity"
        if isinstance(event, VpnLogin):
            what = f"{event.outcome} VPN login from {event.src_ip}"
            if event.outcome == "failure":
                score *= self.p["failed_login_factor"]
        elif isinstance(event, RemoteSession):
            what = f"{event.tool} remote session"
        elif isinstance(event, DeviceSnapshot):
            what = f"device {event.hostname or event.device_id} reporting" if event.hostname or event.device_id \
                else "device reporting"
        since = f" since {employee.updated_at.isoformat()}" if employee.updated_at is not None else ""
        data = {"status": employee.status}
        if event.device_id is not None:
            data["device_id"] = event.device_id
        signals.append(self.signal(event, score, f"{what[:1].upper()}{what[1:]} while the directory says "
                                                 f"'{employee.status}'{since}", **data))
        return replace(state, status_at=now)

    def _device(self, event, state: State, ctx: Context, names: list[str], signals: list[Signal]) -> State:
        known = state.devices
        memo = self._digests
        digests: list[int] = []
        positions: list[int] = []
        for name in names:  # one or two names: a loop, not comprehensions (each a call of its own in 3.11)
            digest = memo.get(name) or self._digest(name)
            digests.append(digest)
            if digest in known:
                positions.append(known.index(digest))
        if positions:
            if state.fresh and state.fresh[0] in digests and not ctx.late:
                state = self._still_new(event, state, names, signals)
            if min(positions) >= len(known) - KEEP_ORDER:
                return state
            return replace(state, devices=self._learn(known, digests))
        employee = ctx.employee
        listed_devices = employee.devices if employee is not None and employee.devices else None
        if listed_devices is not None and not {d.lower() for d in listed_devices}.isdisjoint(
                n.lower() for n in names):
            return replace(state, devices=self._learn(known, digests))
        if not ctx.late and (known or listed_devices):
            now = event.ts.timestamp()
            gap_days = (now - ctx.last_time) / 86400.0 if ctx.last_time is not None else None
            dormant = ctx.last_time is not None and now - ctx.last_time >= self._dormant_s
            score = self.p["unlisted_device_score"] if listed_devices else self.p["new_device_score"]
            label = " / ".join(names)
            summary = f"New device {label} for this employee"
            if listed_devices:
                summary += f", not among the {len(listed_devices)} devices the directory lists"
            if dormant:
                score = max(score, self.p["dormant_new_device_score"])
                summary += f", first activity after {gap_days:.1f} days of silence"
            data = {"device_id": event.device_id, "known_devices": len(known) if known else 0,
                    "listed_devices": len(listed_devices) if listed_devices else 0}
            if isinstance(event, DeviceSnapshot) and event.hostname:
                data["hostname"] = event.hostname
            if gap_days is not None:
                data["idle_days"] = round(gap_days, 1)
            signals.append(self.signal(event, score, summary, **{k: v for k, v in data.items() if v is not None}))
            now_s = int(now)
            return replace(state, devices=self._learn(known, digests),
                           fresh=[digests[0], now_s, now_s, round(score * 100)])
        return replace(state, devices=self._learn(known, digests))

    def _digest(self, name: str) -> int:
        """CRC-32 of a lower-cased device name, memoised: an employee's one or two names recur in every event."""
        if len(self._digests) >= MEMO_SIZE:
            self._digests.clear()
        digest = self._digests[name] = zlib.crc32(name.lower().encode())
        return digest

    def _still_new(self, event, state: State, names: list[str], signals: list[Signal]) -> State:
        """Re-raise the newest new device's tell while it is in use within `fresh_hours` of its first sighting."""
        digest, first, raised, score = state.fresh
        now = int(event.ts.timestamp())
        if now - first > self._fresh_s:
            return replace(state, fresh=[])
        if now - raised < self._refresh_s:
            return state
        hours = (now - first) / 3600.0
        data = {"first_seen_h": round(hours, 1)}
        if event.device_id is not None:
            data["device_id"] = event.device_id
        signals.append(self.signal(event, score / 100.0,
                                   f"New device {' / '.join(names)} (first seen {hours:.0f} h ago) still in use",
                                   **data))
        return replace(state, fresh=[digest, first, now, score])

    @staticmethod
    def _learn(known: list[int], digests: list[int]) -> list[int]:
        devices = [d for d in known if d not in digests]
        devices.extend(dict.fromkeys(digests))
        return devices[-MAX_DEVICES:]

    # Across employees -------------------------------------------------------------------------
    def correlation_keys(self, event: VpnLogin | RemoteSession | DeviceSnapshot, state: State | None,
                         ctx: Context) -> list[tuple[str, str]]:
        keys = []
        device_id = event.device_id if type(event) is not RemoteSession else _own_device(event)
        if device_id is not None and device_id not in self._shared:
            keys.append(("device_id", device_id))
        if isinstance(event, VpnLogin) and event.mfa is not None and event.mfa.device_id is not None \
                and event.outcome == "success":
            keys.append(("mfa_device", event.mfa.device_id))
        return keys

    def correlate(self, observation: KeyObservation, state: Members) -> tuple[Members, list[Signal]]:
        new, report = fold_report(state, observation, self._window_s, self._cap, 2, self._refresh_s)
        if not report:
            return new, []
        size = len(new.ids)
        kind, value = observation.kind, observation.value
        pair, group = self._scores.get(kind, self._scores["device_id"])
        score = pair if size == 2 else group
        employees = list(reversed(new.ids))  # newest first
        window_h = round(self._window_s / 3600.0, 1)
        verb = "approved logins for" if kind == "mfa_device" else "used by"
        summary = (f"{KIND_LABEL.get(kind, kind)} {value} {verb} {size} employees within {window_h:g} h: "
                   f"{', '.join(employees[:8])}{' …' if size > 8 else ''}")
        data = {"key": kind, "value": value, "employees": employees, "count": size, "window_h": window_h}
        event_ids = (observation.event_id,) if observation.event_id else ()
        group = group_id("shared", kind, value)
        return new, [Signal(detector=self.id, employee_id=e, time=observation.time, score=score, summary=summary,
                            data=data, event_ids=event_ids, group=group) for e in employees]


def _own_device(event: VpnLogin | RemoteSession | DeviceSnapshot) -> str | None:
    """The employee's own device id, if the event names it.

    An outbound session's `device_id` may be the server reached (SSH and remote-desktop
    gateways report sessions from their side), so many engineers would seem to share it and
    every new server would look like a new device: only inbound sessions, which run on the
    employee's device, count.
    """
    if isinstance(event, RemoteSession) and event.direction != "inbound":
        return None
    return event.device_id
