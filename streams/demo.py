"""`telltales demo`: the whole live pipeline on a local Kafka it starts itself, findings printed as they arrive.

Starts the project's single-node Apache Kafka (deploy/kafka), creates the topics, runs
`telltales worker` as a child process, streams a simulated organisation into the
telemetry topics at a live rate, prints each finding from `siem.alerts` (who, risk, top
reasons), and ends after a bounded time (or Ctrl-C) with the `telltales eval` summary
against the simulation's ground truth. Without Java or Maven it says so and runs the same
simulation through `telltales replay` instead.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from telltales.schemas.config import parse
from telltales.streams.evaluate import evaluate, format_table
from telltales.streams.simulate import Simulation, produce, simulate

IDLE_END_S = 20.0  # after the last event is sent, wait this long without a new finding, then summarise


def describe(finding: dict[str, Any]) -> str:
    """One terminal line for a finding: activity, who, risk, top reasons."""
    user = (finding.get("actor") or {}).get("user") or {}
    evidences = sorted(finding.get("evidences") or (), key=lambda e: -(e.get("data") or {}).get("contribution", 0))
    reasons = "; ".join(f"{e['data']['detector']} {e['data'].get('contribution', 0):.2f}: {e['data'].get('summary', '')[:90]}"
                        for e in evidences[:3])
    return (f"{finding.get('activity_name', '?'):6s} {user.get('uid', '?'):12s} risk {finding.get('risk_score', 0):3d} "
            f"{finding.get('risk_level', ''):8s} | {reasons}")


def _summary(findings: list[dict[str, Any]], sim: Simulation, out) -> None:
    print("\n" + format_table(evaluate(findings, sim.labels)), file=out)


def run_replay(sim: Simulation, out) -> int:
    """The same simulation through the embedded core (no broker)."""
    from telltales.streams.replay import replay

    with tempfile.TemporaryDirectory() as tmp:
        paths = sim.write(Path(tmp))
        alerts = io.BytesIO()
        replay([str(paths["events"])], parse(sim.config_toml), alerts, None)
    findings = [orjson.loads(line) for line in alerts.getvalue().splitlines()]
    for finding in findings:
        print(describe(finding), file=out)
    _summary(findings, sim, out)
    return 0


def run_live(sim: Simulation, *, rate: float, duration: float, out) -> int:
    """Kafka, topics, the worker, the simulator at `rate`; findings as they arrive; eval at the end."""
    from kafka import KafkaConsumer

    from telltales.streams.localkafka import LocalKafka
    from telltales.streams.topics import create_topics

    with tempfile.TemporaryDirectory() as tmp, LocalKafka() as kafka:
        print(f"demo: Kafka {kafka.bootstrap} is up", file=out, flush=True)
        config_path = Path(tmp) / "telltales.toml"
        config_path.write_text(sim.config_toml + f'\n[kafka]\nbootstrap_servers = "{kafka.bootstrap}"\n'
                               f'\n[topics]\npartitions = 4\n\n[worker]\nweb_port = 0\nmetrics_port = 0\n'
                               f'data_dir = "{tmp}/worker"\n', "utf-8")
        config = parse(config_path.read_text("utf-8"))
        create_topics(config)
        worker = subprocess.Popen([sys.executable, "-m", "telltales.streams.cli", "worker", "--config", str(config_path)],
                                  stdout=subprocess.DEVNULL, stderr=open(Path(tmp) / "worker.log", "wb"),  # noqa: SIM115
                                  start_new_session=True)
        consumer = KafkaConsumer(config.topics.alerts, bootstrap_servers=kafka.bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=1000)
        findings: list[dict[str, Any]] = []
        sent = threading.Event()
        failed: list[Exception] = []  # why sending stopped, if it did: the loop below reports it

        def send() -> None:
            try:
                produce(sim, kafka.bootstrap, rate)
            except Exception as exc:  # noqa: BLE001 — a thread's exception would otherwise vanish
                failed.append(exc)
            finally:
                sent.set()

        producer = threading.Thread(target=send, daemon=True)
        began = time.monotonic()
        producer.start()
        print(f"demo: worker pid {worker.pid}; streaming {len(sim.telemetry):,} events at {rate:,.0f}/s "
              f"(ends after {duration:.0f} s or Ctrl-C)", file=out, flush=True)
        last_news = time.monotonic()
        try:
            while time.monotonic() - began < duration:
                for record in consumer:
                    finding = orjson.loads(record.value)
                    findings.append(finding)
                    print(describe(finding), file=out, flush=True)
                    last_news = time.monotonic()
                if worker.poll() is not None:
                    print(f"demo: the worker exited with {worker.returncode}; see {tmp}/worker.log", file=out)
                    break
                if failed:
                    print(f"demo: sending the simulation to Kafka failed: {failed[0]!r}", file=out)
                    break
                if sent.is_set() and time.monotonic() - last_news > IDLE_END_S:
                    break
        except KeyboardInterrupt:
            print("\ndemo: interrupted", file=out)
        finally:
            consumer.close()
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
        _summary(findings, sim, out)
    return 1 if failed or worker.returncode not in (0, None, -signal.SIGTERM) else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the live pipeline on a local Kafka with a simulated organisation",
        description=__doc__.split("\n\n")[1] if __doc__ else None)
    parser.add_argument("--employees", type=int, default=400)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=1500.0, help="events per second sent to Kafka (default 1500)")
    parser.add_argument("--duration", type=float, default=180.0, help="stop after this many seconds (default 180)")
    parser.add_argument("--replay", action="store_true", help="skip Kafka: run the simulation through replay")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    sim = simulate(employees=args.employees, days=args.days, seed=args.seed)
    out = sys.stdout
    print(f"demo: simulated {args.employees} employees × {args.days} days: {len(sim.telemetry):,} events, "
          f"{len(sim.labels['operatives'])} planted operatives", file=out, flush=True)
    if args.replay:
        return run_replay(sim, out)
    from telltales.streams.localkafka import LocalKafkaError

    try:
        return run_live(sim, rate=args.rate, duration=args.duration, out=out)
    except LocalKafkaError as exc:
        print(f"demo: cannot start the local Kafka ({exc}); running the same simulation through replay instead",
              file=out, flush=True)
        return run_replay(sim, out)
