"""Remote-control software on the employee's device: someone else may be driving it (ATT&CK T1219).

Public reporting on the North Korean IT-worker scheme describes the same step every
time: the company laptop is shipped to a facilitator's home, who installs remote-desktop
or RMM software so an operator abroad can work on it (DOJ filings against the Nashville
and Arizona laptop-farm hosts, 2024; Mandiant's UNC5267 report, Sept 2024, which also
advises watching for mouse jigglers, used to keep many laptops looking "active" at
once). Engineers and IT staff also use such tools for honest reasons, so each clue is
scored by how specific it is:

- an unapproved RMM tool running or used (process or session): weak, 0.5 — many people
  install AnyDesk for family support;
- several RMM vendors on one device within a week: 0.7, +0.1 per extra vendor (≤ 0.9) —
  an organisation standardises on one tool, a farm host installs whatever the operator asks;
- mouse-jiggler software: 0.35; a reverse tunnel (ngrok, cloudflared): 0.3 — common
  among ordinary employees, suggestive only together with other tells;
- an inbound session (someone controls this device) from a public address outside the
  organisation's networks: 0.8, or 0.95 through an unapproved third-party RMM tool — that
  is ATT&CK T1219 happening, not a hint of it (0.65 when the peer address is not
  reported); the
  session's own latency minimum ≥ `long_path_ms` (100) raises it to 1.0: round trips
  within the continental US stay under ~80 ms, so a minimum (the least-queued sample) of
  100 ms or more means the controlling end, or the relay the session runs through, is
  across an ocean (Amazon caught an operative by a 110 ms keystroke delay where tens of
  ms were normal). A tool outside the vocabulary counts 0.7× as much as a known one.

With the default weight 0.65, a lone RMM tool adds ~33 risk; an unapproved RMM session
controlling the device from outside (62) or from far away (65) opens a case alone. Exempt: tools approved for everyone (`allowlists.
remote_tools`) or for this employee (`approved_remote_tools`); outbound ssh/rdp/VDI
sessions (an engineer reaching servers); inbound sessions from office, VPN-egress,
allowlisted or local (RFC 1918) addresses raise no inbound signal (an unapproved RMM
tool in them still counts as one). The same findings are re-raised at most every
`refresh_hours` so fusion's evidence stays fresh without one signal per snapshot.
"""

from __future__ import annotations

import ipaddress
import zlib
from typing import ClassVar, Final

import msgspec
from msgspec.structs import replace

from telltales.schemas.events import DeviceSnapshot, Latency, RemoteSession
from telltales.schemas.vocabulary import TOOLS

from .base import Context, Detector, Networks, Signal, parse_address

RMM: Final = "rmm"
JIGGLER: Final = "mouse_jiggler"
TUNNEL: Final = "tunnel"
# Categories whose inbound sessions mean "someone controls this device".
CONTROL: Final = frozenset({"rmm", "remote_desktop", "vdi", "tunnel"})
MAX_TOOLS: Final = 6  # RMM tools remembered per employee for the several-vendors check
COARSE_S: Final = 3600  # a tool's last-seen time is refreshed at most hourly (keeps state writes rare)
MEMO_SIZE: Final = 65_536
# Addresses that never cross the internet: a peer here is on the device's own LAN.
LOCAL_NETWORKS: Final = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))
_LOCAL: Final = Networks(LOCAL_NETWORKS)


class State(msgspec.Struct, frozen=True, array_like=True):
    """Unapproved RMM tools seen lately and the last report (≤ 6 tools: under 140 bytes of msgpack)."""

    tools: list[str] = []  # canonical ids, least recently seen first
    seen: list[int] = []   # epoch s each tool was last seen (hour resolution)
    reported: int = 0      # event time of the last signal
    fp: int = 0            # crc32 of the last signal's findings


