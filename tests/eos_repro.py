"""Reproduction, not a test (pytest does not collect it): Faust's `processing_guarantee="exactly_once"`
with the telltales worker, on a local broker of its own.

    .venv/bin/python tests/eos_repro.py            # ~1-2 minutes

It runs the worker with the guarantee switched on over the worker tests' data set, kills
it (SIGKILL) mid-stream, restarts it, and reports:

1. whether the group's offsets were committed (Faust commits them inside per-partition
   transactions: `send_offsets_to_transaction`);
2. whether the records the worker wrote (findings, table changelogs) were written inside
   those transactions: a transactional write leaves a commit marker that takes an offset,
   so a topic written only outside transactions has exactly as many records as its end
   offsets add up to;
3. how many finding records a `read_committed` consumer sees more than once (same
   `metadata.uid`) after the kill — zero under exactly-once.

Seen here (2026-11, faust-streaming 0.15.3, aiokafka 0.14.0, Kafka 4.4.0): the worker runs
and drains; (1) yes; (2) no — e.g. "siem.alerts: 19 records, end offsets add up to 19: all
OUTSIDE transactions", the same for the state changelog; (3) 0 in that run, because the
worker already makes a redelivery a no-op (event-id memory, whole-value table writes),
not because of transactions.

Why (2) fails: the worker's `Outbox` (streams/app.py) hands whole record batches to
Faust's ordinary producer, not to the transactional producer Faust keeps per source
partition; Faust's own `Topic.send` path has open exactly-once bugs too
(faust-streaming/faust#177: records sent outside a transaction; #323: a crash with
duplicates on rebalance; #517: duplicates despite exactly_once). See deploy/OPERATIONS.md.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from telltales.streams.localkafka import LocalKafka  # noqa: E402
from telltales.streams.topics import create_topics  # noqa: E402
from test_worker import RunningWorker, as_kafka, data_set, lag, produce, wait_drained, worker_config  # noqa: E402

EXACTLY_ONCE_WORKER = """
import sys
from telltales.schemas.config import load
from telltales.streams import worker as w

make_app = w._make_app

def exactly_once_app(config, topology, *, web):
    app = make_app(config, topology, web=web)
    app.conf.processing_guarantee = "exactly_once"
    return app

w._make_app = exactly_once_app
config = load(sys.argv[1])
worker = w.Worker(config, web=False, loglevel="WARNING")
w.preflight(config, worker.topology)
sys.exit(worker.run())
"""


def committed_records(bootstrap: str, topic: str) -> tuple[list, int]:
    """(records a read_committed consumer sees, the sum of the topic's end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed")
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records, deadline = [], time.monotonic() + 30
        while any(consumer.position(tp) < end for tp, end in ends.items()) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records, sum(ends.values())
    finally:
        consumer.close()


def main() -> int:
    with LocalKafka() as broker, tempfile.TemporaryDirectory() as tmp:
        records, sim_toml = data_set()
        text, config = worker_config(broker.bootstrap, "eos.", sim_toml)
        text = text.replace("[worker]\n", "[worker]\nsession_timeout_s = 6\n")
        create_topics(config)
        produce(config, as_kafka([r for r in records if r["event_type"] == "employee"]))
        telemetry = as_kafka([r for r in records if r["event_type"] != "employee"])
        first_dir, second_dir = Path(tmp, "first"), Path(tmp, "second")
        first_dir.mkdir()
        second_dir.mkdir()
        first = RunningWorker(first_dir, text, script=EXACTLY_ONCE_WORKER)
        half = len(telemetry) // 2
        produce(config, telemetry[:half])
        deadline = time.monotonic() + 90
        while (lag(config) is None or lag(config) > half // 2) and time.monotonic() < deadline:
            assert first.proc.poll() is None, first.output()[-3000:]
            time.sleep(0.5)
        produce(config, telemetry[half:])
        time.sleep(1.0)
        first.proc.kill()
        first.proc.wait()
        first.stop()
        print(f"killed the first worker with {lag(config)} input records not committed")
        second = RunningWorker(second_dir, text, script=EXACTLY_ONCE_WORKER)
        try:
            wait_drained(config, second, timeout_s=120)
        finally:
            second.stop()
        print(f"1. offsets committed: lag {lag(config)} after the restart")
        for topic in (config.topics.alerts, f"{config.worker.app_id}-employee-state-changelog"):
            seen, end = committed_records(broker.bootstrap, topic)
            inside = "some inside transactions" if end > len(seen) else "all OUTSIDE transactions"
            print(f"2. {topic}: {len(seen)} records, end offsets add up to {end}: {inside}")
        findings, _ = committed_records(broker.bootstrap, config.topics.alerts)
        uids = collections.Counter(json.loads(r.value)["metadata"]["uid"] for r in findings)
        repeated = sum(n - 1 for n in uids.values() if n > 1)
        print(f"3. finding records seen more than once by a read_committed consumer: {repeated} "
              f"(of {len(findings)}; exactly-once would be 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
