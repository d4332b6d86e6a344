"""The detector contract: metadata, signals, per-employee and per-key state, and what a detector may see.

A detector is one module in `detectors/` defining one subclass of `Detector` (found by
the registry). It is pure: it reads a typed event, its own small state and the read-only
context, and returns its new state and the signals it raises. No I/O, no clock, no
logging. Its state is a frozen msgspec Struct of plain values (serialised as msgpack,
never pickle) with a documented size bound.

Cross-employee detectors also declare correlation keys (public IP, Wi-Fi BSSID, gateway
MAC, device id, MFA device id): `correlation_keys` names the key values an event shows,
and `correlate` keeps a small state per key value and returns signals addressed to
employee ids. Replay runs both in one process; the Kafka worker repartitions by key.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Iterable, Literal, Mapping

import msgspec

from telltales.schemas.config import Config, VantagePoint
from telltales.schemas.events import Employee, Event

Status = Literal["stable", "experimental", "shadow"]
Severity = Literal["informational", "low", "medium", "high", "critical"]

KEY_KINDS: Final = ("public_ip", "bssid", "gateway_mac", "device_id", "mfa_device")
NETWORK_MEMO_SIZE: Final = 65_536


class Signal(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One piece of evidence a detector raises about one employee.

    `score` in [0, 1] is how strongly this observation supports the detector's claim;
    fusion multiplies it by the detector's weight. `data` holds the observed values an
    analyst needs (IPs, device, tool, latency numbers), as plain JSON values.
    """

    detector: str
    employee_id: str
    time: float  # event time of the evidence, epoch seconds
    score: float
    summary: str
    data: dict[str, Any] = {}
    event_ids: tuple[str, ...] = ()
    group: str | None = None  # shared-infrastructure group (one laptop farm) the employee belongs to


class KeyObservation(msgspec.Struct, frozen=True, array_like=True):
    """An employee was seen using a correlation key value at an event time (travels on a repartition topic).

    Positional arguments are allowed: the engine builds one or two per event (keywords cost ~10% more).
    """

    detector: str
    kind: str
    value: str
    employee_id: str
    time: float
    event_id: str


def parse_address(ip: str) -> tuple[int, int] | None:
    """(version, integer value) of an IP address, or None if `ip` is not one: the verdicts of
    `ipaddress.ip_address`, parsed in C (`socket.inet_pton`) where it can be, ~10x cheaper.

    >>> parse_address("10.0.0.1"), parse_address("::1"), parse_address("fe80::1%eth0"), parse_address("01.2.3.4")
    ((4, 167772161), (6, 1), (6, 338288524927261089654018896841347694593), None)
    """
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except (OSError, ValueError):
        pass
    try:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
    except (OSError, ValueError):
        pass
    try:  # what inet_pton refuses but ipaddress takes: IPv6 zone ids ("fe80::1%eth0")
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return address.version, int(address)


class Networks:
    """A set of IP networks tested with integer masks (`ipaddress` tests each network in Python, ~1 µs).

    >>> Networks([ipaddress.ip_network("10.0.0.0/8")]).holds(parse_address("10.1.2.3"))
    True
    """

    __slots__ = ("_v4", "_v6")

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        networks = tuple(networks)
        self._v4 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 4)
        self._v6 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 6)

    def holds(self, address: tuple[int, int]) -> bool:
        """Is the parsed address (`parse_address`) in one of the networks? (A v4 address is never in a v6 one.)"""
        version, value = address
        for network, mask in self._v4 if version == 4 else self._v6:
            if value & mask == network:
                return True
        return False


@dataclass(frozen=True)
class Org:
    """What detectors know about the organisation, built once from the config. Read-only."""

    vantage_points: Mapping[str, VantagePoint] = field(default_factory=dict)
    office_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    vpn_egress_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allowlisted_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    approved_tools: frozenset[str] = frozenset()
    late_tolerance_s: float = 3600.0
    correlation_window_s: float = 72 * 3600.0
    # A cache, not state: a pure function of the networks above and the address.
    _network_memo: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)
    _tables: tuple[tuple[str, Networks], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tables", (("office", Networks(self.office_networks)),
                                             ("vpn_egress", Networks(self.vpn_egress_networks)),
                                             ("allowlisted", Networks(self.allowlisted_networks))))

    @classmethod
    def from_config(cls, config: Config) -> Org:
        from telltales.schemas.vocabulary import canonical_tool

        def nets(cidrs: list[str]):
            return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)

        return cls(
            vantage_points=dict(config.vantage_points),
            office_networks=nets(config.networks.office),
            vpn_egress_networks=nets(config.networks.vpn_egress),
            allowlisted_networks=nets(config.allowlists.ips),
            approved_tools=frozenset(canonical_tool(t) for t in config.allowlists.remote_tools),
            late_tolerance_s=config.decode.late_tolerance_s,
            correlation_window_s=config.retention.correlation_window_hours * 3600.0,
        )

    def network_of(self, ip: str | None) -> str | None:
        """"office", "vpn_egress", "allowlisted" or None for an address outside the organisation's own networks.

        Memoised per address (addresses repeat; parsing one costs ~3 µs), bounded, and free
        when the organisation configured no networks.

        >>> org = Org(office_networks=(ipaddress.ip_network("198.51.100.0/24"),))
        >>> org.network_of("198.51.100.7"), org.network_of("203.0.113.1"), org.network_of(None)
        ('office', None, None)
        """
        if ip is None or not (self.office_networks or self.vpn_egress_networks or self.allowlisted_networks):
            return None
        memo = self._network_memo
        try:
            return memo[ip]
        except KeyError:
            pass
        label = self._classify(ip)
        if len(memo) >= NETWORK_MEMO_SIZE:
            del memo[next(iter(memo))]  # oldest first
        memo[ip] = label
        return label

    def _classify(self, ip: str) -> str | None:
        address = parse_address(ip)
        if address is None:
            return None
        for label, networks in self._tables:
            if networks.holds(address):
                return label
        return None


