"""`telltales topics create`: every topic of SPEC section 3, idempotently, with the configured partitions."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Final

import msgspec

from telltales.schemas.config import Config, ConfigError, load
from telltales.schemas.events import EVENT_TYPES

from .kafka_client import KafkaUnavailable, admin_client

HOUR_MS = 3_600_000
_TAG_PREFIXES: Final = {t: b'{"event_type":"%s",' % t.encode() for t in EVENT_TYPES}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str]


class TopicError(RuntimeError):
    """A topic problem a person must fix (one line)."""


def topic_specs(config: Config) -> list[TopicSpec]:
    """The topics telltales reads and writes; input topics share one partition count (co-partitioned)."""
    t = config.topics

    def retention(hours: float) -> dict[str, str]:
        return {"cleanup.policy": "delete", "retention.ms": str(int(hours * HOUR_MS))}

    telemetry = retention(t.telemetry_retention_hours)
    return [
        TopicSpec(t.vpn, t.partitions, telemetry),
        TopicSpec(t.remote_access, t.partitions, telemetry),
        TopicSpec(t.device, t.partitions, telemetry),
        # Compacted: the latest record per employee is the directory; a tombstone erases.
        TopicSpec(t.employees, t.partitions, {"cleanup.policy": "compact"}),
        TopicSpec(t.alerts, t.partitions, retention(t.alerts_retention_hours)),
        TopicSpec(t.dlq, t.partitions, retention(t.dlq_retention_hours)),
    ]


def topic_value(event) -> bytes:
    """The Kafka value of an event: its JSON without `event_type` (the topic implies it)."""
    data = msgspec.json.encode(event)
    tag = type(event).__struct_config__.tag
    prefix = _TAG_PREFIXES[tag]
    if data.startswith(prefix):
        return b"{" + data[len(prefix):]
    document = json.loads(data)
    document.pop("event_type", None)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def topic_for(topics, event) -> str:
    """The topic of SPEC section 3 that carries `event` (a `TopicsConfig` names them)."""
    return {"vpn_login": topics.vpn, "remote_session": topics.remote_access, "device_snapshot": topics.device,
            "employee": topics.employees}[type(event).__struct_config__.tag]


def create_topics(config: Config, *, timeout_s: float = 15.0, bootstrap_timeout_s: float = 5.0) -> dict[str, str]:
    """Create missing topics; return name → "created" | "exists". Raise TopicError on a mismatch."""
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError

    specs = topic_specs(config)
    try:
        admin = admin_client(config.kafka, timeout_s=timeout_s, bootstrap_timeout_s=bootstrap_timeout_s)
    except KafkaUnavailable as exc:
        raise TopicError(str(exc)) from None
    try:
        existing = set(admin.list_topics())
        outcome: dict[str, str] = {}
        missing = [s for s in specs if s.name not in existing]
        if missing:
            new = [NewTopic(s.name, s.partitions, config.topics.replication_factor, topic_configs=s.configs)
                   for s in missing]
            admin.create_topics(new, timeout_ms=int(timeout_s * 1000), raise_errors=False, wait_for_metadata=True)
        present = {d["name"]: d for d in admin.describe_topics([s.name for s in specs])}
        for spec in specs:
            described = present.get(spec.name)
            if described is None or described.get("error_code", 0) != 0:
                raise TopicError(f"topic {spec.name} could not be created or described")
            partitions = len(described["partitions"])
            if partitions != spec.partitions:
                raise TopicError(f"topic {spec.name} exists with {partitions} partitions; the config says "
                                 f"{spec.partitions} (input topics must be co-partitioned): fix topics.partitions "
                                 "or recreate the topic")
            outcome[spec.name] = "created" if spec in missing else "exists"
        return outcome
    except KafkaError as exc:
        raise TopicError(f"Kafka at {config.kafka.bootstrap_servers}: {exc}") from None
    finally:
        admin.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    topics = subparsers.add_parser("topics", help="manage the Kafka topics telltales uses")
    actions = topics.add_subparsers(metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create every topic (idempotent; checks partition counts)")
    create.add_argument("--config", help="organisation config TOML (default: built-in defaults)")
    create.add_argument("--bootstrap", help="override kafka.bootstrap_servers")
    create.set_defaults(func=_run_create)


def _run_create(args: argparse.Namespace) -> int:
    try:
        config = load(args.config)
        if args.bootstrap:
            import msgspec.structs

            config = msgspec.structs.replace(
                config, kafka=msgspec.structs.replace(config.kafka, bootstrap_servers=args.bootstrap))
        outcome = create_topics(config)
    except (ConfigError, TopicError) as exc:
        print(f"telltales topics create: {exc}", file=sys.stderr)
        return 1
    for name, state in outcome.items():
        print(f"{name}\t{state}")
    return 0
