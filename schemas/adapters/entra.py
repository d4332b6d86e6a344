"""Microsoft Entra ID sign-in logs → `vpn_login`: the interactive sign-ins of a tenant's users, read as logins.

One sign-in record becomes one `vpn_login`, a skip reason, or an `AdapterError`. Entra
hands the same sign-in out in two shapes, and both are read:

- a Microsoft Graph `signIn` (`/auditLogs/signIns`, v1.0 or beta), one object per line
  (a page of the API is `{"value": [...]}`: split it, e.g. `jq -c '.value[]'`);
- an Azure Monitor diagnostic-settings record (Event Hub or storage account export):
  the envelope `time`, `category`, `operationName`, `resultType`, `callerIpAddress`...
  with the signIn's own fields under `properties` (an Event Hub message holds several
  as `{"records": [...]}`: split it, e.g. `jq -c '.records[]'`).

Which shape: a record with a `category` or a `properties` key is an Azure Monitor record
(both are envelope fields, and no signIn property has either name); anything else is
read as a Graph signIn. Paths in rejections name the field where it is in the record
(`properties.ipAddress` for an Azure Monitor record, `ipAddress` for a signIn).

The mapping, field by field (signIn property; Azure Monitor: the same under `properties.`):

=============================================  ===============================================
Entra sign-in                                  vpn_login
=============================================  ===============================================
Azure Monitor `category` SignInLogs            read; NonInteractiveUserSignInLogs,
                                               ServicePrincipalSignInLogs and
                                               ManagedIdentitySignInLogs are skipped (below),
                                               any other category too (AuditLogs,
                                               ADFSSignInLogs...): "category AuditLogs is not
                                               a user sign-in log telltales reads"
`signInEventTypes` (beta), `isInteractive`     nonInteractiveUser (or isInteractive false),
                                               servicePrincipal, managedIdentity: skipped
`status.errorCode` 0                           `outcome` success
`status.errorCode` an interrupt (below)        skipped, the code and its name in the reason
`status.errorCode` any other code              `outcome` failure (50126 wrong password,
                                               500121 MFA refused or not answered, 53003
                                               blocked by Conditional Access ...)
`userPrincipalName`                            `employee_id`, through the directory's ids and
                                               aliases (`unknown_identity` when none lists it)
`createdDateTime` (Azure Monitor: else `time`) `ts`
`id`, with the error code                      `event_id` "entra:<id>:<errorCode>" (below)
`ipAddress`                                    `src_ip` (required: missing is an
                                               `adapter_error`, nothing to judge without it)
`location`                                     `geo`: `countryOrRegion` (an ISO 3166-1
                                               alpha-2 code already) → `country`, `state` →
                                               `region`, `city`, `geoCoordinates` → `lat`/
                                               `lon` (only with a city, as for Okta)
`riskEventTypes_v2` / `riskEventTypes`         `anonymizer` {type: vpn}
  containing anonymizedIPAddress
`deviceDetail.operatingSystem`, `userAgent`    `client` {os, user_agent}
`authenticationDetails[].authenticationMethod` `mfa.method`: the last step's method that is a
                                               factor (not Password, Previously satisfied,
                                               Satisfied by token)
`authenticationAppDeviceDetails.deviceId`      `mfa.device_id` (the phone running the
  (beta)                                       Authenticator app for this sign-in)
`deviceDetail.deviceId` when non-empty         `device_id` (the Entra-registered device)
(constant)                                     `source` "entra"
=============================================  ===============================================

Sign-ins read. Interactive user sign-ins only: the user presented a factor (password,
MFA, passkey) or opened an app through the browser session, from wherever the device is
at that moment — so app opens keep the location current between password prompts, as
Okta's SSO events do. Non-interactive sign-ins (`NonInteractiveUserSignInLogs`, Graph
`isInteractive` false) are clients using a token "on behalf of a user" without the user
providing anything: far more numerous, and many of their failures are expired or
revoked tokens (70008 ExpiredOrRevokedGrant, 50133 SsoArtifactRevoked) rather than
anyone failing to log in. A laptop-farm worker still signs in interactively every time
a session or an MFA claim expires. Service principal and managed identity sign-ins have
no user at all.

Outcomes. Entra logs every step of a sign-in; the portal calls some of them
"Interrupted" (its status filter offers Success, Failure and Interrupted), and Microsoft
names most of those codes "...Interrupt" in its AADSTS reference. An interrupt is the
sign-in asking for something more — the second factor after an accepted password
(50074, 50076), the "Stay signed in?" prompt (50140) — and the record of the next step
carries the result: Microsoft notes that in Azure Monitor one MFA sign-in "appears as
multiple line items" sharing a correlationId. Counted as failures they would turn every
MFA prompt into a failed login; counted as successes they would count a sign-in twice.
So they are skipped, counted by code. `INTERRUPTS` lists them with Microsoft's names.
A refused or unanswered MFA (500121) is a finished sign-in and a failure, like Okta's
failed factor. A code that is not a number is an `adapter_error`.

Ids. Because Azure Monitor logs a sign-in again as its status changes, `id` alone may
name several records with different outcomes; the core drops an event whose `event_id`
it has seen, so the id includes the error code: re-adapting an export gives the same
ids, a re-sent record is still recognised, and a later success is not taken for a
duplicate of the failure before it.

Places. `countryOrRegion` is a two-letter ISO 3166-1 code (Microsoft: "2 letter code");
one that is not an assigned code (or Kosovo's XK, as GeoIP codes it) leaves `geo` out
altogether, and the core's GeoIP enrichment of `src_ip` fills it — an event's own `geo`
wins whole, so a `geo` without a country would hide the GeoIP one. Coordinates are kept
only with a city: an address located to a country alone gets the country's centre.
`accuracy_km` is left out: Entra publishes no radius (its location is "a best effort"
from the address), so each location detector applies its own `default_accuracy_km`.

Left out: `autonomousSystemNumber` (beta) — Entra gives the number without the network's
name, and an event's own `asn` stops the core's GeoIP ASN lookup, which also names the
organisation the anonymizer detector reads (Astrill). `anonymizedIPAddress` is
Identity Protection's verdict (Entra ID P2) that the sign-in came from an anonymous
address, an anonymizing browser (Tor) or VPN; it names no provider, so `anonymizer` has
none, and the event's own `anonymizer` wins over the detectors' ASN lists.
`deviceDetail.browser` ("Chrome 72.0.3626") has no place in the contract, nor
have risk levels, Conditional Access results or the other risk event types
(`unlikelyTravel` is Microsoft's own impossible travel, which telltales computes itself).
`callerIpAddress` repeats `ipAddress` (sometimes with a port) and is not read. Log
Analytics rows (`SigninLogs` table: PascalCase columns, JSON in strings) are a third
shape and are not read.
"""

