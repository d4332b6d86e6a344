"""The batch consumer (streams/app.py) at the edges of a rebalance: a seek or a stopped flow right after a fetch.

After a rebalance Faust seeks the input partitions to their committed offsets while the
drain loop goes on fetching, and which of the two the consumer thread runs first is a
matter of timing (deploy/OPERATIONS.md: two workers starting together); a rebalance can
likewise stop the flow while a fetch reads a table's changelog. Here a consumer
performs that same seek, or stops the flow, at the worst moment on purpose — a fetch has
returned, its records are not yet delivered — on a real broker, in a Faust worker of its own (a subprocess:
Faust's worker owns its event loop and signal handlers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

pytestmark = pytest.mark.kafka

TESTS = Path(__file__).resolve().parent
RECORDS = 100
PER_FETCH = 10  # records per fetch (broker_max_poll_records): the stream spans several fetches
CHILD_TIMEOUT_S = 30.0


def test_a_seek_between_a_fetch_and_its_delivery_commits_nothing_the_agent_has_not_acked(kafka_bootstrap,
                                                                                          topic_prefix, tmp_path):
    topic = f"{topic_prefix}in"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(RECORDS):
        producer.send(topic, str(n).encode())
    producer.flush()
    producer.close()

    out = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from test_batch_consumer import child; child(*sys.argv[1:])",
         kafka_bootstrap, topic, f"{topic_prefix}app", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S + 60)
    assert child.returncode == 0 and out.exists(), child.stdout[-3000:] + child.stderr[-3000:]
    result = json.loads(out.read_text())
    held = result["held"]

    assert held and (result["seek_before"] or -1) > held[-1], result  # the seek came after the held ones were fetched
    assert result["skipped"] == [], result  # no commit passed an offset the agent had not acked ...
    assert result["commits"][-1:] == [RECORDS], result  # ... and everything was committed in the end,
    assert sum(first <= held[0] <= last for first, last in result["deliveries"]) >= 2, result  # held ones refetched


def app_with_consumer(consumer: type, app_id: str, **settings):
    """A `BatchApp` whose transport makes `consumer` (a test's `BatchConsumer` subclass) its consumer."""
    from telltales.streams.app import BatchApp, BatchTransport

    class Transport(BatchTransport):
        Consumer = consumer

    class App(BatchApp):
        def _new_transport(self) -> Transport:
            return Transport(self.conf.broker_consumer, self)

    return App(app_id, **settings)


def child(bootstrap: str, topic: str, app_id: str, out: str) -> None:
    """A Faust worker whose agent holds one batch unacked and whose consumer seeks right after the next fetch.

    The agent acks and commits its first batch (so the committed offset is past 0, as after
    any earlier generation), then keeps the second batch without acking it (as the employee
    agent keeps telemetry waiting for another topic) and acks everything else. Every commit
    is checked against the offsets acked by then; the result goes to `out` as JSON.
    """
    import asyncio

    from faust.types import TP

    from telltales.streams.app import BatchConsumer
    from telltales.streams.worker import faust_worker

    tp = TP(topic, 0)
    acked: set[int] = set()
    result: dict = {"held": [], "seek_before": None, "deliveries": [], "commits": [], "skipped": []}

    class SeekingConsumer(BatchConsumer):
        async def _wait_next_records(self, timeout: float):
            records, active = await super()._wait_next_records(timeout)
            fetched = records.get(tp) if records else None
            if fetched and result["held"] and result["seek_before"] is None and fetched[0].offset > result["held"][-1]:
                result["seek_before"] = fetched[0].offset
                await self.perform_seek()  # the seek that ends a recovery, between this fetch and its delivery
            return records, active

        async def _commit(self, offsets) -> bool:
            for offset in offsets.values():
                result["commits"].append(offset)
                result["skipped"] = sorted({*result["skipped"], *(o for o in range(offset) if o not in acked)})
            return await super()._commit(offsets)

    app = app_with_consumer(SeekingConsumer, app_id, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                     broker_max_poll_records=PER_FETCH, broker_commit_interval=0.3,
                     consumer_auto_offset_reset="earliest", topic_partitions=1)

    @app.agent(app.batch_topic(topic))
    async def agent(stream):
        async for batch in stream:
            if app.current_batch_is_stale(batch):
                app.drop(batch)
                continue
            offsets = [record.offset for record in batch.records[tp]]
            result["deliveries"].append([offsets[0], offsets[-1]])
            if not acked:
                acked.update(offsets)
                app.ack(batch)
                await app.consumer.commit()
            elif not result["held"]:
                result["held"] = offsets
                app.release(batch)
            else:
                acked.update(offsets)
                app.ack(batch)

    started = time.monotonic()

    @app.timer(0.2)
    async def watch() -> None:
        if (result["commits"] and result["commits"][-1] >= RECORDS) or time.monotonic() - started > CHILD_TIMEOUT_S:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(worker.stop()))

    worker = faust_worker(app, loglevel="WARNING")
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
    Path(out).write_text(json.dumps(result))