class Context(msgspec.Struct, frozen=True):
    """What a detector may read besides the event and its own state. Read-only.

    A frozen Struct: one is built per event, and it is 3x cheaper to build and 2x to read than a NamedTuple.
    """

    org: Org
    employee: Employee | None  # the directory record, if known yet
    late: bool = False  # the event is older than late_tolerance_s behind the newest seen for this employee
    last_time: float | None = None  # newest event time seen for this employee before this event
    # This event's time (epoch s), computed once by the engine: detectors read `ctx.time or
    # event.ts.timestamp()` (0 when a caller built the context without it, as tests do).
    time: float = 0.0


class Detector:
    """Base class. Subclasses set the metadata and override `observe` (and, for cross-employee ones, the key hooks).

    Metadata follows the Panther/Sigma habit: an id equal to the module name, a title,
    a description, a default severity and weight, ATT&CK technique ids, a one-line
    runbook, a status, and the event types the detector reads.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    severity: ClassVar[Severity] = "medium"
    weight: ClassVar[float]  # default contribution (0..1) of a full-strength signal to the risk
    attacks: ClassVar[tuple[str, ...]] = ()
    runbook: ClassVar[str]
    status: ClassVar[Status] = "stable"
    event_types: ClassVar[tuple[str, ...]] = ()
    key_kinds: ClassVar[tuple[str, ...]] = ()  # correlation keys, for cross-employee detectors
    State: ClassVar[type[msgspec.Struct] | None] = None  # per-employee state type (array_like, frozen)
    KeyState: ClassVar[type[msgspec.Struct] | None] = None  # per-key-value state type
    max_state_bytes: ClassVar[int] = 256  # documented bound on the msgpack size of State
    params: ClassVar[Mapping[str, Any]] = {}  # tunable defaults; overridden by [detectors.<id>].params

    def __init__(self, org: Org, params: Mapping[str, Any] | None = None) -> None:
        unknown = set(params or {}) - set(self.params)
        if unknown:
            raise ValueError(f"detectors.{self.id}.params: unknown key(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(sorted(self.params)) or 'none'}")
        self.org = org
        self.p: dict[str, Any] = {**self.params, **(params or {})}

    def initial_state(self) -> msgspec.Struct | None:
        return self.State() if self.State is not None else None

    def observe(self, event: Event, state: Any, ctx: Context) -> tuple[Any, list[Signal]]:
        """Read one event of `event_types`; return the new state (the same object if unchanged) and signals."""
        return state, []

    # Cross-employee hooks ---------------------------------------------------------------
    def correlation_keys(self, event: Event, state: Any, ctx: Context) -> list[tuple[str, str]]:
        """(kind, value) pairs this event shows, for kinds in `key_kinds`; `state` is this detector's
        per-employee state after `observe` saw the same event."""
        return []

    def initial_key_state(self) -> msgspec.Struct | None:
        return self.KeyState() if self.KeyState is not None else None

    def correlate(self, observation: KeyObservation, state: Any) -> tuple[Any, list[Signal]]:
        """Fold one observation into a key value's state; return signals addressed to employees."""
        return state, []

    # Helpers for subclasses -------------------------------------------------------------
    def signal(self, event: Event, score: float, summary: str, **data: Any) -> Signal:
        """A signal about the event's employee; absent (None) values are left out of `data`."""
        return Signal(detector=self.id, employee_id=event.employee_id, time=event.ts.timestamp(),
                      score=max(0.0, min(1.0, score)), summary=summary,
                      data={k: v for k, v in data.items() if v is not None},
                      event_ids=(event.event_id,) if event.event_id else ())
