"""The laptop farm: several employees' devices on one home network, outside the organisation's own.

A facilitator keeps many company laptops in one house (the Arizona host of 2024 ran
over 90; the Nashville one several), so their telemetry shares the home's public IP, its
Wi-Fi BSSID and its gateway (router) MAC. telltales keeps, per key value, the employees
seen on it within `retention.correlation_window_hours` (72 h by default) and addresses a
signal to every one of them once `min_employees` (3) distinct employees share it — a
couple or two housemates who both work here (a household of two) do not fire by default.
The signal carries a group id derived from the key, so the findings of one farm link.

Strength = kind × size (weight 0.7):
- kind: a BSSID or gateway MAC is layer-2 evidence — the devices were within radio range
  of one access point or on one LAN — 0.9; a public IP alone is 0.5, because carrier-grade
  NAT (mobile and fixed-wireless carriers), universities and hotels put strangers behind
  one address. A farm shows up on all three at once and fusion keeps the detector's
  strongest signal, so "same IP and same BSSID" scores as BSSID (0.9) while IP-only
  evidence stays at 0.5.
- size: 0.75 at `min_employees`, +0.1 per extra employee, 1.0 from six: each extra
  laptop makes a coincidence less likely.
- a key with `venue_size` (16) or more employees is scored half: no residence holds that
  many of one organisation's laptops, but an office or venue missing from the
  configuration does (list it under `networks.office` or `allowlists.ips`).
So three laptops on one Wi-Fi add 47 risk (a case with one more weak tell), six add 63.

Visitors are not members: each employee's usual public networks are learned (`Habits`),
and a sighting on a network that is not their main one (the most used, or at least
`resident_share` of their sightings, once `min_history` are known) adds no key — a team sharing a hotel's Wi-Fi
at an offsite is a group of visitors; a farm's laptops are at home there.

Not keys: office, organisation VPN-egress and allowlisted addresses (correlation_keys
returns nothing for them, nor for the layer-2 ids seen with them: an office BSSID is not
a home); private, CGNAT-range and loopback addresses; failed logins (a password spray
touches many accounts from one address); logins through an anonymizer (a commercial VPN
exit is shared by strangers by design; the anonymizer detector reports it); generic
router MACs (VRRP/HSRP virtual MACs, virtual-machine NAT gateways). Layer-2 ids are used
only from snapshots that also report a public IP outside the organisation, so an office
BSSID seen without its address cannot pose as a home.

Per key value the state is the bounded, time-ordered set of employees and their last
sighting (`Members`, at most `max_employees`, the oldest evicted), plus the time of the
last report: re-applying an observation changes nothing; signals go out when the group
reaches the threshold, when someone joins it, and at most every `refresh_hours` while it lasts.
"""

from __future__ import annotations

import hashlib
import ipaddress
import zlib
from typing import ClassVar, Final

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import DeviceSnapshot, VpnLogin

from .base import Context, Detector, KeyObservation, Networks, Signal, parse_address

MEMO_SIZE: Final = 65_536
MAX_HABITS: Final = 4
HABIT_TOTAL: Final = 64
RESOLUTION_S: Final = 1800.0  # a member's last sighting is refreshed at most every half hour
LOCAL_NETWORKS: Final = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"))
_LOCAL: Final = Networks(LOCAL_NETWORKS)
# Router MACs many unrelated networks share: VRRP (00:00:5e:00:01/02), HSRP v1/v2, the
# QEMU/VirtualBox user-mode NAT gateway, all-zero and broadcast.
GENERIC_MAC_PREFIXES: Final = ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "00:00:5e:00:01:", "00:00:5e:00:02:",
                               "00:00:0c:07:ac:", "00:00:0c:9f:f", "52:54:00:12:35:")
STRENGTH: Final = {"public_ip": 0.5, "bssid": 0.9, "gateway_mac": 0.9}
LABEL: Final = {"public_ip": "public IP", "bssid": "Wi-Fi BSSID", "gateway_mac": "gateway MAC"}