class RemoteControl(Detector):
    id = "remote_control"
    title = "Remote-control software or inbound remote session"
    description = __doc__
    severity = "medium"
    weight = 0.65
    attacks = ("T1219", "T1133")
    runbook = ("Ask the employee why the tool is installed and who connects to the device; check the "
               "session's peer address and time against their claimed location; remove unapproved tools.")
    status = "stable"
    event_types = ("device_snapshot", "remote_session")
    State = State
    max_state_bytes = 160
    params: ClassVar = {
        "rmm_score": 0.5, "multi_vendor_score": 0.7, "jiggler_score": 0.35, "tunnel_score": 0.3,
        "inbound_score": 0.8, "inbound_rmm_score": 0.95, "inbound_unknown_peer_score": 0.65, "long_path_score": 1.0,
        "long_path_ms": 100.0, "unknown_tool_factor": 0.7, "multi_vendor_days": 7.0, "refresh_hours": 6.0,
    }

    def __init__(self, org, params=None) -> None:
        super().__init__(org, params)
        self._category = {tool_id: tool.category for tool_id, tool in TOOLS.items()}
        self._title = {tool_id: tool.title for tool_id, tool in TOOLS.items()}
        self._watched = frozenset(t for t, c in self._category.items() if c in (RMM, JIGGLER, TUNNEL))
        self._multi_window_s = float(self.p["multi_vendor_days"]) * 86400.0
        self._refresh_s = float(self.p["refresh_hours"]) * 3600.0
        self._where: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------
    def observe(self, event: DeviceSnapshot | RemoteSession, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        if isinstance(event, RemoteSession):
            return self._session(event, state, ctx)
        processes = event.processes
        if not processes:
            return state, []
        hits = self._watched.intersection(processes)
        if not hits:
            return state, []
        hits -= self._approved(ctx)
        if not hits:
            return state, []
        when = event.ts.timestamp()
        rmm, jigglers, tunnels = [], [], []
        by_category = {RMM: rmm, JIGGLER: jigglers, TUNNEL: tunnels}
        for tool in sorted(hits):
            by_category[self._category[tool]].append(tool)
        state, recent = self._remember(state, rmm, when, ctx)
        findings = self._rmm_findings(rmm, recent)
        if jigglers:
            findings.append((self.p["jiggler_score"], "mouse_jiggler", jigglers))
        if tunnels:
            findings.append((self.p["tunnel_score"], "tunnel", tunnels))
        return self._report(event, state, findings, sorted(hits.union(recent)), when, "")

    def _session(self, event: RemoteSession, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        tool = event.tool
        category = self._category.get(tool)
        if category == JIGGLER or tool in self._approved(ctx):
            return state, []
        when = event.ts.timestamp()
        if category == RMM:
            rmm = [tool]
            state, recent = self._remember(state, rmm, when, ctx)
            findings = self._rmm_findings(rmm, recent)
        else:
            recent, findings = [], []
        if event.direction == "inbound" and (category is None or category in CONTROL):
            where = self._place(event.peer_ip)
            if where == "outside" or where == "unknown":
                path_ms = _path_ms(event.latency)
                far = path_ms is not None and path_ms >= self.p["long_path_ms"]
                if far:
                    score = self.p["long_path_score"]
                elif where == "outside":
                    score = self.p["inbound_rmm_score"] if category == RMM else self.p["inbound_score"]
                else:
                    score = self.p["inbound_unknown_peer_score"]
                if category is None:
                    score *= self.p["unknown_tool_factor"]
                findings.append((score, "inbound_outside", path_ms if far else None))
        if not findings:
            return state, []
        tools = sorted({tool, *recent})
        return self._report(event, state, findings, tools, when, event.peer_ip or "")

    # ------------------------------------------------------------------------------------------
    def _approved(self, ctx: Context) -> frozenset[str]:
        employee = ctx.employee
        if employee is None or not employee.approved_remote_tools:
            return self.org.approved_tools
        return self.org.approved_tools.union(employee.approved_remote_tools)

    def _remember(self, state: State, rmm: list[str], when: float, ctx: Context) -> tuple[State, list[str]]:
        """Fold the RMM tools seen now into the state; return it and the unapproved RMM tools seen lately."""
        now = int(when)
        tools, seen = state.tools, state.seen
        changed = False
        for tool in rmm:
            if tool in tools:
                i = tools.index(tool)
                if now - seen[i] < COARSE_S:
                    continue
                if not changed:
                    tools, seen, changed = list(tools), list(seen), True
                del tools[i], seen[i]
            elif not changed:
                tools, seen, changed = list(tools), list(seen), True
            tools.append(tool)
            seen.append(now)
        horizon = now - self._multi_window_s
        if changed or (seen and seen[0] < horizon):
            pairs = sorted((s, t) for s, t in zip(seen, tools) if s >= horizon)[-MAX_TOOLS:]
            state = replace(state, tools=[t for _, t in pairs], seen=[s for s, _ in pairs])
        approved = self._approved(ctx)
        recent = [t for t, s in zip(state.tools, state.seen) if s >= horizon and t not in approved]
        return state, recent

    def _rmm_findings(self, rmm: list[str], recent: list[str]) -> list[tuple[float, str, object]]:
        if len(recent) >= 2:
            return [(min(0.9, self.p["multi_vendor_score"] + 0.1 * (len(recent) - 2)), "multiple_rmm", recent)]
        if rmm:
            return [(self.p["rmm_score"], "rmm", rmm)]
        return []

    def _report(self, event: DeviceSnapshot | RemoteSession, state: State, findings: list[tuple[float, str, object]],
                tools: list[str], when: float, peer: str) -> tuple[State, list[Signal]]:
        """One signal for the strongest finding (the others in its summary), unless it repeats the last one too soon."""
        findings.sort(key=_by_score)
        reasons = [code for _, code, _ in findings]
        fingerprint = zlib.crc32("|".join((*reasons, *tools, peer)).encode())
        now = int(when)
        if fingerprint == state.fp and now - state.reported < self._refresh_s:
            return state, []
        texts = [self._text(event, code, detail) for _, code, detail in findings]
        summary = texts[0] + ("; also " + "; ".join(texts[1:]) if len(texts) > 1 else "")
        data: dict = {"tools": tools, "reasons": reasons}
        if isinstance(event, RemoteSession):
            data.update(tool=event.tool, direction=event.direction, peer_ip=event.peer_ip,
                        session_id=event.session_id)
            path_ms = next((d for _, code, d in findings if code == "inbound_outside"), None)
            if path_ms is not None:
                data["path_ms"] = path_ms
        else:
            data["hostname"] = event.hostname
        data["device_id"] = event.device_id
        signal = self.signal(event, findings[0][0], summary[:1].upper() + summary[1:],
                             **{k: v for k, v in data.items() if v is not None})
        if now >= state.reported:
            state = replace(state, reported=now, fp=fingerprint)
        return state, [signal]

    def _text(self, event, code: str, detail) -> str:
        if code == "multiple_rmm":
            return (f"{len(detail)} remote-control tools on one device within "
                    f"{self.p['multi_vendor_days']:g} days ({self._names(detail)})")
        if code == "rmm":
            return f"unapproved remote-control tool {self._names(detail)}"
        if code == "mouse_jiggler":
            return f"mouse-jiggler software running ({self._names(detail)})"
        if code == "tunnel":
            return f"reverse tunnel running ({self._names(detail)})"
        origin = f"from {event.peer_ip}" if event.peer_ip else "from an unreported address"
        text = f"inbound {self._names([event.tool])} session {origin}, outside the organisation's networks"
        if detail is not None:
            text += f", latency minimum {detail:g} ms (≥ {self.p['long_path_ms']:g} ms: a long path)"
        return text

    def _place(self, ip: str | None) -> str:
        """office | vpn_egress | allowlisted | local | outside | unknown (no address) for a peer address."""
        if ip is None:
            return "unknown"
        where = self._where.get(ip)
        if where is None:
            where = self.org.network_of(ip) or ("local" if _is_local(ip) else "outside")
            if len(self._where) >= MEMO_SIZE:
                self._where.clear()
            self._where[ip] = where
        return where

    def _names(self, tools: list[str]) -> str:
        return ", ".join(self._title.get(t, t) for t in tools)


def _is_local(ip: str) -> bool:
    address = parse_address(ip)
    return False if address is None else _LOCAL.holds(address)


def _by_score(finding: tuple[float, str, object]) -> float:
    return -finding[0]


def _path_ms(latency: Latency | None) -> float | None:
    """The session's latency minimum: keystroke-to-echo if measured, else network round trip."""
    if latency is None:
        return None
    if latency.input_ms is not None:
        return latency.input_ms.min
    if latency.rtt_ms is not None:
        return latency.rtt_ms.min
    return None
