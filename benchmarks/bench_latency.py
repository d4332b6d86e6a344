"""Event-to-finding latency of the worker at half of its peak rate (SPEC section 8: p99 ≤ 1 s), one broker.

    python benchmarks/bench_latency.py [--employees 2000] [--days 14] [--seed 0] [--load 0.5]
                                       [--peak EVENTS_PER_S] [--bootstrap HOST:PORT]

Starts its own local Kafka unless --bootstrap is given. Two runs of the telltales worker
over the simulator's organisation (fixed seed), each in a fresh process on fresh topics:

1. Peak: the whole data set is written first, then the worker catches up on it
   (`bench_worker.py`'s worker run); its rate is the peak. Skipped with --peak.
2. Live: the directory is written and the worker started; once it has committed the
   directory (it is consuming), a producer writes the telemetry in time order at
   `--load` × peak events/s in real time, while a consumer in this process reads
   `siem.alerts` from the start.

The latency of a finding is the wall-clock time it reached the alerts consumer minus the
wall-clock time the producer handed over the event that caused it — both clocks in this
process, so it counts the producer's batching, the broker both ways, the worker's
buffering, detection and its output batching. The causing event is found through the
finding's `time`, which SPEC section 6 defines as the event time of its newest evidence:
the producer remembers when it sent each employee's event of each event time, and when
it sent the first event of each event time (for a cross-employee finding, whose newest
evidence is another employee's event). Create and Update findings are measured; Close
findings are not (a case closes when its risk has decayed, at a timer sweep on the
event-time clock, not because an event arrived), nor is a finding whose `time` matches no
produced event (counted as unmatched). A band drop (decay) is measured only when its time
is one of that employee's own events: a lazy sweep, run before fusing the evidence that
event brought. Otherwise the sweep timer emitted it at the newest event time read, some
other employee's event that did not cause it: counted, not measured (`decayed`).

Where the worker's CPU goes live: its CPU seconds (main thread, and Faust's consumer thread),
the Kafka requests it sent and the records of its own repartition topics, per 1,000 events.

Beside it, the worker's own histogram `telltales_event_to_finding_latency_seconds`
(from the triggering record's Kafka timestamp to the finding handed to the producer; for
a cross-employee finding, from the timestamp of the worker's own signals record, so it
leaves out the first repartition leg) is printed as bucket bounds, from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from kafkabench import (broker, child_env, child_result, event_topics, load_average, produce,  # noqa: E402
                        records_written, run_child, run_faust, simulated, state_changelog, with_topics)

CLOSE = 3  # OCSF activity_id of a Close finding
BAND_CHANGE = re.compile(r"risk band (\d+) → (\d+)")  # an Update's status_detail when its band changed


def decayed(finding: dict) -> bool:
    """An Update whose risk band went down: decay, found at a sweep.

    A timer sweep evaluates at the newest event time read, so its finding's `time` is that
    of the last event read, which did not cause it; a lazy sweep (before new evidence is
    fused) evaluates at the time of the event that brought the evidence.
    """
    change = BAND_CHANGE.fullmatch(finding.get("status_detail", ""))
    return change is not None and int(change[2]) < int(change[1])


def child_live(config_path: str, timeout_s: float, timeline_path: str | None = None) -> dict:
    """The worker as `telltales worker` runs it, until SIGTERM; then its counters and latency histogram."""
    from prometheus_client.parser import text_string_to_metric_families

    from telltales.schemas.config import load
    from telltales.streams.metrics import EVENT_TO_FINDING_LATENCY
    from telltales.streams.worker import Worker, preflight

    config = load(config_path)
    worker = Worker(config, web=False)
    worker.configure_gc()
    preflight(config, worker.topology)
    # Where the time goes: each telemetry record's age (now − its Kafka timestamp) when its fetch reaches the
    # agent, and when it is applied (after waiting in the time-order buffer).
    received: list[float] = []
    applied: list[float] = []
    telemetry = set(worker.topology.telemetry)
    take, process = worker.employee_batch, worker._process_partition

    cpu_at_first: list[float] = []  # the worker's CPU seconds when the first telemetry reached it

    async def employee_batch(batch) -> list:
        now = time.time() * 1000
        if not cpu_at_first and any(tp.topic in telemetry for tp in batch.records):
            cpu_at_first.append(time.process_time())
        received.extend(now - r.timestamp for tp, records in batch.records.items() if tp.topic in telemetry
                        for r in records)
        return await take(batch)

    def process_partition(partition: int, items: list) -> None:
        now = time.time() * 1000
        applied.extend(now - r.timestamp for tp, r in items if tp.topic in telemetry)
        process(partition, items)

    worker.employee_batch, worker._process_partition = employee_batch, process_partition
    requests = _count_requests()
    if timeline_path:
        timeline = _Timeline(worker)
    run_faust(worker.app, lambda: False, timeout_s)
    if timeline_path:
        timeline.write(timeline_path)
    buckets = {}
    for family in text_string_to_metric_families(worker.metrics.exposition().decode()):
        if family.name == EVENT_TO_FINDING_LATENCY:
            buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    counters = worker.counters
    return {"findings": dict(counters.findings), "events": sum(counters.events.values()),
            "batch": round(counters.records / max(1, counters.batches)), "unordered": counters.unordered,
            "cpu_s": round(time.process_time(), 1), "cpu_main_s": round(time.thread_time(), 1),
            "cpu_first_s": round(cpu_at_first[0], 1) if cpu_at_first else None, "requests": dict(requests),
            "record_age_ms": {stage: [round(percentile(sorted(ages), q)) if ages else None for q in (50, 99)]
                              for stage, ages in (("received", received), ("applied", applied))},
            "latency_buckets": buckets}


def _count_requests() -> Counter:
    """Kafka requests the worker's clients send, by type (Fetch, Produce, ...): each costs Python on both threads."""
    from aiokafka.client import AIOKafkaClient

    counts: Counter = Counter()
    send = AIOKafkaClient.send

    def counted(self, node_id, request, *args, **kwargs):
        counts[type(request).__name__.split("Request")[0]] += 1  # from two threads: approximate
        return send(self, node_id, request, *args, **kwargs)

    AIOKafkaClient.send = counted
    return counts


