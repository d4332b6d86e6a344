"""Logins through an anonymizer: commercial VPN, proxy, Tor, relay or a hosting provider's address.

DPRK IT workers reach their employers' systems from abroad, so they hide their real
address: the State/Treasury/FBI advisory of 16 May 2022 describes VPNs, virtual private
servers and third-country IP addresses, and incident responders name one consumer VPN
again and again — Astrill VPN, popular in China because it gets through the Great
Firewall (Mandiant's UNC5267 report, Sept 2024; Red Canary's 2025 Threat Detection
Report on "abnormal VPNs"). VPN use alone is weak evidence: many honest people run a
consumer VPN on hotel Wi-Fi. So the weight is low-moderate, the score is moderate for a
generic VPN/proxy/hosting address, higher for Tor, highest for Astrill, and grows when
anonymized logins are repeated and make up a large share of the person's logins
(sustained use, not one café).

A login counts as anonymized when the source says so (`anonymizer`, set by the log
source or by enrichment from a configured hosting-ASN list) or when its ASN is a
well-known cloud/hosting network or its ASN organisation names a VPN provider (the
small lists below; an organisation adds its own hosting ASNs through the enricher's
`hosting_asns`, which sets `anonymizer` so every detector sees the same verdict).
Logins from the organisation's own networks (office, VPN egress, allowlisted —
configure corporate VDI/SASE egress there) are exempt: the organisation's VPN is
expected. Relays (iCloud Private Relay, Cloudflare WARP) are privacy features of
ordinary consumer devices and score lowest.

*The slip.* A VPN fails now and then, and the next login arrives from the real
address: incident responders describe exactly this moment as the one that shows where a
DPRK IT worker sits (a login from a Chinese or Russian residential address on an account
that otherwise only ever comes through the VPN; Mandiant UNC5267, 2024). So a direct login
from another country than the claimed home, by someone whose recent logins are mostly
anonymized (at least `repeat_n` of them and a share of at least `slip_min_share`), is a
tell of its own: `slip_score`, or `slip_high_risk_score` from a high-risk country
(`HIGH_RISK_COUNTRIES`, shared with home_mismatch). A traveller abroad logs in directly
from the hotel most of the time, and a privacy-VPN user at home slips at home: neither
shows it.

`anonymity(event)` is the one classification the location detectors share
(impossible_travel and home_mismatch treat anonymized logins as hops, not places).
"""

from __future__ import annotations

import functools
import re
from typing import ClassVar, Final

import msgspec

from telltales.schemas.events import VpnLogin

from .base import Context, Detector, Org, Signal

# Cloud and hosting networks: a login from one is a server, a VPS-hosted VPN or proxy,
# not a home or mobile connection. Well-known ASNs only; the ASN-organisation words
# below catch the long tail.
HOSTING_ASNS: Final[dict[int, str]] = {
    16509: "Amazon AWS", 14618: "Amazon AWS", 8075: "Microsoft Azure", 396982: "Google Cloud",
    14061: "DigitalOcean", 16276: "OVH", 24940: "Hetzner", 63949: "Akamai Cloud (Linode)",
    20473: "Vultr (Choopa)", 9009: "M247", 60068: "Datacamp (CDN77)", 51167: "Contabo",
    31898: "Oracle Cloud", 45102: "Alibaba Cloud", 132203: "Tencent Cloud", 12876: "Scaleway",
    16265: "Leaseweb", 60781: "Leaseweb", 36352: "ColoCrossing", 8100: "QuadraNet",
    40676: "Psychz Networks", 62240: "Clouvider", 53667: "FranTech (BuyVM)",
}
# Consumer privacy relays: Cloudflare WARP / 1.1.1.1 and iCloud Private Relay's Akamai egress.
RELAY_ASNS: Final[dict[int, str]] = {13335: "Cloudflare WARP", 36183: "iCloud Private Relay (Akamai)"}
# Consumer VPN providers, matched in the event's provider name or the ASN organisation.
VPN_PROVIDERS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in (
        ("Astrill VPN", r"astrill"),
        ("NordVPN", r"nord ?vpn|packethub"),
        ("ExpressVPN", r"express ?vpn"),
        ("Surfshark", r"surfshark"),
        ("Private Internet Access", r"private internet access|london trust media"),
        ("Mullvad", r"mullvad|31173 services"),
        ("Proton VPN", r"proton ?(vpn|ag\b)"),
        ("CyberGhost", r"cyberghost"),
        ("IPVanish", r"ipvanish"),
        ("Windscribe", r"windscribe"),
        ("PureVPN", r"pure ?vpn|gz systems"),
        ("Hotspot Shield", r"hotspot ?shield|anchorfree"),
        ("TunnelBear", r"tunnel ?bear"),
        ("VyprVPN", r"vypr ?vpn|golden frog"),
        ("hide.me", r"hide\.me"),
        ("TorGuard", r"torguard"),
        ("Hola VPN", r"hola ?vpn"),
    ))