class Members(msgspec.Struct, frozen=True, array_like=True):
    """Employees seen on one correlation key value lately, oldest sighting first, and the last report.

    msgpack size ≤ 16 × (len(employee id) + 7) + 8 bytes: about 300 bytes for 10-character ids.
    """

    ids: list[str] = []
    last: list[int] = []  # epoch s of each employee's newest sighting, ascending
    reported: int = 0     # event time of the last signals sent for this key


class Habits(msgspec.Struct, frozen=True, array_like=True):
    """The public networks one employee is usually on: CRC-32 of the address → sightings (≤ 4, ≤ 40 bytes).

    Counts halve when they pass 64 in all, so the habit follows a move within a couple of weeks.
    """

    nets: list[int] = []
    cnt: list[int] = []


Fold = tuple[Members, int, bool]


def fold_member(state: Members, employee_id: str, when: float, window_s: float, cap: int,
                resolution_s: float = 0.0) -> Fold | None:
    """Add one sighting to a key's members; None when it adds nothing (already known at that time, or too old).

    Otherwise (new state, live employees on the key before this sighting — itself included
    if already live —, whether the employee was not live on the key before): a plain
    tuple, as one is built for most sightings.

    Members not seen within `window_s` of the newest sighting are dropped; beyond `cap`
    the oldest are evicted. A member's sighting less than `resolution_s` after its last
    one adds nothing (hours-long windows need no finer clock; it keeps the hot path a
    lookup). Deterministic and idempotent: folding the same sighting twice gives an equal state.

    >>> s, before, newcomer = fold_member(Members(), "e1", 1000.0, 3600.0, 16)
    >>> s, before, newcomer = fold_member(s, "e2", 2000.0, 3600.0, 16)
    >>> s.ids, before, newcomer, fold_member(s, "e2", 2000.0, 3600.0, 16)
    (['e1', 'e2'], 1, True, None)
    >>> fold_member(s, "e3", 9000.0, 3600.0, 16)[0].ids  # e1 and e2 left the window
    ['e3']
    """
    now = int(when)
    ids, last = state.ids, state.last
    # Fast path for most keys: one's own device or home network, with no member but this
    # employee (or none yet). Same result as the general path below, without its sort.
    if not ids or (len(ids) == 1 and ids[0] == employee_id):
        newcomer = True
        if ids:
            then = last[0]
            if now <= then or now - then < resolution_s:
                return None
            newcomer = then < now - window_s
        return Members([employee_id], [now], state.reported), 0 if newcomer else 1, newcomer
    try:
        i = ids.index(employee_id)
    except ValueError:
        i = -1
    if i >= 0 and (now <= last[i] or now - last[i] < resolution_s):
        return None
    horizon = max(now, last[-1] if last else now) - window_s
    if now < horizon:
        return None
    newcomer = i < 0 or last[i] < horizon
    live = [(t, e) for t, e in zip(last, ids) if t >= horizon and e != employee_id]
    before = len(live) + (0 if newcomer else 1)
    live.append((now, employee_id))
    live.sort()
    del live[:-cap]
    return Members([e for _, e in live], [t for t, _ in live], state.reported), before, newcomer


