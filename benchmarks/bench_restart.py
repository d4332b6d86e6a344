"""Cold and warm restart of the worker holding 100,000 employees' state, and its RSS (SPEC section 8).

    python benchmarks/bench_restart.py [--employees 100000] [--partitions 8] [--stores memory,rocksdb]
                                       [--bootstrap HOST:PORT]

Targets: warm restart ≤ 30 s and ≤ 1 GB RSS at 100,000 employees. Starts its own local
Kafka unless --bootstrap is given.

The state is built, not invented: the simulator's organisation (2,000 employees × 14
days, seed 0) runs through the detection core (`Pipeline`, as `telltales replay`), and
each of its employees' final state, directory record, open case and correlation-key
states are copied under new names until there are `--employees` employees: employee
`emp-NNNNN` gets the state of source employee NNNNN mod 2,000 with its own id written in
(ids have one width, so the msgpack stays valid), and key values get a copy suffix. So
the sizes are those of real 14-day states, though other employees named inside a state
(farm groups) and inside a key state (members) stay the source's. These records are
written to the worker's table changelogs (`<app id>-<table>-changelog`, one record per
key — a fully compacted changelog; `--versions K` writes every employee state K times, as
a changelog that compaction has not caught up with), partitioned as the worker writes
them.

Then the worker (`telltales worker`'s `Worker`, each in a fresh process) starts with the
config's store, up to three times, each time after one new telemetry event (a probe) was
written to `telemetry.vpn`:

- cold, `memory://`: nothing local; every table recovered from its changelog;
- cold, `rocksdb://`: an empty data directory; recovered into RocksDB;
- warm, `rocksdb://`: the same data directory again, as a restarted pod with its volume.

"Ready" is the first telemetry event applied after the start (the probe: Faust starts
agents only once table recovery is complete, so the worker is then consuming with all of
its state); times are from spawning the process, so interpreter start and imports count.
Recovery-complete (Faust's recovery event) is shown beside it. RSS is the worker
process's VmRSS from /proc/self/status at that moment (VmHWM: its peak so far). The
worker checks that its tables hold every record written, and stops as SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from kafkabench import (broker, child_env, child_result, load_average, rss_mib, run_faust, send_all,  # noqa: E402
                        with_topics)

SOURCE_EMPLOYEES = 2_000  # the simulated organisation the states are taken from
SOURCE_DAYS = 14
ID = re.compile(r"emp-\d{5}")  # the simulator's ids: one width, so a copy's id replaces the source's byte for byte
KEY_SEPARATOR = b"\x1f"  # the worker's key-table key: detector id, separator, key value


Changelogs = dict[str, list[tuple[int, bytes, bytes]]]  # table name → records (partition, key, value)


def build_tables(employees: int, partitions: int, seed: int) -> tuple[Changelogs, str, dict]:
    """Table name → changelog records (partition, key, value) for `employees` employees; the config TOML; stats.

    The stats hold the state sizes and a VPN login of emp-00000 (the probe's template; its source's, renamed).
    """
    from telltales.schemas.config import parse
    from telltales.streams.app import key_partition
    from telltales.streams.replay import Pipeline
    from telltales.streams.simulate import simulate
    from telltales.streams.topics import topic_value

    if employees > 100_000:
        raise SystemExit("--employees: at most 100,000 (ids emp-00000 … emp-99999 keep the source ids' width)")
    sim = simulate(employees=SOURCE_EMPLOYEES, days=SOURCE_DAYS, seed=seed)
    pipeline = Pipeline(parse(sim.config_toml), emit=lambda finding: None)
    for record in sim.employees:
        pipeline.directory(record)
    for event in sim.telemetry:
        pipeline.telemetry(event.event)
    engine = pipeline.engine
    sources = sorted(pipeline.employees)
    if not all(ID.fullmatch(e) for e in sources):
        raise SystemExit("the simulator's employee ids changed form; this benchmark copies states by id")
    states = {e: engine.encode_state(s) for e, s in pipeline.states.items()}
    directory = {r.employee_id: topic_value(r) for r in sim.employees}

    tables: Changelogs = {"employee-state": [], "directory": [], "open-cases": []}
    for n in range(employees):
        source = sources[n % len(sources)]
        employee_id = f"emp-{n:05d}"
        key = employee_id.encode()
        partition = key_partition(key, partitions)
        rename = (source.encode(), key)
        if source in states:
            tables["employee-state"].append((partition, key, states[source].replace(*rename)))
        tables["directory"].append((partition, key, directory[source].replace(*rename)))
        if source in pipeline.open_cases:
            tables["open-cases"].append((partition, key, str(partition).encode()))
    for _, _, value in tables["employee-state"]:
        engine.decode_state(value)  # a copy must be a state the worker can read (raises if not)
    copies = math.ceil(employees / len(sources))
    for (detector, kind, value), state in pipeline.key_states.items():
        encoded = engine.encode_key_state(state)
        for copy in range(copies):
            copied = value if copy == 0 else f"{value}~{copy}"
            tables.setdefault(f"keys-{kind}", []).append(
                (key_partition(copied.encode(), partitions), detector.encode() + KEY_SEPARATOR + copied.encode(),
                 encoded))
    sizes = sorted(len(v) for v in states.values())
    stats = {"source_states": len(sizes), "state_p50": sizes[len(sizes) // 2],
             "state_p99": sizes[int(len(sizes) * 0.99)], "state_max": sizes[-1],
             "state_mean": round(statistics.fmean(sizes)),
             "vpn_login": next(topic_value(e.event) for e in sim.telemetry if e.event.employee_id == sources[0]
                               and type(e.event).__name__ == "VpnLogin").replace(sources[0].encode(), b"emp-00000")}
    return tables, sim.config_toml, stats


async def write_changelogs(bootstrap: str, app_id: str, tables: Changelogs, partitions: int, versions: int) -> None:
    """Create the tables' changelog topics (compacted, as Faust creates them) and write the records."""
    from kafka.admin import KafkaAdminClient, NewTopic

    names = {f"{app_id}-{table}-changelog" for table in tables}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs={"cleanup.policy": "compact"})
                             for name in names])
        deadline = time.monotonic() + 30
        while not names <= set(admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.2)  # until the broker lists them: producing sooner logs metadata errors
    finally:
        admin.close()
    await send_all(bootstrap, ((f"{app_id}-{table}-changelog", value, key, partition)
                               for table, records in tables.items()
                               for _ in range(versions if table == "employee-state" else 1)
                               for partition, key, value in records), max_batch_size=512 * 1024)