ASTRILL: Final = "Astrill VPN"
HOSTING_WORDS: Final = re.compile(
    r"\b(hosting|datacent(er|re)s?|data cent(er|re)s?|colo(cation)?|vps|dedicated servers?|servers?|cloud)\b",
    re.IGNORECASE)
MAX_LABEL: Final = 64
# Where DPRK IT workers are reported to operate (KP, CN, RU) and the comprehensively sanctioned
# IR, CU, SY; home_mismatch uses the same default.
HIGH_RISK_COUNTRIES: Final = ("KP", "CN", "RU", "IR", "CU", "SY")


def anonymity(event: VpnLogin) -> tuple[str, str] | None:
    """(kind, provider) when the login comes through an anonymizer, else None.

    `kind` is vpn | proxy | tor | hosting | relay; `provider` a readable name ("" when
    unknown). The event's own `anonymizer` wins (its provider named from the ASN when the
    flag names none); otherwise its ASN is looked up in the lists above. Organisation
    networks are not considered here (callers exempt them).

    >>> from telltales.schemas.events import Asn
    >>> import datetime as dt
    >>> login = VpnLogin(employee_id="e1", ts=dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc), src_ip="192.0.2.1",
    ...                  asn=Asn(number=64500, org="Astrill Ltd"))
    >>> anonymity(login)
    ('vpn', 'Astrill VPN')
    """
    flag = event.anonymizer
    asn = event.asn
    if flag is not None:
        if flag.provider:
            return flag.type, provider_name(flag.provider)
        # A source that flags the address without naming who runs it (Entra's anonymous-IP
        # risk, Okta's isProxy): a VPN provider the ASN lists recognise still names it.
        named = _asn_anonymity(asn.number, asn.org) if asn is not None else None
        return flag.type, named[1] if named is not None and named[0] == "vpn" else ""
    if asn is not None:
        return _asn_anonymity(asn.number, asn.org)
    return None


@functools.lru_cache(maxsize=4096)
def provider_name(text: str) -> str:
    """The canonical name of a VPN provider mentioned in `text`, else `text` itself (shortened)."""
    for name, pattern in VPN_PROVIDERS:
        if pattern.search(text):
            return name
    return text[:MAX_LABEL]


@functools.lru_cache(maxsize=4096)
def _asn_anonymity(number: int, org: str | None) -> tuple[str, str] | None:
    if org:
        for name, pattern in VPN_PROVIDERS:
            if pattern.search(org):
                return "vpn", name
    if number in RELAY_ASNS:
        return "relay", RELAY_ASNS[number]
    if number in HOSTING_ASNS:
        return "hosting", HOSTING_ASNS[number]
    if org and HOSTING_WORDS.search(org):
        return "hosting", org[:MAX_LABEL]
    return None


class State(msgspec.Struct, frozen=True, array_like=True):
    """Recent anonymized vs direct successful logins; both halved when their sum passes 64 (≤ 8 bytes)."""

    anonymized: int = 0
    direct: int = 0