from __future__ import annotations

from typing import Any, Final

import pycountry

from .base import AdapterError, Identities, shown
from .fields import MAX_USER_AGENT, compact, geo_of, obj, required, text

# Azure Monitor diagnostic category → Entra's sign-in event type (`signInEventTypes`).
CATEGORY_KINDS: Final = {
    "SignInLogs": "interactiveUser",
    "NonInteractiveUserSignInLogs": "nonInteractiveUser",
    "ServicePrincipalSignInLogs": "servicePrincipal",
    "ManagedIdentitySignInLogs": "managedIdentity",
}
SKIPPED_KINDS: Final = {
    "nonInteractiveUser": "a client renewed the user's token, the user did not sign in",
    "servicePrincipal": "an application signed in, not a user",
    "managedIdentity": "an Azure resource signed in, not a user",
}
# Status codes of a step that asks for more; the next record of the sign-in carries its result.
INTERRUPTS: Final[dict[int, tuple[str, str]]] = {
    16000: ("SelectUserAccount", "the user is asked to pick an account"),
    50058: ("UserInformationNotProvided", "a silent sign-in found no session, no credentials were given"),
    50072: ("UserStrongAuthEnrollmentRequiredInterrupt", "the user is sent to register a second factor"),
    50074: ("UserStrongAuthClientAuthNRequiredInterrupt", "MFA is required, the MFA step's record has the result"),
    50076: ("UserStrongAuthClientAuthNRequired", "MFA is required, the MFA step's record has the result"),
    50079: ("UserStrongAuthEnrollmentRequired", "the user is sent to register for MFA"),
    50097: ("DeviceAuthenticationRequired", "the device is asked to authenticate, the next record has the result"),
    50125: ("PasswordResetRegistrationRequiredInterrupt", "the user is sent to register for password reset"),
    50140: ("KmsiInterrupt", "the 'Stay signed in?' prompt"),
    50168: ("ChromeBrowserSsoInterruptRequired", "the browser is asked for its single sign-on token"),
    50199: ("CmsiInterrupt", "the user is asked to confirm the app"),
}
NOT_FACTORS: Final = frozenset({"password", "previously satisfied", "satisfied by token"})  # casefolded
ANONYMIZED: Final = "anonymizedIPAddress"
BATCHES: Final = {"value": ("a Graph API page", "jq -c '.value[]'"),
                  "records": ("an Event Hub message", "jq -c '.records[]'")}
COUNTRIES: Final = frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}  # XK: Kosovo, as GeoIP codes it


class Entra:
    """The Microsoft Entra ID sign-in log adapter (see the module docstring for the mapping)."""

    name = "entra"
    title = "Microsoft Entra ID sign-in logs"

    def adapt(self, record: dict[str, Any], identities: Identities) -> list[dict[str, Any]] | str:
        if "category" in record or "properties" in record:
            category = record.get("category")
            if not isinstance(category, str):
                raise AdapterError("adapter_error", "category",
                                   f"`category` is {shown(category)}: not an Azure Monitor Entra ID log record")
            kind = CATEGORY_KINDS.get(category)
            if kind is None:
                return f"category {category} is not a user sign-in log telltales reads"
            if kind in SKIPPED_KINDS:
                return _skipped(kind)
            return _sign_in(obj(record, "properties"), "properties.", record, identities)
        for key, (what, split) in BATCHES.items():
            if isinstance(record.get(key), list):
                raise AdapterError("adapter_error", key,
                                   f"`{key}` holds {what} of {len(record[key])} records: give the adapter "
                                   f"one record per line (e.g. {split})")
        return _sign_in(record, "", None, identities)