class _Timeline:
    """What the live worker did when, in wall-clock time (to line up with the findings' arrival times).

    Wraps the worker's steps, Faust's commit and producer flush, the cycle collector, and
    times the event loop's lateness; each entry is (start, seconds, step, detail).
    """

    LAG_PERIOD_S = 0.02

    def __init__(self, worker) -> None:
        import gc

        from faust.transport.drivers import aiokafka as faust_aiokafka

        from telltales.streams.app import BatchConsumer, Outbox

        self.entries: list[tuple[float, float, str, object]] = []
        entries = self.entries
        wall, mono = time.time, time.perf_counter

        def timed_async(owner, name, step, detail=lambda *a: None):
            original = getattr(owner, name)

            async def wrapper(*args, **kwargs):
                began, t0 = wall(), mono()
                try:
                    return await original(*args, **kwargs)
                finally:
                    entries.append((began, mono() - t0, step, detail(*args, **kwargs)))
            setattr(owner, name, wrapper)

        def timed(owner, name, step, detail=lambda *a: None):
            original = getattr(owner, name)

            def wrapper(*args, **kwargs):
                began, t0 = wall(), mono()
                try:
                    return original(*args, **kwargs)
                finally:
                    entries.append((began, mono() - t0, step, detail(*args, **kwargs)))
            setattr(owner, name, wrapper)

        timed_async(worker, "employee_batch", "employee_batch", lambda batch: len(batch))
        timed(worker, "key_batch", "key_batch", lambda batch: len(batch))
        timed(worker, "sweep", "sweep", lambda now: len(worker.open_cases.data))
        timed_async(worker, "_sweep_timer", "sweep_timer")
        timed_async(Outbox, "flush", "outbox_flush", lambda self, express_only=False: (len(self), express_only))
        timed_async(Outbox, "settled", "outbox_settled", lambda self: len(self._in_flight))
        timed_async(BatchConsumer, "commit", "commit", lambda self, *a, **k: self._n_acked)
        timed_async(faust_aiokafka.Producer, "flush", "producer_flush")
        timed_async(faust_aiokafka.Consumer, "_commit", "broker_commit")
        gc_started = {}

        def on_gc(phase, info):
            if phase == "start":
                gc_started["t"] = (wall(), mono())
            elif "t" in gc_started:
                began, t0 = gc_started.pop("t")
                entries.append((began, mono() - t0, f"gc{info['generation']}", info.get("collected")))
        gc.callbacks.append(on_gc)

        @worker.app.task
        async def loop_lag() -> None:
            while True:
                t0 = mono()
                await asyncio.sleep(self.LAG_PERIOD_S)
                late = mono() - t0 - self.LAG_PERIOD_S
                if late > 0.02:
                    entries.append((wall() - late, late, "loop_lag", None))

    def write(self, path: str) -> None:
        with open(path, "w") as f:
            f.writelines(json.dumps(entry) + "\n" for entry in self.entries)