class Anonymizer(Detector):
    id = "anonymizer"
    title = "Login through a VPN, proxy, Tor or hosting network"
    description = __doc__
    severity = "low"
    weight = 0.4
    attacks = ("T1090", "T1133", "T1078")
    runbook = ("Check the provider and how often the employee uses it; ask why a personal VPN is used for work "
               "access; Astrill VPN or sustained anonymized logins with other signals warrant an identity check.")
    status = "stable"
    event_types = ("vpn_login",)
    State = State
    max_state_bytes = 16
    params: ClassVar = {
        "astrill_score": 1.0,  # named in public reporting on DPRK IT workers
        "tor_score": 0.6,
        "vpn_score": 0.4,
        "proxy_score": 0.4,
        "hosting_score": 0.4,
        "relay_score": 0.1,   # iCloud Private Relay / WARP: ordinary consumer privacy features
        "repeat_n": 5,        # anonymized logins after which use counts as sustained
        "window": 64,         # counts are halved when anonymized + direct passes this
        "slip_min_share": 0.6,         # a direct login abroad counts as a slip when most logins are anonymized
        "slip_score": 0.75,            # abroad, the country on no list
        "slip_high_risk_score": 1.0,   # from a country where DPRK IT workers are reported to operate
        "high_risk_countries": list(HIGH_RISK_COUNTRIES),
    }

    def __init__(self, org: Org, params=None) -> None:
        super().__init__(org, params)
        self._scores = {kind: float(self.p[f"{kind}_score"]) for kind in ("tor", "vpn", "proxy", "hosting", "relay")}
        self._high_risk = frozenset(c.upper() for c in self.p["high_risk_countries"])

    def observe(self, event: VpnLogin, state: State, ctx: Context) -> tuple[State, list[Signal]]:
        if event.outcome != "success" or self.org.network_of(event.src_ip) is not None:
            return state, []
        found = anonymity(event)
        anonymized, direct = state.anonymized, state.direct
        if found is None:
            slip = self._slip(event, anonymized, direct, ctx)
            anonymized, direct = self._bounded(anonymized, direct + 1)
            return State(anonymized, direct), slip
        anonymized, direct = self._bounded(anonymized + 1, direct)
        new = State(anonymized, direct)
        kind, provider = found
        astrill = provider == ASTRILL
        base = float(self.p["astrill_score"]) if astrill else self._scores.get(kind, self._scores["vpn"])
        share = anonymized / (anonymized + direct)
        sustain = 0.5 + 0.25 * min(1.0, anonymized / max(1, int(self.p["repeat_n"]))) + 0.25 * share
        label = f"{kind}{f' ({provider})' if provider else ''}"
        asn = event.asn
        summary = (f"Login from {event.src_ip} through {label}; {anonymized} of the last "
                   f"{anonymized + direct} logins were anonymized")
        return new, [self.signal(
            event, base * sustain, summary,
            src_ip=event.src_ip, kind=kind, provider=provider or None, astrill=astrill,
            asn=asn.number if asn else None, asn_org=asn.org if asn else None,
            country=event.geo.country if event.geo else None,
            anonymized_logins=anonymized, direct_logins=direct, share=round(share, 2))]

    def _slip(self, event: VpnLogin, anonymized: int, direct: int, ctx: Context) -> list[Signal]:
        """A direct login from abroad by someone who otherwise comes through an anonymizer: the VPN dropped."""
        geo, employee = event.geo, ctx.employee
        if (geo is None or not geo.country or employee is None or employee.home is None or not employee.home.country
                or geo.country == employee.home.country or anonymized < self.p["repeat_n"]
                or anonymized < self.p["slip_min_share"] * (anonymized + direct)):
            return []
        high_risk = geo.country.upper() in self._high_risk
        score = float(self.p["slip_high_risk_score"] if high_risk else self.p["slip_score"])
        place = ", ".join(filter(None, (geo.city, geo.country)))
        return [self.signal(
            event, score,
            f"Direct login from {event.src_ip} in {place} while {anonymized} of the last {anonymized + direct} logins "
            f"came through an anonymizer: the VPN dropped and shows a login from abroad"
            f"{' (high-risk country)' if high_risk else ''}; the claimed home is in {employee.home.country}",
            kind="slip", src_ip=event.src_ip, country=geo.country, place=place, high_risk=high_risk,
            home_country=employee.home.country, anonymized_logins=anonymized, direct_logins=direct,
            share=round(anonymized / (anonymized + direct), 2))]

    def _bounded(self, anonymized: int, direct: int) -> tuple[int, int]:
        if anonymized + direct > self.p["window"]:
            return (anonymized + 1) // 2, (direct + 1) // 2
        return anonymized, direct
