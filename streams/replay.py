"""`telltales replay`: embedded mode, no broker — JSONL events in, OCSF findings out, through the worker's core.

A loop over files that calls the same `Engine` the Kafka worker calls, with plain dicts
where the worker has tables and topics. Same input and config give the same bytes:
everything runs on event time, in input order. Rejected lines go to `--dlq` as DLQ
envelopes whose `time` is the replay's event-time clock (the newest event time read so
far), so the DLQ file is deterministic too. Files are read one after the other, or with
`--merge` interleaved by event time (each file in time order: one per source).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import heapq
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from telltales.streams import version as _version
from telltales.detectors.base import Signal
from telltales.detectors.engine import Engine, EmployeeState
from telltales.detectors.fusion import CaseChange
from telltales.detectors.ocsf import FindingBuilder, encode_finding
from telltales.detectors import registry
from telltales.schemas import dlq
from telltales.schemas.config import Config, ConfigError, load
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import EVENT_TYPES, Employee
from telltales.schemas.rejections import Rejection

from .geoip import build_engine

SWEEP_EVERY_S = 3600.0  # re-evaluate open cases (decay, TTL) each hour of event time
_TAGS = {cls: tag for tag, cls in EVENT_TYPES.items()}  # event class → its event_type, for the counters
GC_THRESHOLD = 50_000  # gen-0 allocations between cycle collections during a replay (default 700)


@dataclass
class CoreCounters:
    """What every driver of the core counts (replay here, the worker adds its own)."""

    events: Counter = field(default_factory=Counter)      # event type → accepted
    rejected: Counter = field(default_factory=Counter)    # rejection code → count
    duplicates: int = 0
    signals: Counter = field(default_factory=Counter)     # detector → signals fused
    findings: Counter = field(default_factory=Counter)    # activity → records
    detector_errors: Counter = field(default_factory=Counter)  # detector → errors (isolated by the engine)


@dataclass
class Counters(CoreCounters):
    lines: int = 0
    unordered: Counter = field(default_factory=Counter)  # --merge: file → lines older than an earlier one of it


class Pipeline:
    """The in-process wiring of the core: per-employee state, per-key state, the directory, fusion."""

    def __init__(self, config: Config, *, emit: Callable[[dict[str, Any]], None],
                 engine: Engine | None = None) -> None:
        self.engine = engine or build_engine(config)
        self.builder = FindingBuilder(registry.discover(), self.engine.fusion, product_version=_version(),
                                      location_decimals=config.fusion.location_decimals)
        self.emit = emit
        self.employees: dict[str, Employee] = {}
        self.states: dict[str, EmployeeState] = {}
        self.key_states: dict[tuple[str, str, str], Any] = {}
        self.open_cases: set[str] = set()
        self.counters = Counters()
        self.clock = 0.0  # newest event time seen (epoch s)
        self._next_sweep = 0.0

    def directory(self, record: Employee) -> None:
        self.employees[record.employee_id] = record
        self.counters.events["employee"] += 1

    def telemetry(self, event) -> None:
        employee_id = event.employee_id
        step = self.engine.observe(event, self.states.get(employee_id), self.employees.get(employee_id))
        counters = self.counters
        if step.duplicate:
            counters.duplicates += 1
            return
        counters.events[_TAGS[type(event)]] += 1
        for error in step.errors:
            counters.detector_errors[error.detector] += 1
        self.states[employee_id] = step.state
        signals = step.signals
        key_states = self.key_states
        correlate = self.engine.correlate
        for observation in step.observations:  # inline, not a method: one or two per event
            key = (observation.detector, observation.kind, observation.value)
            old = key_states.get(key)
            key_state, correlated, errors = correlate(observation, old)
            if key_state is not old:  # most sightings change nothing: skip the store
                key_states[key] = key_state
            for error in errors:
                counters.detector_errors[error.detector] += 1
            if correlated:
                signals = [*signals, *correlated]
        if signals:  # most events raise nothing: no grouping then
            signals_by_employee: dict[str, list[Signal]] = defaultdict(list)
            for signal in signals:
                signals_by_employee[signal.employee_id].append(signal)
            for target, grouped in signals_by_employee.items():
                self._fuse(target, grouped)
        when = step.time
        if when > self.clock:
            self.clock = when
            if when >= self._next_sweep:
                self.sweep(when)
                self._next_sweep = when + SWEEP_EVERY_S

    def _fuse(self, employee_id: str, signals: list[Signal]) -> None:
        for signal in signals:
            self.counters.signals[signal.detector] += 1
        state = self.states.get(employee_id) or self.engine.new_state()
        state, changes = self.engine.fuse(state, signals, employee_id)
        self.states[employee_id] = state
        self._publish(changes)

    def sweep(self, now: float) -> None:
        """Let open cases decay or expire at event time `now`."""
        for employee_id in sorted(self.open_cases):
            state, changes = self.engine.sweep(self.states[employee_id], now, employee_id)
            self.states[employee_id] = state
            self._publish(changes)

    def _publish(self, changes: list[CaseChange]) -> None:
        for change in changes:
            if change.case.open:
                self.open_cases.add(change.employee_id)
            else:
                self.open_cases.discard(change.employee_id)
            self.counters.findings[change.activity] += 1
            self.emit(self.builder.build(change))


def read_lines(paths: Iterable[str]) -> Iterator[tuple[str, int, bytes]]:
    """(file name, 1-based line number, raw line without the newline) for every non-blank line."""
    for path in paths:
        stream: BinaryIO = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
        try:
            for number, line in enumerate(stream, 1):
                line = line.rstrip(b"\r\n")
                if line and not line.isspace():  # not blank (`strip()` would copy every line to tell)
                    yield ("<stdin>" if path == "-" else path), number, line
        finally:
            if path != "-":
                stream.close()


def decoded_lines(paths: Iterable[str], decoder: Decoder) -> Iterator[tuple[str, int, bytes, Any]]:
    """(file name, line number, raw line, event or rejection) for every line, file after file."""
    decode = decoder.decode
    for name, number, line in read_lines(paths):
        yield name, number, line, decode(line)


def merged_lines(paths: list[str], decoder: Decoder, unordered: Counter) -> Iterator[tuple[str, int, bytes, Any]]:
    """`decoded_lines` of files each in time order, interleaved by event time (a k-way merge).

    A line without a time of its own (an employee record, a rejected line) keeps its place
    in its file: it goes with the newest event time read from that file before it, so a
    directory at a file's head comes first. Ties go to the earlier file, so the order is
    deterministic. A line older than an earlier line of its own file is counted in
    `unordered[file]`: the merge cannot place it correctly.
    """
    def timed(path: str) -> Iterator[tuple[float, tuple[str, int, bytes, Any]]]:
        newest = -math.inf
        for item in decoded_lines([path], decoder):
            event = item[3]
            if not isinstance(event, (Rejection, Employee)):
                when = event.epoch_s
                if when < newest:
                    unordered[item[0]] += 1
                newest = max(newest, when)
            yield newest, item

    for _, item in heapq.merge(*(timed(path) for path in paths), key=lambda pair: pair[0]):
        yield item


def replay(paths: list[str], config: Config, alerts: IO[bytes], dlq_out: IO[bytes] | None,
           progress: IO[str] | None = None, engine: Engine | None = None,
           on_finding: Callable[[dict[str, Any]], None] | None = None, *, merge: bool = False) -> Counters:
    """Run every line of `paths` through the core; write findings and rejects; return the counters.

    `merge`: the files are each in time order and are read interleaved by event time
    (`merged_lines`); otherwise one after the other.
    """
    def emit(finding: dict[str, Any]) -> None:
        alerts.write(encode_finding(finding) + b"\n")
        if on_finding is not None:
            on_finding(finding)

    pipeline = Pipeline(config, emit=emit, engine=engine)
    decoder = Decoder(max_event_bytes=config.decode.max_event_bytes)
    started = time.perf_counter()
    next_report = started + 5.0
    # Each event allocates dozens of containers (new states, lists, structs) that reference
    # counting frees; at the default gen-0 threshold (700) the cycle collector's passes over
    # them cost 6-9% of replay time and find almost nothing. Restored when replay ends.
    thresholds = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *thresholds[1:])
    try:
        lines = (merged_lines(paths, decoder, pipeline.counters.unordered) if merge
                 else decoded_lines(paths, decoder))
        _replay_lines(lines, config, pipeline, dlq_out, progress, next_report)
    finally:
        gc.set_threshold(*thresholds)
    pipeline.sweep(pipeline.clock)
    return pipeline.counters


def _replay_lines(lines: Iterator[tuple[str, int, bytes, Any]], config: Config, pipeline: Pipeline,
                  dlq_out: IO[bytes] | None, progress: IO[str] | None, next_report: float) -> None:
    for name, number, line, event in lines:
        pipeline.counters.lines += 1
        if isinstance(event, Rejection):
            pipeline.counters.rejected[event.code] += 1
            if dlq_out is not None:
                envelope = dlq.envelope(line, event, dlq.FileSource(file=name, line=number),
                                        time=_rfc3339(pipeline.clock),
                                        max_original_bytes=config.dlq.max_original_bytes)
                dlq_out.write(dlq.encode(envelope) + b"\n")
        elif isinstance(event, Employee):
            pipeline.directory(event)
        else:
            pipeline.telemetry(event)
        if progress is not None and pipeline.counters.lines % 10_000 == 0 and time.perf_counter() > next_report:
            next_report = time.perf_counter() + 5.0
            print(f"replay: {pipeline.counters.lines} lines, {sum(pipeline.counters.findings.values())} findings",
                  file=progress, flush=True)


def summary(counters: Counters, elapsed: float) -> str:
    accepted = sum(counters.events.values())
    rate = counters.lines / elapsed if elapsed > 0 else 0.0
    parts = [f"replay: {counters.lines} lines in {elapsed:.1f} s ({rate:,.0f} lines/s); "
             f"{accepted} accepted, {sum(counters.rejected.values())} rejected, {counters.duplicates} duplicates"]
    if counters.rejected:
        parts.append("  rejected: " + ", ".join(f"{c} {n}" for c, n in sorted(counters.rejected.items())))
    parts.append("  findings: " + (", ".join(f"{a} {n}" for a, n in sorted(counters.findings.items())) or "none"))
    if counters.signals:
        parts.append("  signals: " + ", ".join(f"{d} {n}" for d, n in sorted(counters.signals.items())))
    if counters.detector_errors:
        parts.append("  detector errors: " + ", ".join(f"{d} {n}" for d, n in sorted(counters.detector_errors.items())))
    if counters.unordered:
        parts.append("  out of time order within their file (--merge could not place them): "
                     + ", ".join(f"{name} {n}" for name, n in sorted(counters.unordered.items())))
    return "\n".join(parts)


@contextlib.contextmanager
def output_files(out: str, dlq_path: str | None) -> Iterator[tuple[BinaryIO, BinaryIO | None]]:
    """The output (`-` = stdout) and an optional DLQ file, flushed and closed however the run ends."""
    with contextlib.ExitStack() as files:
        main = sys.stdout.buffer if out == "-" else files.enter_context(open(out, "wb"))
        dead = files.enter_context(open(dlq_path, "wb")) if dlq_path else None
        try:
            yield main, dead
        finally:
            main.flush()


def _rfc3339(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.timezone.utc).isoformat().replace("+00:00", "Z")



def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay", help="run JSONL events through the detectors without a broker (backtests)",
        description="Embedded mode: the worker's core over JSONL files (- = stdin). Findings (OCSF JSONL) go to "
                    "--alerts (default stdout), rejects to --dlq; summary and progress on stderr. Same input and "
                    "config give the same bytes. Exit 0 unless a fatal error; --strict exits 1 if anything was "
                    "rejected.")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--config", help="organisation config TOML (default: built-in defaults)")
    parser.add_argument("--alerts", default="-", help="findings output file (default: stdout)")
    parser.add_argument("--dlq", help="write rejected lines as DLQ envelopes (JSONL) to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any line was rejected")
    parser.add_argument("--merge", action="store_true",
                        help="the files are each in time order (e.g. one per source, from telltales adapt): read "
                             "them interleaved by event time instead of one after the other")
    parser.add_argument("--metrics-out", metavar="FILE",
                        help="write the run's Prometheus metrics (text exposition, as the worker serves) to FILE")
    parser.add_argument("--quiet", action="store_true", help="no progress or summary on stderr")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load(args.config)
        engine = build_engine(config)  # fails fast on bad settings or databases, before reading any input
    except (ConfigError, ValueError) as exc:
        print(f"telltales replay: {exc}", file=sys.stderr)
        return 2
    for path in args.files:
        if path != "-" and not Path(path).is_file():
            print(f"telltales replay: cannot read {path}: no such file", file=sys.stderr)
            return 2
    metrics = None
    if args.metrics_out:
        from .metrics import Metrics

        # Fixed version, no process metrics: the same input gives the same exposition bytes.
        metrics = Metrics.from_config(config, process=False, version=_version(), clock=lambda: 0.0)
    started = time.perf_counter()
    try:
        with output_files(args.alerts, args.dlq) as (alerts, dlq_out):
            counters = replay(args.files, config, alerts, dlq_out, progress=None if args.quiet else sys.stderr,
                              engine=engine, on_finding=metrics.finding_record if metrics is not None else None,
                              merge=args.merge)
        if metrics is not None:
            metrics.record_replay(counters, config.topics)
            Path(args.metrics_out).write_bytes(metrics.exposition())
    except OSError as exc:
        print(f"telltales replay: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary(counters, time.perf_counter() - started), file=sys.stderr)
    return 1 if args.strict and counters.rejected else 0