def committed_all(bootstrap: str, group: str, topics: list[str], partitions: int) -> bool:
    """Has consumer group `group` committed every record of `topics` so far?"""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        ends = consumer.end_offsets(tps)
        return all((consumer.committed(tp) or 0) >= end for tp, end in ends.items())
    finally:
        consumer.close()


async def live(bootstrap: str, config, telemetry: list, rate: float) -> tuple[dict, list, float, float]:
    """Produce `telemetry` at `rate` events/s while reading the alerts topic.

    Returns the send times (by event time, and by employee id and event time), the findings
    with their arrival times, the seconds spent producing, and the seconds the worker then
    took to commit everything.
    """
    import orjson
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    # The reader is the stopwatch: it asks the broker to answer a fetch within 20 ms even when nothing is new, so
    # that a finding's arrival is not held back by the reader's own fetch (aiokafka's default waits up to 500 ms).
    alerts = AIOKafkaConsumer(config.topics.alerts, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                              enable_auto_commit=False, fetch_max_wait_ms=20)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1, enable_idempotence=False)
    await alerts.start()
    await producer.start()
    sent_at: dict[Any, float] = {}  # event time (ms), and (employee id, event time) → when handed to the producer
    findings: list[tuple[float, dict]] = []  # (arrival wall-clock time, finding)
    producing = True
    drained = 0.0  # when the worker had committed every telemetry record, after producing ended

    async def consume() -> None:
        quiet_since = None
        while True:
            batches = await alerts.getmany(timeout_ms=200)
            now = time.time()
            for records in batches.values():
                findings.extend((now, orjson.loads(r.value)) for r in records)
            if batches or not drained:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since > 10:
                return  # everything consumed, and nothing new for 10 s: the sweeps that could follow are not measured

    async def watch_commits() -> None:
        """In a thread of its own, so that the reader's arrival times never wait for it."""
        nonlocal drained
        group, topics, partitions = config.worker.app_id, list(config.topics.telemetry()), config.topics.partitions
        while producing or not await asyncio.to_thread(committed_all, bootstrap, group, topics, partitions):
            await asyncio.sleep(0.2)
        drained = time.perf_counter()

    reader = asyncio.create_task(consume())
    watcher = asyncio.create_task(watch_commits())
    topics = event_topics(config)
    began = time.perf_counter()
    try:
        pending = []
        for i, record in enumerate(telemetry):
            ahead = began + i / rate - time.perf_counter()
            if ahead > 0.002:
                await asyncio.sleep(ahead)
            now = time.time()
            sent_at.setdefault(record.ts_ms, now)
            sent_at.setdefault((record.key.decode(), record.ts_ms), now)
            pending.append(await producer.send(topics[record.kind], record.value, key=record.key))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        ended = time.perf_counter()
        producing = False
        await asyncio.wait_for(asyncio.gather(reader, watcher), timeout=600)
    finally:
        await producer.stop()
        await alerts.stop()
    return sent_at, findings, ended - began, drained - ended