def probe(bootstrap: str, topic: str, template: bytes, n: int) -> None:
    """A simulated VPN login of emp-00000 again with a fresh event id and time, for the restarted worker to apply."""
    from kafka import KafkaProducer

    event = {**json.loads(template), "event_id": f"restart-probe-{n}",
             "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, json.dumps(event).encode(), key=b"emp-00000").get(timeout=30)
    finally:
        producer.close()


def child_restart(config_path: str, expect: dict[str, int], timeout_s: float) -> dict:
    """Start the worker; once it applied its first telemetry event, read RSS and table sizes, then stop it."""
    from telltales.schemas.config import load
    from telltales.streams.worker import Worker, preflight

    entered = time.time()
    config = load(config_path)
    worker = Worker(config, web=False)
    worker.configure_gc()
    preflight(config, worker.topology)
    marks: dict = {"entered": entered}
    apply = worker.employee_batch
    counters = worker.counters

    tables = {"employee-state": worker.states, "directory": worker.directory, "open-cases": worker.open_cases,
              **{f"keys-{kind}": table for kind, table in worker.key_tables.items()}}

    async def timed(batch) -> list:
        done = await apply(batch)
        telemetry = sum(counters.events.values()) - counters.events["employee"] + counters.duplicates + \
            sum(counters.rejected.values())
        if telemetry and "ready" not in marks:
            marks["ready"] = time.time()
            marks.update(rss_mib())
            # Counted while the worker runs: a RocksDB store shows the partitions assigned to it.
            marks["tables"] = {name: sum(1 for _ in tables[name].data.keys()) for name in expect}
        return done

    worker.employee_batch = timed

    @worker.app.task
    async def recovered() -> None:
        await worker.app.tables.recovery.completed.wait()
        marks["recovered"] = time.time()

    run_faust(worker.app, lambda: "ready" in marks, timeout_s, interval_s=0.05)
    if "ready" not in marks:
        raise SystemExit(f"the worker applied no event within {timeout_s:.0f} s")
    marks["applied"] = {"events": sum(counters.events.values()), "duplicates": counters.duplicates,
                        "rejected": sum(counters.rejected.values())}
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="of the simulated organisation the states come from")
    parser.add_argument("--versions", type=int, default=1, help="records per employee state in its changelog")
    parser.add_argument("--stores", default="memory,rocksdb", help="memory, rocksdb or both (comma-separated)")
    parser.add_argument("--bootstrap", help="use this broker instead of starting a LocalKafka")
    parser.add_argument("--timeout", type=float, default=300.0, help="per worker start, seconds")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--expect", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "restart":
        print(json.dumps(child_restart(args.config, json.loads(args.expect), args.timeout)))
        return
    import logging

    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # leader elections of the fresh topics are retried
    with broker(args.bootstrap) as bootstrap:
        _bench(args, bootstrap)


