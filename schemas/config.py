"""The organisation config: one TOML file, every key documented with its default (see `deploy/telltales.example.toml`).

Unknown keys and bad values are refused with the key's full name. Secrets never live in
the TOML: a key ending in `_env` names an environment variable and one ending in `_file`
names a file that holds the secret (`resolve_secret`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Final, Literal

import msgspec
from msgspec import Meta

from .events import Latitude, Longitude

Positive = Annotated[float, Meta(gt=0)]
Score = Annotated[float, Meta(ge=0, le=100)]


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the key."""


class _Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class KafkaConfig(_Section):
    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "telltales"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None   # name of the environment variable holding the password
    sasl_password_file: str | None = None  # or a file holding it (e.g. a mounted Kubernetes Secret)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_key_password_env: str | None = None
    ssl_key_password_file: str | None = None


class TopicsConfig(_Section):
    vpn: str = "telemetry.vpn"
    remote_access: str = "telemetry.remote_access"
    device: str = "telemetry.device"
    employees: str = "directory.employees"
    alerts: str = "siem.alerts"
    dlq: str = "telltales.dlq"
    partitions: Annotated[int, Meta(ge=1, le=10_000)] = 8  # input topics are co-partitioned with this count
    replication_factor: Annotated[int, Meta(ge=1, le=32)] = 1
    telemetry_retention_hours: Annotated[float, Meta(gt=0)] = 7 * 24
    alerts_retention_hours: Annotated[float, Meta(gt=0)] = 30 * 24
    dlq_retention_hours: Annotated[float, Meta(gt=0)] = 14 * 24

    def telemetry(self) -> dict[str, str]:
        """Telemetry topic name → event type it carries."""
        return {self.vpn: "vpn_login", self.remote_access: "remote_session", self.device: "device_snapshot"}


class GeoipConfig(_Section):
    city_db: str | None = None  # path to a GeoIP2/GeoLite2 City MMDB; None: the bundled GeoLite2 (2018) if installed
    asn_db: str | None = None   # path to an ASN MMDB; None: no ASN enrichment beyond what events carry
    hosting_asns: list[Annotated[int, Meta(ge=0, le=4_294_967_295)]] = msgspec.field(default_factory=list)
    # ASNs of hosting/VPN providers: a login from one is marked anonymizer type "hosting"


class VantagePoint(_Section):
    lat: Latitude
    lon: Longitude
    name: str = ""


class NetworksConfig(_Section):
    office: list[str] = msgspec.field(default_factory=list)      # CIDRs of office networks (NAT egress)
    vpn_egress: list[str] = msgspec.field(default_factory=list)  # CIDRs of the organisation's own VPN egress

    def __post_init__(self) -> None:
        _check_cidrs("office", self.office)
        _check_cidrs("vpn_egress", self.vpn_egress)


class AllowlistsConfig(_Section):
    remote_tools: list[str] = msgspec.field(default_factory=list)  # approved for everyone (canonical ids or aliases)
    employees: list[str] = msgspec.field(default_factory=list)     # never raise findings for these ids
    ips: list[str] = msgspec.field(default_factory=list)           # CIDRs never treated as suspicious

    def __post_init__(self) -> None:
        _check_cidrs("ips", self.ips)


def _check_cidrs(name: str, cidrs: list[str]) -> None:
    for i, cidr in enumerate(cidrs):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{name}[{i}] {cidr!r} is not a CIDR network") from None


class DetectorConfig(_Section):
    enabled: bool = True
    mode: Literal["active", "shadow"] | None = None  # None: the detector's own status decides
    weight: Annotated[float, Meta(ge=0, le=100)] | None = None  # None: the detector's default weight
    params: dict[str, float | int | str | bool | list[str]] = msgspec.field(default_factory=dict)


class FusionConfig(_Section):
    half_life_hours: Positive = 72.0   # a signal's contribution halves every this many hours of event time
    create_threshold: Score = 50.0     # open a case when risk reaches this: two moderate independent tells
    close_threshold: Score = 25.0      # close it when risk decays below this
    case_ttl_hours: Positive = 14 * 24 # close a case with no new evidence after this long
    location_decimals: Annotated[int, Meta(ge=0, le=6)] = 2  # coarsen lat/lon in findings (2 ≈ 1 km)
    # Weight of independent tells agreeing on one foreign place (detectors/fusion.py); 0 turns the rule off.
    place_agreement_weight: Annotated[float, Meta(ge=0, le=1)] = 0.45


class DecodeConfig(_Section):
    max_event_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    late_tolerance_s: Annotated[float, Meta(ge=0)] = 3600.0  # older events are recorded but make no sequence signals


class DlqConfig(_Section):
    max_original_bytes: Annotated[int, Meta(ge=0, le=16 * 1024 * 1024)] = 64 * 1024