def _own_topics(bootstrap: str, app_id: str) -> list[str]:
    """The worker's repartition topics (signals, keys-<kind>), not its tables' changelogs."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return sorted(t for t in consumer.topics() if t == f"{app_id}-signals" or
                      (t.startswith(f"{app_id}-keys-") and not t.endswith("-changelog")))
    finally:
        consumer.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def histogram_quantile(buckets: dict[str, float], q: float) -> str:
    """The smallest bucket bound below which at least q% of the observations fall."""
    total = buckets.get("+Inf", 0.0)
    if not total:
        return "n/a"
    for bound, count in sorted(buckets.items(), key=lambda b: float(b[0])):
        if count >= total * q / 100:
            return f"<= {float(bound):g} s"
    return "> last bucket"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--load", type=float, default=0.5, help="fraction of the peak rate to produce at (0.5)")
    parser.add_argument("--peak", type=float, help="peak events/s to use instead of measuring it in this run")
    parser.add_argument("--bootstrap", help="use this broker instead of starting a LocalKafka")
    parser.add_argument("--timeout", type=float, default=300.0, help="per worker run, seconds")
    parser.add_argument("--fetch-max-wait-ms", type=int,
                        help="the live worker's worker.fetch_max_wait_ms (default: the config's default, 100)")
    parser.add_argument("--samples",
                        help="write every measured finding (send time, arrival time, activity) as JSON lines")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--timeline", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "live":
        print(json.dumps(child_live(args.config, args.timeout, args.timeline)))
        return
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # leader elections of the fresh topics are retried
    with broker(args.bootstrap) as bootstrap:
        _bench(args, bootstrap)


def _config(sim_toml: str, bootstrap: str, partitions: int, role: str, **worker):
    """A config on fresh topics and a fresh app id (and `worker` settings); written to a file for the worker process."""
    from telltales.schemas.config import parse
    from telltales.streams.topics import create_topics

    toml = with_topics(sim_toml, bootstrap, f"l{uuid.uuid4().hex[:6]}.", partitions,
                       f"bench-{role}-{uuid.uuid4().hex[:8]}", **worker)
    config = parse(toml)
    create_topics(config)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(toml)
    return config, f.name


def _bench(args, bootstrap: str) -> None:
    records, telemetry_n, sim_toml = simulated(args.employees, args.days, args.seed)
    directory = [r for r in records if r.ts_ms is None]
    telemetry = [r for r in records if r.ts_ms is not None]
    print(f"simulated {args.employees:,} employees x {args.days} days (seed {args.seed}): {telemetry_n:,} telemetry "
          f"events; broker {bootstrap}; {args.partitions} partitions per topic; load average {load_average()}",
          flush=True)

    peak = args.peak
    if peak is None:
        config, path = _config(sim_toml, bootstrap, args.partitions, "peak")
        try:
            asyncio.run(produce(bootstrap, event_topics(config), records))
            result = run_child([str(HERE / "bench_worker.py"), "--child", "worker", "--config", path, "--events",
                                str(telemetry_n), "--timeout", str(args.timeout)], args.timeout + 60)
        finally:
            os.unlink(path)
        peak = result["rate"]
        written = records_written(bootstrap, state_changelog(config), args.partitions)
        print(f"peak (catch-up over the backlog): {result['events']:,} events in {result['seconds']:.2f} s = "
              f"{peak:,.0f} events/s; {result['findings']} findings; {written:,} employee-state changelog records "
              f"(one per {telemetry_n / max(written, 1):.1f} events)", flush=True)
    rate = args.load * peak

    wait = {} if args.fetch_max_wait_ms is None else {"fetch_max_wait_ms": args.fetch_max_wait_ms}
    config, path = _config(sim_toml, bootstrap, args.partitions, "live", **wait)
    out, err = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    scratch = tempfile.TemporaryDirectory(prefix="bench-latency-")
    child_args = [str(Path(__file__).resolve()), "--child", "live", "--config", path, "--timeout",
                  str(args.timeout + 120)]
    if args.samples:  # what the worker did when, beside the findings
        child_args += ["--timeline", str(Path(args.samples).resolve()) + ".worker"]
    print(f"the worker's fetch wait: worker.fetch_max_wait_ms = {config.worker.fetch_max_wait_ms}", flush=True)
    child = subprocess.Popen([sys.executable, *child_args], stdout=out, stderr=err, env=child_env(),
                             cwd=scratch.name)
    try:
        asyncio.run(produce(bootstrap, event_topics(config), directory))
        started = time.monotonic()
        while not committed_all(bootstrap, config.worker.app_id, [config.topics.employees], args.partitions):
            if child.poll() is not None or time.monotonic() - started > 120:
                raise SystemExit("the worker did not consume the directory within 120 s")
            time.sleep(0.5)
        print(f"worker consuming after {time.monotonic() - started:.1f} s; producing {telemetry_n:,} events at "
              f"{rate:,.0f} events/s ({args.load:g} x peak)", flush=True)
        cpu = time.process_time()
        sent_at, findings, seconds, drain = asyncio.run(live(bootstrap, config, telemetry, rate))
        cpu = time.process_time() - cpu
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=120)
        out.seek(0)
        err.seek(0)
        worker = child_result(child_args, child.returncode, out.read(), err.read())
        scratch.cleanup()
        os.unlink(path)
    print(f"produced at {telemetry_n / seconds:,.0f} events/s ({seconds:.1f} s); the worker had committed every "
          f"event {drain:.1f} s after the last was produced (offsets are committed every few seconds; sustained "
          f"{telemetry_n / (seconds + drain):,.0f} events/s); it applied {worker['events']:,} events (directory "
          f"included) in batches of "
          f"{worker['batch']:,} records on average, published {sum(worker['findings'].values())} findings; "
          f"unordered applications (TOPIC_WAIT_S): {worker['unordered']}", flush=True)
    written = records_written(bootstrap, state_changelog(config), args.partitions)
    print(f"employee-state changelog records: {written:,} (one per {telemetry_n / max(written, 1):.1f} events)",
          flush=True)
    print("records of the worker's own topics per 1,000 telemetry events: " + ", ".join(
        f"{topic[len(config.worker.app_id) + 1:]} "
        f"{records_written(bootstrap, topic, args.partitions) * 1000 / telemetry_n:.0f}"
        for topic in _own_topics(bootstrap, config.worker.app_id)), flush=True)
    print(f"CPU: this process (producer and alerts reader) {cpu:.1f} s, the worker process {worker['cpu_s']:.1f} s "
          f"(from its start; {worker['cpu_first_s']} s before the first telemetry; main thread "
          f"{worker['cpu_main_s']} s, the rest Faust's consumer thread), over {seconds + drain:.1f} s of producing and "
          f"draining, on {os.cpu_count()} cores; load average {load_average()}", flush=True)
    print("Kafka requests the worker sent, per 1,000 telemetry events: " + ", ".join(
        f"{kind} {count * 1000 / telemetry_n:.1f}" for kind, count in sorted(worker["requests"].items(),
                                                                            key=lambda kv: -kv[1])[:4]), flush=True)
    ages = worker["record_age_ms"]
    print("telemetry record age (now - Kafka timestamp) in the worker, p50/p99: when its fetch reached the agent "
          f"{ages['received'][0]}/{ages['received'][1]} ms, when applied {ages['applied'][0]}/{ages['applied'][1]} ms",
          flush=True)
    _report(sent_at, findings, worker["latency_buckets"], args.samples)


def _report(sent_at: dict, findings: list[tuple[float, dict]], buckets: dict[str, float],
            samples_path: str | None) -> None:
    caused = []  # findings an event caused
    swept = []  # band drops a timer sweep emitted, measured from the event of their time (which did not cause them)
    samples = []
    unmatched = closes = 0
    for arrived, finding in findings:
        if finding["activity_id"] == CLOSE:
            closes += 1
            continue
        own = sent_at.get((finding["actor"]["user"]["uid"], finding["time"]))
        sent = own if own is not None else sent_at.get(finding["time"])
        if sent is None:
            unmatched += 1
            continue
        timer = decayed(finding) and own is None
        (swept if timer else caused).append(arrived - sent)
        samples.append({"sent": sent, "arrived": arrived, "activity_id": finding["activity_id"], "timer_sweep": timer,
                        "employee": finding["actor"]["user"]["uid"], "reason": finding.get("status_detail"),
                        "detectors": [e["data"]["detector"] for e in finding.get("evidences", ())]})
    if samples_path:
        with open(samples_path, "w") as f:
            f.writelines(json.dumps(sample) + "\n" for sample in samples)
    print(f"findings on siem.alerts: {len(findings)} ({closes} Close and {len(swept)} band drops at a timer sweep: "
          f"caused by no event, not measured; {unmatched} Create/Update matching no produced event)")
    if caused:
        caused.sort()
        print(f"event-to-finding latency, end to end, {len(caused)} Create/Update findings an event caused: "
              f"p50 {percentile(caused, 50):.3f} s, p99 {percentile(caused, 99):.3f} s, "
              f"max {caused[-1]:.3f} s (target p99 <= 1 s)")
    if swept:
        every = sorted(caused + swept)
        print(f"  with the timer's band drops measured from the last event read before them: p99 "
              f"{percentile(every, 99):.3f} s, max {every[-1]:.3f} s")
    print(f"worker histogram ({buckets.get('+Inf', 0):.0f} observations): p50 {histogram_quantile(buckets, 50)}, "
          f"p99 {histogram_quantile(buckets, 99)}")


if __name__ == "__main__":
    main()
