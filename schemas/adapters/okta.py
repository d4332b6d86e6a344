"""Okta System Log → `vpn_login`: the sign-ins an Okta org records, read as logins telltales judges.

One System Log event (the LogEvent object `/api/v1/logs` returns, and what Log
Streaming and SIEM integrations forward unchanged) becomes one `vpn_login`, a skip
reason, or an `AdapterError`. The mapping, field by field:

=============================================  ===============================================
Okta LogEvent                                  vpn_login
=============================================  ===============================================
`eventType` (the three below)                  a sign-in; any other type is skipped, the
                                               reason naming it ("eventType
                                               user.account.update_password is not a sign-in")
`actor.type` "User"                            anything else (SystemPrincipal, PublicClientApp
                                               ...) is skipped: no person signed in
`actor.alternateId` (the login)                `employee_id`, through the directory's ids and
                                               aliases (`unknown_identity` when none lists it)
`published`                                    `ts`
`uuid`                                         `event_id` "okta:<uuid>": re-adapting an export
                                               gives the same ids (the decoder derives a stable
                                               hash when a record has none)
`outcome.result` SUCCESS, ALLOW                `outcome` success
`outcome.result` FAILURE, DENY                 `outcome` failure
`outcome.result` CHALLENGE, SKIPPED, UNKNOWN   skipped, see below
`client.ipAddress`                             `src_ip` (required: missing is an
                                               `adapter_error`, nothing to judge without it)
`client.geographicalContext`                   `geo`: country name → ISO code, `state` →
                                               `region`, `city`, `geolocation` → `lat`/`lon`
                                               (only with a city, see below)
`securityContext.asNumber`, `asOrg`            `asn` {number, org}
`securityContext.isProxy` true                 `anonymizer` {type: proxy, provider: `asOrg`}
`client.userAgent.os`, `rawUserAgent`          `client` {os, user_agent}
`debugContext.debugData.factor` (auth_via_mfa) `mfa.method` (else `factorType`, else
                                               `authenticationContext.credentialType`)
`device.id`                                    `device_id` (Okta Verify-registered devices)
(constant)                                     `source` "okta"
=============================================  ===============================================

Sign-ins read:
- `user.session.start` — Okta issues a session to a user: the sign-in itself, and its
  FAILURE (wrong password, locked out) is the failed login the detectors count.
- `user.authentication.sso` — the user opens an app through Okta. A session lasts
  hours, but every app it opens is logged from the address in use at that moment, so
  these keep the location current between sign-ins. Okta cannot see the app's own
  verdict, so these are nearly always SUCCESS.
- `user.authentication.auth_via_mfa` — a second factor verified (or refused): it names
  the factor, and a FAILURE here is a refused push or a wrong code.
Everything else is skipped: account and admin changes carry no sign-in;
`policy.evaluate_sign_on` records the policy decision of a sign-in above and would count
it twice; `user.session.end` is no login.

Outcomes: CHALLENGE means Okta asked for another factor and the sign-in's result comes
in a later event (`auth_via_mfa` or `session.start`), so counting it would count the
sign-in twice; SKIPPED means the step did not run; UNKNOWN means Okta cannot tell. None
of these is a success, and calling them failures would turn every MFA prompt into a
failed login, so they are skipped with the result in the reason. A result outside Okta's
documented list is an `adapter_error`.

Places. Okta gives the country's full English name ("France", "Uganda"), the contract
an ISO 3166-1 alpha-2 code: `country_code` looks the name up first in `COUNTRY_ALIASES`,
then in `pycountry` (ISO short, official and common names, kept current with ISO by
Debian's iso-codes). The aliases are the GeoIP spellings pycountry misses ("Russia",
"Turkey", "Ivory Coast"): every English country name of the GeoLite2 City database it
did not resolve to GeoLite2's code, and MaxMind's newer spellings. A name that cannot be
mapped — or is ambiguous, like GeoLite2's "Congo" — leaves `geo` out altogether, so the
core's GeoIP enrichment of `src_ip` fills it (an event's own `geo` wins whole, so a
`geo` without a country would hide the GeoIP one). Coordinates are kept
only with a city: an address Okta locates to a country alone comes with the country's
centre point, which no distance should be measured from. `accuracy_km` is left out:
Okta publishes no radius, and each location detector then applies its own configured
`default_accuracy_km` (about city level), the one place an operator tunes it.

`isProxy` is Okta's IP-reputation verdict that the address is a known proxy; true
becomes `anonymizer` proxy with the AS organisation as provider (so a VPN brand in
`asOrg`, Astrill, is recognised). False is no verdict of "direct": `anonymizer` stays
unset so the detectors' own ASN lists still judge the address. `client.device` is a
device *type* ("Computer") and the browser has no place in the contract; neither is
mapped. `device.id` names a device registered with Okta Verify, a real device id.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import pycountry

from .base import AdapterError, Identities, shown
from .fields import MAX_USER_AGENT, compact, geo_of, obj, required, text

SIGN_INS: Final = frozenset({"user.session.start", "user.authentication.sso", "user.authentication.auth_via_mfa"})
MFA_EVENT: Final = "user.authentication.auth_via_mfa"
OUTCOMES: Final = {"SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "failure"}
SKIPPED_OUTCOMES: Final = {
    "CHALLENGE": "the sign-in waits for another factor, whose event carries the result",
    "SKIPPED": "the step did not run",
    "UNKNOWN": "Okta does not know whether it succeeded",
}
UNRECOGNISED: Final = "unknown"  # Okta's placeholder for a user-agent part it did not recognise

# English country names of GeoIP databases (MaxMind's spellings) that pycountry does not
# resolve, or resolves to another country; None = ambiguous, left to GeoIP. Kosovo has no
# ISO code: XK is the one MaxMind (so the core's GeoIP enrichment) gives it.
COUNTRY_ALIASES: Final[dict[str, str | None]] = {
    "bonaire, sint eustatius, and saba": "BQ", "brunei": "BN", "cape verde": "CV",
    "cocos [keeling] islands": "CC", "congo": None, "congo republic": "CG", "dr congo": "CD",
    "east timor": "TL", "falkland islands": "FK", "ivory coast": "CI", "kosovo": "XK", "macau": "MO",
    "macedonia": "MK", "micronesia": "FM", "myanmar [burma]": "MM", "palestine": "PS",
    "pitcairn islands": "PN", "republic of korea": "KR", "reunion": "RE", "russia": "RU",
    "saint helena": "SH", "saint martin": "MF", "saint-barthélemy": "BL", "sint maarten": "SX",
    "st kitts and nevis": "KN", "st lucia": "LC", "st vincent and grenadines": "VC", "swaziland": "SZ",
    "são tomé and príncipe": "ST", "turkey": "TR", "turkiye": "TR", "u.s. minor outlying islands": "UM",
    "u.s. virgin islands": "VI", "vatican city": "VA", "åland": "AX",
}


class Okta:
    """The Okta System Log adapter (see the module docstring for the mapping)."""

    name = "okta"
    title = "Okta System Log"

    def adapt(self, record: dict[str, Any], identities: Identities) -> list[dict[str, Any]] | str:
        event_type = record.get("eventType")
        if not isinstance(event_type, str):
            raise AdapterError("adapter_error", "eventType",
                               f"`eventType` is {shown(event_type)}: not an Okta System Log event")
        if event_type not in SIGN_INS:
            return f"eventType {event_type} is not a sign-in"
        actor = obj(record, "actor")
        if actor.get("type") != "User":
            return f"actor.type {actor.get('type') or 'missing'} is not a User"
        outcome = _outcome(obj(record, "outcome").get("result"))
        if outcome not in ("success", "failure"):
            return outcome
        login: dict[str, Any] = {
            "event_type": "vpn_login",
            "employee_id": identities.resolve(actor.get("alternateId"), "actor.alternateId"),
            "ts": required(record, "published", "when it happened"),
            "src_ip": required(obj(record, "client"), "client.ipAddress", "where it came from"),
            "outcome": outcome,
            "source": "okta",
        }
        uuid = record.get("uuid")
        if isinstance(uuid, str) and uuid.strip():
            login["event_id"] = f"okta:{uuid.strip()}"
        client = obj(record, "client")
        security = obj(record, "securityContext")
        optional = {
            "geo": _geo(obj(client, "geographicalContext", "client.")),
            "asn": _asn(security),
            "anonymizer": {"type": "proxy", "provider": text(security.get("asOrg"))}
            if security.get("isProxy") is True else None,
            "client": _client(obj(client, "userAgent", "client.")),
            "mfa": _mfa(record) if event_type == MFA_EVENT else None,
            "device_id": text(obj(record, "device").get("id")),
        }
        for key, value in optional.items():
            if (value := compact(value)) is not None:
                login[key] = value
        return [login]


ADAPTER: Final = Okta()


@functools.lru_cache(maxsize=1024)
def country_code(name: str) -> str | None:
    """The ISO 3166-1 alpha-2 code of an English country name, or None when it names no single country.

    >>> country_code("United States"), country_code("Russia"), country_code("Korea, Republic of")
    ('US', 'RU', 'KR')
    >>> country_code("Congo") is None, country_code("Atlantis") is None
    (True, True)
    """
    folded = name.strip().casefold()
    if folded in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[folded]
    try:
        return pycountry.countries.lookup(folded).alpha_2
    except LookupError:
        return None


def _outcome(result: Any) -> str:
    """"success" / "failure", or the skip reason of a result that is neither; AdapterError when undocumented."""
    if isinstance(result, str):  # a list or an object (a malformed record) cannot be looked up
        if result in OUTCOMES:
            return OUTCOMES[result]
        if result in SKIPPED_OUTCOMES:
            return f"outcome.result {result} is not a finished sign-in: {SKIPPED_OUTCOMES[result]}"
    raise AdapterError("adapter_error", "outcome.result",
                       f"`outcome.result` is {shown(result)}; expected one of "
                       f"{', '.join([*OUTCOMES, *SKIPPED_OUTCOMES])}")


def _geo(place: dict[str, Any]) -> dict[str, Any] | None:
    """`geo` from a GeographicalContext, or None when its country cannot be named (GeoIP then fills it)."""
    country = place.get("country")
    point = place.get("geolocation")
    point = point if isinstance(point, dict) else {}
    return geo_of(country_code(country) if isinstance(country, str) else None, place.get("state"),
                  place.get("city"), point.get("lat"), point.get("lon"))


def _asn(security: dict[str, Any]) -> dict[str, Any] | None:
    number = security.get("asNumber")
    if not isinstance(number, int) or isinstance(number, bool):
        return None
    return {"number": number, "org": text(security.get("asOrg"))}


def _client(agent: dict[str, Any]) -> dict[str, Any]:
    os = text(agent.get("os"))
    return {"os": None if os is None or os.casefold() == UNRECOGNISED else os,
            "user_agent": text(agent.get("rawUserAgent"), MAX_USER_AGENT)}


def _mfa(record: dict[str, Any]) -> dict[str, Any]:
    """The factor verified: Okta's debug data names it; the documented credential type is the fallback."""
    debug = obj(obj(record, "debugContext"), "debugData", "debugContext.")
    method = (text(debug.get("factor")) or text(debug.get("factorType"))
              or text(obj(record, "authenticationContext").get("credentialType")))
    return {"method": method}
