"""The project-managed local Kafka: it starts, carries messages, survives restarts, stops cleanly."""

import os
import time

import pytest

from telltales.streams.localkafka import LocalKafka, LocalKafkaError, broker_ready, port_is_free

TOPIC = "telemetry.vpn"
KEY = "emp-0042-é".encode("utf-8")  # raw UTF-8 employee id, not JSON-quoted (SPEC §3)
VALUE = b'{"event_type":"vpn_login","employee_id":"emp-0042-\xc3\xa9"}'


def _produce(bootstrap):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(TOPIC, key=KEY, value=VALUE).get(timeout=30)
    finally:
        producer.close()


def _consume_all(bootstrap):
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=10_000)
    try:
        for record in consumer:
            return [(record.key, record.value)]
        return []
    finally:
        consumer.close()


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.kafka
@pytest.mark.slow
def test_broker_carries_a_message_across_restarts_and_stops_cleanly():
    from kafka.admin import KafkaAdminClient, NewTopic

    kafka = LocalKafka()  # its own broker: restarting the shared one would disturb other tests
    try:
        kafka.start()
        port, data_dir = kafka.port, kafka.data_dir
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        try:
            admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        finally:
            admin.close()
        _produce(kafka.bootstrap)
        assert _consume_all(kafka.bootstrap) == [(KEY, VALUE)]

        kafka.restart()
        assert (kafka.port, kafka.data_dir) == (port, data_dir)
        assert _consume_all(kafka.bootstrap) == [(KEY, VALUE)]

        kafka.restart(hard=True)  # SIGKILL: acks=all with one replica still survives a crash
        assert _consume_all(kafka.bootstrap) == [(KEY, VALUE)]

        pid = kafka.pid
    finally:
        kafka.stop()
    assert _gone(pid)
    assert not broker_ready(port)
    assert port_is_free(port)
    assert not data_dir.exists()  # the temp dir it created is removed


@pytest.mark.kafka
def test_kill_leaves_data_for_a_restart():
    kafka = LocalKafka()
    try:
        kafka.start()
        pid, port = kafka.pid, kafka.port
        kafka.kill()
        deadline = time.monotonic() + 5
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid)
        assert not kafka.running()
        assert (kafka.data_dir / "kraft" / "meta.properties").exists()
        kafka.start()
        assert kafka.port == port and broker_ready(port)
    finally:
        kafka.stop()


def test_missing_maven_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(LocalKafkaError, match=r"`mvn` not found on PATH: install Apache Maven"):
        LocalKafka(cache_dir=tmp_path / "cache").fetch()


def test_missing_java_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(LocalKafkaError, match=r"`java` not found on PATH: install a Java 17\+"):
        LocalKafka(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data").start()


def test_bootstrap_before_start_is_a_clear_error():
    with pytest.raises(LocalKafkaError, match="not started"):
        LocalKafka().bootstrap