def _bench(args, bootstrap: str) -> None:
    from telltales.schemas.config import parse
    from telltales.streams.topics import create_topics

    began = time.perf_counter()
    tables, sim_toml, stats = build_tables(args.employees, args.partitions, args.seed)
    counts = {name: len(records) for name, records in tables.items()}
    print(f"state of {args.employees:,} employees from {stats['source_states']:,} simulated ones "
          f"({SOURCE_EMPLOYEES:,} x {SOURCE_DAYS} days, seed {args.seed}) in {time.perf_counter() - began:.1f} s; "
          f"employee state msgpack p50 {stats['state_p50']} B, p99 {stats['state_p99']} B, "
          f"max {stats['state_max']} B, mean {stats['state_mean']} B", flush=True)
    size = {name: sum(len(k) + len(v) for _, k, v in records) for name, records in tables.items()}
    print("tables: " + ", ".join(f"{name} {counts[name]:,} ({size[name] / 2**20:.1f} MiB)" for name in tables),
          flush=True)
    app_id = f"bench-restart-{uuid.uuid4().hex[:8]}"
    prefix = f"r{uuid.uuid4().hex[:6]}."
    work = Path(tempfile.mkdtemp(prefix="bench-restart-"))
    try:
        stores = args.stores.split(",")
        configs = {}
        for store in stores:
            toml = with_topics(sim_toml, bootstrap, prefix, args.partitions, app_id, store=f"{store}://",
                               data_dir=str(work / store))
            configs[store] = work / f"{store}.toml"
            configs[store].write_text(toml)
        config = parse(configs[stores[0]].read_text())
        create_topics(config)
        began = time.perf_counter()
        asyncio.run(write_changelogs(bootstrap, app_id, tables, args.partitions, args.versions))
        written = sum(counts.values()) + (args.versions - 1) * counts["employee-state"]
        print(f"broker {bootstrap}: wrote {written:,} changelog records in {time.perf_counter() - began:.1f} s "
              f"({args.versions} per employee state); {args.partitions} partitions per topic; load average "
          f"{load_average()}", flush=True)
        del tables
        runs = [("cold", store) for store in stores] + [("warm", "rocksdb")] * ("rocksdb" in stores)
        for n, (start, store) in enumerate(runs):
            probe(bootstrap, config.topics.vpn, stats["vpn_login"], n)
            result = _start(configs[store], counts, args.timeout, work)
            _show(start, store, result, counts)
        print(f"load average {load_average()}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _start(config_path: Path, counts: dict[str, int], timeout_s: float, work: Path) -> dict:
    """One worker start in a fresh process, timed from the spawn."""
    args = [str(Path(__file__).resolve()), "--child", "restart", "--config", str(config_path), "--expect",
            json.dumps(counts), "--timeout", str(timeout_s)]
    spawned = time.time()
    try:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout_s + 60,
                              env=child_env(), cwd=work)
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"worker start did not finish in {timeout_s + 60:.0f} s:\n{exc.stderr}") from None
    result = child_result(args, proc.returncode, proc.stdout, proc.stderr)
    for mark in ("entered", "recovered", "ready"):
        if mark in result:
            result[mark] -= spawned
    return result


def _show(start: str, store: str, result: dict, counts: dict[str, int]) -> None:
    found = result["tables"]
    missing = {name: f"{found[name]:,} of {n:,}" for name, n in counts.items() if found[name] != n}
    check = "all table records present" if not missing else f"TABLES INCOMPLETE: {missing}"
    recovered = f"{result['recovered']:.1f} s" if "recovered" in result else "n/a"
    print(f"{start} start, {store + '://':<11} ready (first event applied) after {result['ready']:6.1f} s "
          f"(main entered {result['entered']:.1f} s, recovery complete {recovered}); RSS {result['rss_mib']:,.0f} MiB "
          f"(peak {result['peak_rss_mib']:,.0f} MiB); {check}; applied {result['applied']}", flush=True)


if __name__ == "__main__":
    main()
