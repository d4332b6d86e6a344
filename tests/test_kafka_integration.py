"""Topics and the decoder against the real broker: creation, partitions, cleanup policies, raw keys, DLQ."""

from __future__ import annotations

import msgspec
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from telltales.schemas import dlq
from telltales.schemas.config import parse
from telltales.schemas.decoder import Decoder
from telltales.schemas.rejections import Rejection
from telltales.streams.cli import main
from telltales.streams.topics import TopicError, create_topics, topic_specs

pytestmark = pytest.mark.kafka


def config_for(bootstrap: str, prefix: str, partitions: int = 3):
    names = {k: f"{prefix}{v}" for k, v in {"vpn": "telemetry.vpn", "remote_access": "telemetry.remote_access",
                                            "device": "telemetry.device", "employees": "directory.employees",
                                            "alerts": "siem.alerts", "dlq": "telltales.dlq"}.items()}
    topics = "\n".join(f'{k} = "{v}"' for k, v in names.items())
    return parse(f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[topics]\n{topics}\npartitions = {partitions}\n')


def test_topics_create_is_idempotent_with_partitions_and_policies(kafka_bootstrap, topic_prefix):
    config = config_for(kafka_bootstrap, topic_prefix)
    first = create_topics(config)
    assert set(first.values()) == {"created"} and len(first) == 6
    assert set(create_topics(config).values()) == {"exists"}

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        specs = {s.name: s for s in topic_specs(config)}
        described = {d["name"]: d for d in admin.describe_topics(list(specs))}
        assert {name: len(d["partitions"]) for name, d in described.items()} == {name: 3 for name in specs}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in specs]
        described_configs = admin.describe_configs(resources)["topic"]
        policies = {name: entries["cleanup.policy"]["value"] for name, entries in described_configs.items()}
        assert policies[config.topics.employees] == "compact"
        assert policies[config.topics.vpn] == "delete"
    finally:
        admin.close()


def test_topics_create_refuses_a_partition_mismatch(kafka_bootstrap, topic_prefix):
    create_topics(config_for(kafka_bootstrap, topic_prefix, partitions=2))
    with pytest.raises(TopicError, match=r"exists with 2 partitions; the config says 4"):
        create_topics(config_for(kafka_bootstrap, topic_prefix, partitions=4))


def test_topics_create_command_says_when_the_broker_is_unreachable(capsys, free_port):
    code = main(["topics", "create", "--bootstrap", f"127.0.0.1:{free_port}"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        f"telltales topics create: cannot reach Kafka at 127.0.0.1:{free_port} (no broker answered)")


def test_events_round_trip_through_a_topic_with_raw_keys(kafka_bootstrap, topic_prefix):
    config = config_for(kafka_bootstrap, topic_prefix, partitions=2)
    create_topics(config)
    topic = config.topics.vpn
    good = [{"employee_id": f"émp-{i}", "ts": "2026-03-02T09:00:00+01:00", "src_ip": f"203.0.113.{i}"}
            for i in range(5)]
    bad = [b'{"employee_id":"x","ts":"2026-03-02T09:00:00Z","src_ip":"300.1.1.1"}', b"\xff\xfe not json"]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for event in good:
        producer.send(topic, key=event["employee_id"].encode(), value=msgspec.json.encode(event))
    for raw in bad:
        producer.send(topic, key="émp-bad".encode(), value=raw)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, enable_auto_commit=False)
    records = []
    for record in consumer:  # stops after 5 s of silence, or as soon as everything has arrived
        records.append(record)
        if len(records) == 7:
            break
    consumer.close()
    assert len(records) == 7

    decoder = Decoder("vpn_login")
    decoded, envelopes = [], []
    for record in records:
        result = decoder.decode(record.value)
        if isinstance(result, Rejection):
            source = dlq.KafkaSource(topic=record.topic, partition=record.partition, offset=record.offset,
                                     key=dlq.decode_key(record.key))
            envelopes.append(dlq.envelope(record.value, result, source, time="2026-03-02T09:00:00Z"))
        else:
            assert record.key == result.employee_id.encode("utf-8")  # raw UTF-8 key, not JSON-quoted
            decoded.append(result)
    assert sorted(e.employee_id for e in decoded) == sorted(e["employee_id"] for e in good)
    assert sorted(e.code for e in envelopes) == ["bad_format", "not_utf8"]
    assert {e.source["key"] for e in envelopes} == {"émp-bad"}