ADAPTER: Final = Entra()


def _sign_in(sign_in: dict[str, Any], prefix: str, envelope: dict[str, Any] | None,
             identities: Identities) -> list[dict[str, Any]] | str:
    """One signIn's properties (at `prefix` of the record) → the login, or why it is skipped."""
    kinds = _list(sign_in, "signInEventTypes", prefix)
    for kind in SKIPPED_KINDS:
        if kind in kinds:
            return _skipped(kind)
    interactive = sign_in.get("isInteractive")
    if interactive is False:
        return _skipped("nonInteractiveUser")
    if interactive is not None and interactive is not True:
        raise AdapterError("adapter_error", prefix + "isInteractive",
                           f"`{prefix}isInteractive` is {interactive!r}; expected true or false")
    code = _error_code(sign_in, prefix, envelope)
    if code in INTERRUPTS:
        name, why = INTERRUPTS[code]
        return f"errorCode {code} {name} is not a finished sign-in: {why}"
    when = sign_in.get("createdDateTime")
    if envelope is not None and (when is None or when == ""):
        when = envelope.get("time")  # the envelope's copy of the same instant
    login: dict[str, Any] = {
        "event_type": "vpn_login",
        "employee_id": identities.resolve(sign_in.get("userPrincipalName"), prefix + "userPrincipalName"),
        "ts": required({"createdDateTime": when}, prefix + "createdDateTime", "when it happened"),
        "src_ip": required(sign_in, prefix + "ipAddress", "where it came from"),
        "outcome": "success" if code == 0 else "failure",
        "source": "entra",
    }
    sign_in_id = text(sign_in.get("id"))
    if sign_in_id is not None:
        login["event_id"] = f"entra:{sign_in_id}:{code}"
    device = obj(sign_in, "deviceDetail", prefix)
    risks = _list(sign_in, "riskEventTypes_v2", prefix) + _list(sign_in, "riskEventTypes", prefix)
    optional = {
        "geo": _geo(obj(sign_in, "location", prefix)),
        "anonymizer": {"type": "vpn"} if ANONYMIZED in risks else None,
        "client": {"os": text(device.get("operatingSystem")),
                   "user_agent": text(sign_in.get("userAgent"), MAX_USER_AGENT)},
        "mfa": {"method": _factor(sign_in, prefix),
                "device_id": text(obj(sign_in, "authenticationAppDeviceDetails", prefix).get("deviceId"))},
        "device_id": text(device.get("deviceId")),
    }
    for key, value in optional.items():
        if (value := compact(value)) is not None:
            login[key] = value
    return [login]


def _skipped(kind: str) -> str:
    return f"{kind} sign-in: {SKIPPED_KINDS[kind]}"


def _error_code(sign_in: dict[str, Any], prefix: str, envelope: dict[str, Any] | None) -> int:
    """`status.errorCode` (Azure Monitor: else the envelope's `resultType`, the same code as text)."""
    path = prefix + "status.errorCode"
    code = obj(sign_in, "status", prefix).get("errorCode")
    if code is None and envelope is not None and "resultType" in envelope:
        path, code = "resultType", envelope["resultType"]
    if isinstance(code, int) and not isinstance(code, bool) and code >= 0:
        return code
    if isinstance(code, str) and code.strip().isdigit() and code.strip().isascii():
        return int(code.strip())
    raise AdapterError("adapter_error", path,
                       f"`{path}` is {shown(code)}; expected Entra's numeric status code (0 = success)")


def _geo(place: dict[str, Any]) -> dict[str, Any] | None:
    """`geo` from a signInLocation, or None when its country is not an ISO code (GeoIP then fills it)."""
    country = place.get("countryOrRegion")
    code = country.strip().upper() if isinstance(country, str) else None
    point = place.get("geoCoordinates")
    point = point if isinstance(point, dict) else {}
    return geo_of(code if code in COUNTRIES else None, place.get("state"), place.get("city"),
                  point.get("latitude"), point.get("longitude"))


def _factor(sign_in: dict[str, Any], prefix: str) -> str | None:
    """The method of the last authentication step that verified a factor (a password or a token claim is none)."""
    method = None
    for index, step in enumerate(_list(sign_in, "authenticationDetails", prefix)):
        if not isinstance(step, dict):
            path = f"{prefix}authenticationDetails[{index}]"
            raise AdapterError("adapter_error", path, f"`{path}` is {step!r}; expected an object")
        name = text(step.get("authenticationMethod"))
        if name is not None and name.casefold() not in NOT_FACTORS:
            method = name
    return method


def _list(parent: dict[str, Any], key: str, prefix: str) -> list[Any]:
    """`parent[key]` when it is a list, [] when absent or null; AdapterError when it is anything else."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise AdapterError("adapter_error", prefix + key, f"`{prefix}{key}` is {shown(value)}; expected a list")
    return value