class RetentionConfig(_Section):
    employee_state_days: Positive = 90.0  # forget an employee's profile after this long without events
    correlation_window_hours: Positive = 72.0  # how long shared-infrastructure keys remember who used them


class WorkerConfig(_Section):
    app_id: str = "telltales"
    metrics_port: Annotated[int, Meta(ge=0, le=65535)] = 9464
    web_port: Annotated[int, Meta(ge=0, le=65535)] = 6066  # health endpoint
    store: str = "memory://"  # Faust table store, e.g. rocksdb:// for fast restarts
    data_dir: str = "./telltales-data"
    # A worker that stops heartbeating (crash, kill -9, a partitioned pod) keeps its partitions this long before
    # the group hands them to the others. The broker accepts 6 s and up (group.min.session.timeout.ms).
    session_timeout_s: Annotated[float, Meta(ge=6.0)] = 60.0
    # How long the broker may hold a fetch while the partitions it asks for are idle; records of busy partitions
    # wait behind it. Faust's fixed 1,500 ms put the event-to-finding p50 over a second; Kafka's own default is 500.
    fetch_max_wait_ms: Annotated[int, Meta(ge=10, le=30_000)] = 100
    # Offsets of processed records are committed this often (Faust's broker_commit_interval), on a rebalance and on
    # a graceful stop; a crash re-applies at most this much input, which event-id idempotence makes harmless.
    commit_interval_s: Annotated[float, Meta(gt=0.0, le=3600.0)] = 2.8


class Config(_Section):
    kafka: KafkaConfig = msgspec.field(default_factory=KafkaConfig)
    topics: TopicsConfig = msgspec.field(default_factory=TopicsConfig)
    geoip: GeoipConfig = msgspec.field(default_factory=GeoipConfig)
    vantage_points: dict[str, VantagePoint] = msgspec.field(default_factory=dict)
    networks: NetworksConfig = msgspec.field(default_factory=NetworksConfig)
    allowlists: AllowlistsConfig = msgspec.field(default_factory=AllowlistsConfig)
    detectors: dict[str, DetectorConfig] = msgspec.field(default_factory=dict)
    fusion: FusionConfig = msgspec.field(default_factory=FusionConfig)
    decode: DecodeConfig = msgspec.field(default_factory=DecodeConfig)
    dlq: DlqConfig = msgspec.field(default_factory=DlqConfig)
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    worker: WorkerConfig = msgspec.field(default_factory=WorkerConfig)


_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`(?: - at `\$(?P<path>[^`]*)`)?")
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")

SECRET_SUFFIXES: Final = ("_env", "_file")


def parse(text: str | bytes, *, origin: str = "config") -> Config:
    """Parse TOML text into a Config; raise ConfigError naming the key on any problem."""
    try:
        document = tomllib.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    # Tables keyed by a user's names (vantage point ids, detector ids) are checked one entry
    # at a time so an error can name the entry; msgspec reports dict keys only as [...].
    for section, entry_type in (("vantage_points", VantagePoint), ("detectors", DetectorConfig)):
        entries = document.get(section)
        if isinstance(entries, dict):
            for name, entry in entries.items():
                try:
                    msgspec.convert(entry, type=entry_type)
                except msgspec.ValidationError as exc:
                    raise ConfigError(f"{origin}: {_key_message(str(exc), prefix=f'{section}.{name}')}") from None
    try:
        return msgspec.convert(document, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{origin}: {_key_message(str(exc))}") from None


def load(path: str | Path | None) -> Config:
    """Load a config file; None gives every default."""
    if path is None:
        return Config()
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    return parse(text, origin=str(path))


def _key_message(reason: str, prefix: str = "") -> str:
    unknown = _UNKNOWN.search(reason)
    if unknown:
        return f"unknown key `{_join(prefix, _dotted(unknown['path'] or '', unknown['field']))}`"
    at = _AT.search(reason)
    if at:
        return f"bad value for `{_join(prefix, _dotted(at['path'], ''))}`: {reason[: at.start()]}"
    return f"bad value for `{prefix}`: {reason}" if prefix else reason


def _join(prefix: str, key: str) -> str:
    return ".".join(part for part in (prefix, key) if part)


def _dotted(path: str, leaf: str) -> str:
    parts = [p for p in re.split(r"\.|\[|\]", path) if p and not p.startswith("'")]
    keys = re.findall(r"\['([^']*)'\]|\.([A-Za-z0-9_]+)", path)
    names = [a or b for a, b in keys] if keys else parts
    return ".".join([*names, leaf] if leaf else names)


def resolve_secret(env: str | None, file: str | None, *, what: str) -> str | None:
    """Read a secret from the environment variable or file a config names; None when neither is set."""
    if env and file:
        raise ConfigError(f"{what}: set either the _env or the _file key, not both")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return value
    if file:
        try:
            return Path(file).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read secret file {file}: {exc.strerror}") from None
    return None