CHANGELOG_RECORDS = 20


def test_changelog_records_of_a_fetch_dropped_by_a_rebalance_are_fetched_again(kafka_bootstrap, topic_prefix,
                                                                                 tmp_path):
    """A rebalance that stops the flow while a fetch reads a table's changelog must not lose those records.

    The drain loop drops such a fetch (as Faust does) and seeks only the input partitions
    back; before the fix the changelog's records were gone and the recovery waited for them
    forever (deploy/OPERATIONS.md: the hang after a two-worker hand-over).
    """
    app_id = f"{topic_prefix}app"
    changelog = f"{app_id}-states-changelog"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(f"{topic_prefix}in", num_partitions=1, replication_factor=1),
                             NewTopic(changelog, num_partitions=1, replication_factor=1,
                                      topic_configs={"cleanup.policy": "compact"})])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for n in range(CHANGELOG_RECORDS):
        producer.send(changelog, key=json.dumps(f"k{n}").encode(), value=json.dumps(f"v{n}").encode())
    producer.flush()
    producer.close()

    out = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from test_batch_consumer import recovering_child; "
         "recovering_child(*sys.argv[1:])", kafka_bootstrap, f"{topic_prefix}in", app_id, str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S + 60)
    assert child.returncode == 0 and out.exists(), child.stdout[-3000:] + child.stderr[-3000:]
    result = json.loads(out.read_text())

    assert result["dropped"] and result["dropped"][0] == 0, result  # the stopped flow dropped a changelog fetch ...
    assert result["recovered"], result  # ... and the recovery still ended,
    assert result["table"] == {f"k{n}": f"v{n}" for n in range(CHANGELOG_RECORDS)}, result  # with every record


def recovering_child(bootstrap: str, topic: str, app_id: str, out: str) -> None:
    """A Faust worker recovering a table whose consumer stops the flow right after a fetch returns changelog records.

    Stopping the flow is what a rebalance starting at that moment does; the flow resumes
    half a second later, as the next recovery would resume it. The result goes to `out`.
    """
    import asyncio
    import threading

    from telltales.streams.app import BatchConsumer
    from telltales.streams.worker import faust_worker

    result: dict = {"dropped": [], "recovered": False, "table": {}}

    class StoppingConsumer(BatchConsumer):
        async def _wait_next_records(self, timeout: float):
            records, active = await super()._wait_next_records(timeout)
            changelog = [r.offset for tp, rs in (records or {}).items() if tp.topic.endswith("-changelog") for r in rs]
            if changelog and not result["dropped"]:
                result["dropped"] = changelog
                self.stop_flow()
                asyncio.get_running_loop().call_later(0.5, self.resume_flow)
            return records, active

    app = app_with_consumer(StoppingConsumer, app_id, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                      consumer_auto_offset_reset="earliest", topic_partitions=1)
    table = app.Table("states", partitions=1)

    @app.agent(app.batch_topic(topic))
    async def agent(stream):
        async for batch in stream:
            app.ack(batch)

    def stop() -> None:
        result["table"] = dict(table.data.items())
        asyncio.ensure_future(worker.stop())

    def watch() -> None:
        """Stop the worker once recovered or timed out (a thread: an app timer did not run while recovery hung)."""
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while time.monotonic() < deadline and not result["recovered"]:
            time.sleep(0.2)
            result["recovered"] = bool(result["dropped"]) and app.tables.recovery.completed.is_set()
        app.loop.call_soon_threadsafe(stop)

    threading.Thread(target=watch, daemon=True).start()

    worker = faust_worker(app, loglevel="WARNING")
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
    Path(out).write_text(json.dumps(result))