def fold_report(state: Members, observation: KeyObservation, window_s: float, cap: int, k: int,
                refresh_s: float) -> tuple[Members, bool]:
    """Fold one sighting into a key's members (`fold_member`, at `RESOLUTION_S`); (new state, report?).

    Report when the live group has at least `k` members, this employee among them, and the
    group just reached `k`, someone joined it, or `refresh_s` passed since the last report;
    `reported` then moves to this sighting. The correlators of `shared_infrastructure` and
    `device_identity` differ only in `k` and in the signals they build.

    >>> s, report = fold_report(Members(), KeyObservation("d", "k", "v", "e1", 1000.0, ""), 3600.0, 16, 2, 600.0)
    >>> s.ids, report, fold_report(s, KeyObservation("d", "k", "v", "e2", 1100.0, ""), 3600.0, 16, 2, 600.0)[1]
    (['e1'], False, True)
    """
    employee_id = observation.employee_id
    ids = state.ids
    if k > 1 and (not ids or (len(ids) == 1 and ids[0] == employee_id)):
        # Most keys: one's own device or home network. A lone member is never reported: only
        # refresh its sighting (`fold_member`'s fast path, without the group bookkeeping).
        now = int(observation.time)
        if ids and (now <= state.last[0] or now - state.last[0] < RESOLUTION_S):
            return state, False
        return Members([employee_id], [now], state.reported), False
    fold = fold_member(state, employee_id, observation.time, window_s, cap, RESOLUTION_S)
    if fold is None:
        return state, False
    new, before, newcomer = fold
    if len(new.ids) < k or employee_id not in new.ids:
        return new, False
    now = int(observation.time)
    if before >= k and not newcomer and now - state.reported < refresh_s:
        return new, False
    return replace(new, reported=max(state.reported, now)), True


def group_id(prefix: str, kind: str, value: str) -> str:
    """A stable, short group id for the employees linked by one key value."""
    return f"{prefix}-{hashlib.blake2b(f'{kind}:{value}'.encode(), digest_size=5).hexdigest()}"


