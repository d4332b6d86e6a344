"""Worker throughput (SPEC section 8): raw aiokafka, the frozen bare Faust agent and the telltales worker, one broker.

    python benchmarks/bench_worker.py [--employees 1200] [--days 14] [--seed 0] [--bootstrap HOST:PORT]
                                      [--only raw,baseline,batch,worker,core] [--profile FILE]

Starts its own local Kafka (LocalKafka) unless --bootstrap is given and writes one data
set of single-event messages: the simulator's organisation (`telltales simulate`, fixed
seed; 1,200 employees × 14 days ≈ 157k events), directory first, then telemetry in time
order over the three topics, keyed by employee id. Then each consumer runs in a fresh
process over the same messages, one after the other:

(a) raw aiokafka consume + orjson.loads — the ceiling;
(b) `baseline_faust_agent.py` — a bare per-event Faust agent with default settings;
(c) the telltales worker — decode, all detectors, tables with changelogs, fusion, findings;
and for reference: the baseline's pass-through work through the worker's batch flow
(`streams/app.py`), and the same records through decode + replay's `Pipeline` in one
process without Kafka — the ceiling the worker approaches once Kafka and Faust cost nothing.

Each rate is events / (time of the last event − time of the first), measured inside the
consumer process, so start-up and group joins are not counted. The worker's run ends when
its events are applied and the cross-employee work they started is done too (every key
observation folded, every returned signal fused: `Internal`); its time ends with the last
batch of either agent. After the worker's run
(stopped as SIGTERM stops it) the benchmark checks that every telemetry offset is committed
and counts the employee-state changelog records. Other load on the machine shows directly
in these numbers: compare rates from one run only.

`--profile FILE` runs the worker's process under the py-spy sampling profiler
(`pip install py-spy`; 100 samples/s, not pausing the process, only the thread holding
the GIL: without `--gil` py-spy also samples a thread waiting for the GIL after a socket
call or a poll, and the worker's two threads then showed ~2x its CPU seconds, mostly in
`select` and socket writes) and prints where its CPU time went: its batches against Faust's and aiokafka's own work, the parts of the
core, and the functions that spent the most. FILE keeps the collapsed stacks (for a
flame graph: `flamegraph.pl FILE`, or speedscope). The worker's rate in that run
carries the profiler's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from kafkabench import (broker, event_topics, produce, records_written, run_child, run_faust, simulated,  # noqa: E402
                        state_changelog, with_topics)


# --- child: the frozen baseline ------------------------------------------------------

def child_baseline(bootstrap: str, topics: list[str], events: int, timeout_s: float) -> dict:
    import faust  # noqa: F401
    from baseline_faust_agent import create_app

    progress = {"n": 0, "first": 0.0, "last": 0.0}
    app = None

    def on_event() -> None:
        n = progress["n"] = progress["n"] + 1
        now = time.perf_counter()
        if n == 1:
            progress["first"] = now
        progress["last"] = now

    app = create_app(f"bench-baseline-{uuid.uuid4().hex[:8]}", bootstrap, topics, on_event)
    return _run_faust(app, progress, events, timeout_s, "bare Faust agent (baseline)")


def child_batch_pass_through(bootstrap: str, topics: list[str], events: int, timeout_s: float) -> dict:
    """The baseline's work (one JSON parse per event) through telltales' batch flow (`streams/app.py`)."""
    import orjson
    from telltales.streams.app import BatchApp

    progress = {"n": 0, "first": 0.0, "last": 0.0}
    app = BatchApp(f"bench-batch-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}", web_enabled=False)

    @app.agent(app.batch_topic(*topics))
    async def pass_through(stream):
        async for batch in stream:
            if app.current_batch_is_stale(batch):
                app.drop(batch)
                continue
            if not progress["first"]:
                progress["first"] = time.perf_counter()
            for records in batch.records.values():
                for record in records:
                    orjson.loads(record.value)
            progress["n"] += len(batch)
            progress["last"] = time.perf_counter()
            app.ack(batch)

    result = _run_faust(app, progress, events, timeout_s, "Faust batch flow, pass-through (no detectors)")
    result["rate"] = progress["n"] / result["seconds"] if result["seconds"] > 0 else 0.0
    return result


def _run_faust(app, progress: dict, events: int, timeout_s: float, name: str,
               drained: Callable[[], bool] = lambda: True) -> dict:
    run_faust(app, lambda: progress["n"] >= events and drained(), timeout_s)
    elapsed = progress["last"] - progress["first"]
    return {"name": name, "events": progress["n"], "seconds": elapsed,
            "rate": (progress["n"] - 1) / elapsed if elapsed > 0 else 0.0}


def child_core(config_path: str, employees: int, days: int, seed: int) -> dict:
    """The worker's ceiling: the same records through decode + replay's Pipeline in one process, no Kafka."""
    from telltales.schemas.config import load
    from telltales.schemas.decoder import Decoder
    from telltales.schemas.events import Employee
    from telltales.streams.replay import Pipeline
    from telltales.streams.worker import Worker

    config = load(config_path)
    records, telemetry_n, _ = simulated(employees, days, seed)
    decoders = {t: Decoder(t) for t in ("vpn_login", "remote_session", "device_snapshot", "employee")}
    pipeline = Pipeline(config, emit=lambda finding: None)
    Worker.configure_gc()  # replay's GC setting, as `telltales replay` and the worker run
    began = time.perf_counter()
    for event_type, _, value, _ in records:
        event = decoders[event_type].decode(value)
        if isinstance(event, Employee):
            pipeline.directory(event)
        else:
            pipeline.telemetry(event)
    elapsed = time.perf_counter() - began
    return {"name": "core in-process (decode+Pipeline), no Kafka", "events": telemetry_n, "seconds": elapsed,
            "rate": telemetry_n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=1_200, help="simulated employees (default 1200: ~150k events)")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--bootstrap", help="use this broker instead of starting a LocalKafka")
    parser.add_argument("--only", help="comma-separated subset of raw,baseline,batch,worker,core")
    parser.add_argument("--timeout", type=float, default=240.0, help="per consumer run, seconds")
    parser.add_argument("--profile", metavar="FILE", help="profile the worker with py-spy; collapsed stacks to FILE")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--topics", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "baseline":
        print(json.dumps(child_baseline(args.bootstrap, args.topics.split(","), args.events, args.timeout)))
        return
    if args.child == "batch":
        print(json.dumps(child_batch_pass_through(args.bootstrap, args.topics.split(","), args.events, args.timeout)))
        return
    if args.child == "core":
        print(json.dumps(child_core(args.config, args.employees, args.days, args.seed)))
        return
    if args.child == "worker":
        print(json.dumps(child_worker(args.config, args.events, args.timeout)))
        return

    args.profiler = _profiler(args.profile) if args.profile else None  # before any work: py-spy must be there
    with broker(args.bootstrap) as bootstrap:
        _bench(args, bootstrap)


def _bench(args, bootstrap: str) -> None:
    import logging
    import tempfile

    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # leader elections of the fresh topics are retried

    from telltales.schemas.config import parse
    from telltales.streams.topics import create_topics

    prefix = f"b{uuid.uuid4().hex[:6]}."
    t = time.perf_counter()
    records, telemetry_n, sim_toml = simulated(args.employees, args.days, args.seed)
    print(f"simulated {args.employees:,} employees x {args.days} days (seed {args.seed}) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    toml = with_topics(sim_toml, bootstrap, prefix, args.partitions, f"bench-worker-{uuid.uuid4().hex[:8]}")
    config = parse(toml)
    create_topics(config)
    kinds = event_topics(config)
    t = time.perf_counter()
    asyncio.run(produce(bootstrap, kinds, records))
    size = sum(len(r.value) for r in records) / len(records)
    print(f"broker {bootstrap}: wrote {len(records):,} messages ({telemetry_n:,} telemetry, "
          f"{args.employees:,} directory records, mean {size:.0f} B) in {time.perf_counter() - t:.1f} s; "
          f"{args.partitions} partitions per topic", flush=True)
    telemetry_topics = ",".join(config.topics.telemetry())
    only = set((args.only or "raw,baseline,batch,worker,core").split(","))
    script = str(Path(__file__).resolve())
    results = {}
    if "raw" in only:
        results["raw"] = run_child([str(HERE / "bench_aiokafka_raw.py"), "--bootstrap", bootstrap, "--topics",
                                    telemetry_topics, "--events", str(telemetry_n)], args.timeout + 60)
        _show(results["raw"])
    if "baseline" in only:
        results["baseline"] = run_child([script, "--child", "baseline", "--bootstrap", bootstrap, "--topics",
                                         telemetry_topics, "--events", str(telemetry_n), "--timeout",
                                         str(args.timeout)], args.timeout + 60)
        _show(results["baseline"])
    if "batch" in only:
        results["batch"] = run_child([script, "--child", "batch", "--bootstrap", bootstrap, "--topics",
                                      telemetry_topics, "--events", str(telemetry_n), "--timeout",
                                      str(args.timeout)], args.timeout + 60)
        _show(results["batch"])
    if "worker" in only:
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(toml)
        wrap = args.profiler
        try:
            results["worker"] = run_child([script, "--child", "worker", "--config", f.name, "--events",
                                           str(telemetry_n), "--timeout", str(args.timeout)], args.timeout + 60,
                                          wrap=wrap)
        finally:
            os.unlink(f.name)
        _show(results["worker"])
        print("  " + _guarantees(config), flush=True)
        if args.profile:
            print(profile_summary(Path(args.profile).read_text()), flush=True)
    if "core" in only:
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(toml)
        try:
            results["core"] = run_child([script, "--child", "core", "--config", f.name, "--employees",
                                         str(args.employees), "--days", str(args.days), "--seed", str(args.seed)],
                                        args.timeout + 60)
        finally:
            os.unlink(f.name)
        _show(results["core"])
    if "worker" in results and "baseline" in results:
        ratio = results["worker"]["rate"] / results["baseline"]["rate"]
        print(f"worker / baseline = {ratio:.2f}x (target >= 3x)", flush=True)
    if "worker" in results and "core" in results:
        print(f"worker / core in-process = {results['worker']['rate'] / results['core']['rate']:.2f}", flush=True)


def _guarantees(config) -> str:
    """After the worker stopped: is every input offset committed (telemetry, and the worker's own key-observation
    and signal topics), and how many employee-state changelog records were written?"""
    from kafka import KafkaConsumer, TopicPartition

    bootstrap = config.kafka.bootstrap_servers
    group = KafkaConsumer(bootstrap_servers=bootstrap, group_id=config.worker.app_id, enable_auto_commit=False)
    app_id = config.worker.app_id
    try:
        internal = sorted(t for t in group.topics() if t == f"{app_id}-signals"
                          or (t.startswith(f"{app_id}-keys-") and not t.endswith("-changelog")))
        uncommitted = {}
        for kind, topics in (("telemetry", config.topics.telemetry()), ("internal", internal)):
            tps = [TopicPartition(t, p) for t in topics for p in range(config.topics.partitions)]
            ends = group.end_offsets(tps)
            uncommitted[kind] = (sum(end - (group.committed(tp) or 0) for tp, end in ends.items()), sum(ends.values()))
    finally:
        group.close()
    written = records_written(bootstrap, state_changelog(config), config.topics.partitions)
    left, produced = uncommitted["internal"]
    return (f"after SIGTERM-equivalent stop: {uncommitted['telemetry'][0]} telemetry records uncommitted; "
            f"{written:,} employee-state changelog records for {uncommitted['telemetry'][1]:,} events; "
            f"{left:,} of {produced:,} key-observation and signal records not yet processed")


def _profiler(output: str) -> list[str]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise SystemExit("--profile needs py-spy: pip install py-spy")
    return [py_spy, "record", "--rate", "100", "--gil", "--nonblocking", "--format", "raw", "--output", output, "--"]


# Where a sample's time went, by the frames on its stack (function, file suffix); the first match counts.
PARTS = [("the employee agent's batches (employee_batch)", "employee_batch", "streams/worker.py"),
         ("the key agent's batches (key_batch)", "key_batch", "streams/worker.py"),
         ("the sweep timer (sweep)", "sweep", "streams/worker.py")]
CORE = [("Engine.observe: the detectors", [("observe", "detectors/engine.py")]),
        ("Engine.correlate: key-state folds", [("correlate", "detectors/engine.py")]),
        ("Engine.fuse: fusion", [("fuse", "detectors/engine.py")]),
        ("decoding events (Decoder.decode)", [("decode", "schemas/decoder.py")]),
        ("state encode/decode (msgpack)", [("_state", "detectors/engine.py")]),
        ("producing (the outbox's sends, aiokafka's sender)",
         [("send", "streams/app.py"), ("*", "aiokafka/producer/sender.py")])]
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?):\d+\)$")


def _on_stack(frames: list[tuple[str, str]], function: str, suffix: str) -> bool:
    """Is a function of that name (a method's name after the class; "_state": any ending so; "*": any) in a file
    ending so?"""
    return any(path.endswith(suffix) and (function == "*" or f.rpartition(".")[2] == function or
                                          (function == "_state" and f.endswith("_state"))) for f, path in frames)


def profile_summary(collapsed: str, top: int = 12) -> str:
    """Shares of the sampled CPU time from py-spy's collapsed stacks ("frame;frame;... count" per line)."""
    total, parts, core, leaves = 0, Counter(), Counter(), Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [(m["function"], m["file"]) if (m := FRAME.match(f)) else (f, "") for f in stack.split(";")]
        part = next((label for label, function, suffix in PARTS if _on_stack(frames, function, suffix)), None)
        if part is None:
            package = next((p for _, path in reversed(frames) for p in ("faust", "mode", "aiokafka", "kafka", "asyncio")
                            if path.startswith(f"{p}/") or f"/{p}/" in path), "other (start-up, imports, stdlib)")
            part = f"outside the batches: {package}"
        parts[part] += n
        for label, where in CORE:
            if any(_on_stack(frames, function, suffix) for function, suffix in where):
                core[label] += n
        leaf_function, leaf_file = frames[-1]
        leaves[f"{leaf_function} ({'/'.join(leaf_file.split('/')[-2:])})"] += n
    if not total:
        return "profile: no samples"
    lines = [f"profile of the worker process: {total:,} samples (100/s, the thread holding the GIL)"]
    lines += [f"  {share / total:6.1%}  {label}" for label, share in parts.most_common()]
    lines.append("within them, anywhere on the stack:")
    lines += [f"  {core[label] / total:6.1%} {label}" for label, _ in CORE]
    lines.append(f"functions that spent the most (self time, top {top}):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in leaves.most_common(top)]
    return "\n".join(lines)


def _show(result: dict) -> None:
    extra = "".join(f"; {k} {v}" for k, v in result.items() if k not in ("name", "events", "seconds", "rate"))
    print(f"{result['name']:<40} {result['events']:>9,} events in {result['seconds']:6.2f} s = "
          f"{result['rate']:>9,.0f} events/s{extra}", flush=True)


class Internal:
    """The worker's own topics (key observations, returned signals): have its agents processed all that is in them?

    Once the telemetry is applied no new observations are made, but the cross-employee
    work they started is still to do (the key agent's folds, the signals fused back): a
    rate that stopped counting there would leave that work out. Once the telemetry is done
    (`start`), a thread polls the topics' end offsets; they are drained when two polls
    0.2 s apart agree and the agents have processed up to them.
    """

    def __init__(self, bootstrap: str, topics: list[str], partitions: int) -> None:
        import threading

        from kafka import KafkaConsumer, TopicPartition

        self._tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._next: dict[tuple[str, int], int] = {}  # (topic, partition) → next offset an agent will process
        self._ends: list[dict[tuple[str, int], int]] = []  # the last two polls' end offsets
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def processed(self, batch) -> None:
        for tp, records in batch.records.items():
            self._next[(tp.topic, tp.partition)] = records[-1].offset + 1

    def drained(self) -> bool:
        polls = self._ends
        if len(polls) < 2 or polls[0] != polls[1]:
            return False
        return all(self._next.get(tp, 0) >= end for tp, end in polls[1].items())

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            ends = self._consumer.end_offsets(self._tps)
            self._ends = [*self._ends[-1:], {(tp.topic, tp.partition): end for tp, end in ends.items()}]

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._consumer.close()


def child_worker(config_path: str, events: int, timeout_s: float) -> dict:
    from telltales.schemas.config import load
    from telltales.streams.worker import Worker, preflight

    config = load(config_path)
    worker = Worker(config, web=False)
    worker.configure_gc()  # as `telltales worker` does
    preflight(config, worker.topology)
    progress = {"n": 0, "first": 0.0, "last": 0.0}
    apply, apply_keys = worker.employee_batch, worker.key_batch
    counters = worker.counters
    internal = Internal(config.kafka.bootstrap_servers, worker.topology.internal(), config.topics.partitions)

    cpu = {}  # the process's and the main thread's CPU seconds at the first batch and after the last

    def mark(when: str) -> None:
        cpu[when] = (time.process_time(), time.thread_time())

    async def timed(batch) -> list:
        if not progress["first"]:
            progress["first"] = time.perf_counter()
            mark("first")
        done = await apply(batch)
        internal.processed(batch)
        progress["last"] = time.perf_counter()
        mark("last")
        progress["n"] = (sum(counters.events.values()) - counters.events["employee"] + counters.duplicates
                         + sum(counters.rejected.values()))
        if progress["n"] >= events and not progress.get("telemetry_done"):
            progress["telemetry_done"] = True
            internal.start()
        return done

    def timed_keys(batch) -> None:
        apply_keys(batch)
        internal.processed(batch)
        progress["last"] = time.perf_counter()
        mark("last")

    worker.employee_batch, worker.key_batch = timed, timed_keys
    # The run ends when every telemetry event is applied and every key observation and returned signal too.
    result = _run_faust(worker.app, progress, events, timeout_s, "telltales worker (all detectors)",
                        drained=internal.drained)
    internal.close()
    result["rate"] = progress["n"] / result["seconds"] if result["seconds"] > 0 else 0.0
    result["findings"] = sum(counters.findings.values())
    result["batch"] = round(counters.records / max(1, counters.batches))
    result["observations"] = counters.observations
    result["detectors"] = len(worker.engine.detectors)
    if "first" in cpu:  # CPU per event over the same span as the rate, beside bench_latency's live figure
        result["cpu_us_per_event"] = round((cpu["last"][0] - cpu["first"][0]) * 1e6 / max(1, progress["n"]), 1)
        result["main_thread_us_per_event"] = round((cpu["last"][1] - cpu["first"][1]) * 1e6 / max(1, progress["n"]), 1)
    return result


if __name__ == "__main__":
    main()
