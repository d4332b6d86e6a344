"""What the Kafka benchmarks share: a broker, the simulator's records, a config for them, producing, child processes.

Each benchmark runs every consumer (the worker, a baseline) in a fresh process of its own
(`run_child`, or `spawn_child` for one the benchmark talks to while it runs), so one run
cannot warm caches or leave state for the next; the children print one JSON line with
their results as the last line of their output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent

TOPIC_NAMES = {"vpn": "telemetry.vpn", "remote_access": "telemetry.remote_access", "device": "telemetry.device",
               "employees": "directory.employees", "alerts": "siem.alerts", "dlq": "telltales.dlq"}


@contextlib.contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The given broker, or a LocalKafka started for the benchmark and always stopped."""
    if bootstrap:
        yield bootstrap
        return
    from telltales.streams.localkafka import LocalKafka

    kafka = LocalKafka().start()
    try:
        yield kafka.bootstrap
    finally:
        kafka.stop()


class Record(NamedTuple):
    """One message of the simulator's organisation."""

    kind: str  # event type: vpn_login, remote_session, device_snapshot or employee
    key: bytes  # the employee id
    value: bytes
    ts_ms: int | None  # the event time (None for directory records)


def simulated(employees: int, days: int, seed: int) -> tuple[list[Record], int, str]:
    """The simulator's organisation as messages (directory, then telemetry in time order); telemetry count; config."""
    from telltales.streams.simulate import simulate
    from telltales.streams.topics import topic_value

    sim = simulate(employees=employees, days=days, seed=seed)
    records = [Record(type(e).__struct_config__.tag, e.employee_id.encode(), topic_value(e), None)
               for e in sim.employees]
    records += [Record(type(e.event).__struct_config__.tag, e.event.employee_id.encode(), topic_value(e.event), e.ts_ms)
                for e in sim.telemetry]
    return records, len(sim.telemetry), sim.config_toml


def with_topics(config_toml: str, bootstrap: str, prefix: str, partitions: int, app_id: str, **worker: str) -> str:
    """The simulator's config with this run's broker, topic names, app id and other [worker] settings.

    The simulator's config sets none of [kafka], [topics] or [worker]; it fails loudly if it ever does.
    """
    import tomllib

    document = tomllib.loads(config_toml)
    for section in ("kafka", "topics", "worker"):
        if section in document:
            raise SystemExit(f"simulator config unexpectedly sets [{section}]")
    topics = "\n".join(f'{k} = "{prefix}{v}"' for k, v in TOPIC_NAMES.items())
    settings = "".join(f"{k} = {json.dumps(v)}\n" for k, v in {"app_id": app_id, **worker}.items())
    return (f'[kafka]\nbootstrap_servers = "{bootstrap}"\n[topics]\n{topics}\npartitions = {partitions}\n'
            f'[worker]\n{settings}\n{config_toml}')


def event_topics(config) -> dict[str, str]:
    """Event type → the topic it is produced to."""
    return {"vpn_login": config.topics.vpn, "remote_session": config.topics.remote_access,
            "device_snapshot": config.topics.device, "employee": config.topics.employees}


async def produce(bootstrap: str, topics: dict[str, str], records: list[Record]) -> None:
    """Write the records as fast as the broker takes them (partitioned by key, as any Kafka client does)."""
    await send_all(bootstrap, ((topics[kind], value, key, None) for kind, key, value, _ in records))


async def send_all(bootstrap: str, messages: Iterable[tuple[str, bytes, bytes, int | None]],
                   max_batch_size: int = 256 * 1024) -> None:
    """Write (topic, value, key, partition or None) messages as fast as the broker takes them."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=max_batch_size,
                                acks=1, enable_idempotence=False)
    await producer.start()
    try:
        pending = []
        for topic, value, key, partition in messages:
            pending.append(await producer.send(topic, value, key=key, partition=partition))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_child(args: list[str], timeout_s: float, cwd: str | None = None, wrap: list[str] | None = None) -> dict:
    """Run `python *args` to its end; its last JSON line. In a scratch directory unless `cwd` is given.

    Faust makes its data directory (<app id>-data) in the working directory. `wrap` goes
    before the interpreter (a profiler's command line).
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as scratch:
        try:
            proc = subprocess.run([*(wrap or []), sys.executable, *args], capture_output=True, text=True,
                                  timeout=timeout_s, env=child_env(), cwd=cwd or scratch)
        except subprocess.TimeoutExpired as exc:
            raise SystemExit(f"benchmark child {args[:3]} still running after {timeout_s:.0f} s:\n"
                             f"{_text(exc.stdout)[-3000:]}\n{_text(exc.stderr)[-5000:]}") from None
    return child_result(args, proc.returncode, proc.stdout, proc.stderr)


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def child_result(args: list[str], returncode: int, stdout: str, stderr: str) -> dict:
    lines = [line[line.index("{"):] for line in stdout.splitlines() if line.startswith("{") or " {" in line]
    if returncode != 0 or not lines:
        raise SystemExit(f"benchmark child {args[:3]} failed ({returncode}):\n{stdout[-3000:]}\n{stderr[-5000:]}")
    return json.loads(lines[-1])


def run_faust(app, done: Callable[[], bool], timeout_s: float, *, interval_s: float = 0.2,
              loglevel: str = "WARNING") -> None:
    """Run `app` in Faust's worker (as `telltales worker` does) until `done()` or `timeout_s`; stops as SIGTERM does."""
    from telltales.streams.worker import faust_worker

    started = time.monotonic()

    @app.timer(interval_s)
    async def watch() -> None:
        if done() or time.monotonic() - started > timeout_s:
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(worker.stop()))

    # Faust's Worker without its spinner (which turns the root logger to DEBUG): the same for every consumer run.
    worker = faust_worker(app, loglevel=loglevel)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass


def rss_mib(pid: int | str = "self") -> dict[str, float]:
    """Resident set size now and at its peak (VmRSS, VmHWM) of a process, from /proc, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB
    return {"rss_mib": round(fields["VmRSS"], 1), "peak_rss_mib": round(fields["VmHWM"], 1)}


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages: other work shows in every number measured."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def records_written(bootstrap: str, topic: str, partitions: int) -> int:
    """How many records `topic` has taken so far (the sum of its partitions' end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return sum(consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)]).values())
    finally:
        consumer.close()


def state_changelog(config) -> str:
    """The worker's employee-state table changelog topic (Faust names it `<app id>-<table>-changelog`)."""
    return f"{config.worker.app_id}-employee-state-changelog"