class SharedInfrastructure(Detector):
    id = "shared_infrastructure"
    title = "Several employees on one home network (laptop farm)"
    description = __doc__
    severity = "high"
    weight = 0.7
    attacks = ("T1219", "T1078", "T1090")
    runbook = ("List the linked employees and their claimed homes; a residence cannot be home to all of them — "
               "ask each to confirm their location and the device's, and check their hiring and payroll records.")
    status = "stable"
    event_types = ("vpn_login", "device_snapshot")
    key_kinds = ("public_ip", "bssid", "gateway_mac")
    State = Habits
    KeyState = Members
    max_state_bytes = 128  # Habits ≤ 40 bytes; the key state is bounded by 8 × this (see Members)
    params: ClassVar = {"min_employees": 3, "max_employees": 16, "venue_size": 16, "venue_factor": 0.5,
                        "size_step": 0.1, "skip_anonymized": True, "refresh_hours": 6.0,
                        "min_history": 8, "resident_share": 0.5}

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        self._k = int(self.p["min_employees"])
        self._cap = int(self.p["max_employees"])
        self._window_s = float(org.correlation_window_s)
        self._refresh_s = float(self.p["refresh_hours"]) * 3600.0
        self._homes: dict[str, int] = {}  # a cache, not state: see `_home_digest`
        self._skip_anonymized = bool(self.p["skip_anonymized"])
        self._min_history, self._resident_share = self.p["min_history"], self.p["resident_share"]

    def _address(self, event: VpnLogin | DeviceSnapshot) -> str | None:
        """The public address the event reports, unless a failed or anonymized login says nothing about a home."""
        if type(event) is VpnLogin:
            if event.outcome != "success" or (event.anonymizer is not None and self._skip_anonymized):
                return None
            return event.src_ip
        return event.public_ip

    def observe(self, event: VpnLogin | DeviceSnapshot, state: Habits, ctx: Context) -> tuple[Habits, list[Signal]]:
        """Learn which networks are the employee's own; no signals (those come from `correlate`)."""
        ip = self._address(event)
        if ip is None or ctx.late:
            return state, []
        digest = self._homes.get(ip)
        if digest is None:
            digest = self._home_digest(ip)
        if digest < 0:
            return state, []
        nets, cnt = list(state.nets), list(state.cnt)
        if digest in nets:
            cnt[nets.index(digest)] += 1
        elif len(nets) < MAX_HABITS:
            nets.append(digest)
            cnt.append(1)
        else:  # replace the least used network
            i = cnt.index(min(cnt))
            nets[i], cnt[i] = digest, 1
        if sum(cnt) > HABIT_TOTAL:
            cnt = [(c + 1) // 2 for c in cnt]
        return Habits(nets, cnt), []

    def _resident(self, digest: int, state: Habits | None) -> bool:
        """Is this network (`_home_digest`) one of the employee's usual ones (or too little known to tell)?

        A team at a hotel for a conference shares its Wi-Fi for days; each of them has a home
        network they use far more. A farm's laptops live on the farm's network. A new
        employee with little history gets the benefit of the doubt: farms are new hires.
        """
        if state is None:
            return True
        total = sum(state.cnt)
        if total < self._min_history:
            return True
        if digest not in state.nets:
            return False
        count = state.cnt[state.nets.index(digest)]
        return count == max(state.cnt) or count >= self._resident_share * total

    def correlation_keys(self, event: VpnLogin | DeviceSnapshot, state: Habits | None,
                         ctx: Context) -> list[tuple[str, str]]:
        ip = self._address(event)
        if ip is None:
            return []
        digest = self._homes.get(ip)
        if digest is None:
            digest = self._home_digest(ip)
        if digest < 0 or not self._resident(digest, state):
            return []
        if isinstance(event, VpnLogin):
            return [("public_ip", ip)]
        keys = [("public_ip", ip)]
        wifi = event.wifi
        if wifi is not None and wifi.bssid is not None and not _generic_mac(wifi.bssid):
            keys.append(("bssid", wifi.bssid))
        if event.gateway_mac is not None and not _generic_mac(event.gateway_mac):
            keys.append(("gateway_mac", event.gateway_mac))
        return keys

    def correlate(self, observation: KeyObservation, state: Members) -> tuple[Members, list[Signal]]:
        new, report = fold_report(state, observation, self._window_s, self._cap, self._k, self._refresh_s)
        if not report:
            return new, []
        size = len(new.ids)
        kind, value = observation.kind, observation.value
        venue = size >= self.p["venue_size"]
        score = STRENGTH.get(kind, 0.5) * min(1.0, 0.75 + self.p["size_step"] * (size - self._k))
        if venue:
            score *= self.p["venue_factor"]
        employees = list(reversed(new.ids))  # newest first
        window_h = round(self._window_s / 3600.0, 1)
        summary = (f"{size}{'+' if venue else ''} employees on one {LABEL.get(kind, kind)} {value} within "
                   f"{window_h:g} h, outside the organisation's networks: {', '.join(employees[:8])}"
                   f"{' …' if size > 8 else ''}")
        if venue:
            summary += " (as many as an office or venue: is this network missing from the configuration?)"
        group = group_id("farm", kind, value)
        data = {"key": kind, "value": value, "employees": employees, "count": size, "window_h": window_h}
        event_ids = (observation.event_id,) if observation.event_id else ()
        return new, [Signal(detector=self.id, employee_id=e, time=observation.time, score=score, summary=summary,
                            data=data, event_ids=event_ids, group=group) for e in employees]

    def _home_digest(self, ip: str) -> int:
        """CRC-32 of a public address outside the organisation's office, VPN-egress and allowlisted
        networks (one that can be a home), or -1 for any other; memoised in `_homes`, which callers
        read first (addresses repeat: the lookup inline saves a call per event)."""
        digest = zlib.crc32(ip.encode()) if self.org.network_of(ip) is None and not _is_local(ip) else -1
        if len(self._homes) >= MEMO_SIZE:
            self._homes.clear()
        self._homes[ip] = digest
        return digest


def _is_local(ip: str) -> bool:
    address = parse_address(ip)
    return True if address is None else _LOCAL.holds(address)


def _generic_mac(mac: str) -> bool:
    # An odd first octet has the multicast bit set: a group address, never a router's own.
    return mac.startswith(GENERIC_MAC_PREFIXES) or mac[1] in "13579bdf"
