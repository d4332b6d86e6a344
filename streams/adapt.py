"""`telltales adapt`: a vendor's log export → canonical event JSONL, identities resolved through the directory.

    telltales adapt --from okta --directory employees.jsonl okta-export.jsonl > events.jsonl
    telltales replay employees.jsonl events.jsonl

Input is JSONL, one vendor record per line (`-` = stdin). The directory files hold
employee records (the lines `telltales replay` takes; other events in them are passed
over): a vendor's user or host name becomes an employee id through each record's id and
`aliases`. Every output line is an event the contract accepts. Records that carry nothing
telltales reads are skipped and counted by reason; records that should have mapped and
could not (an unknown user, a missing address, a mapping the contract refuses) go to
`--dlq` as DLQ envelopes at stage `adapter`, timed by the newest event time written so far,
so the same input gives the same bytes. Summary on stderr.

With `--kafka` the events go to the telemetry topics instead (key = the employee id,
value = the event without `event_type`, as SPEC section 3 says) and the rejects to the
DLQ topic, on the broker and with the security and topic names of `--config`: an adapter
sidecar in front of the worker, e.g. `tail -F okta.jsonl | telltales adapt --from okta
--directory employees.jsonl --config telltales.toml --kafka -`.

As a service: `telltales adapt --from okta --config telltales.toml --kafka --input-topic
okta.raw --directory-topic --metrics-port 9465` consumes the vendor records from a topic
in a consumer group, takes the directory from the employees topic and follows it, serves
Prometheus metrics, and runs until SIGTERM or SIGINT (streams/adapt_kafka.py says how
offsets are committed and what a record of a user not yet in the directory becomes).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from telltales.schemas import adapters, dlq
from telltales.schemas.adapters import Identities, Translator
from telltales.schemas.config import Config, ConfigError, load
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import Employee, Event
from telltales.schemas.rejections import Rejection

from .adapt_metrics import AdapterMetrics
from .kafka_client import KafkaUnavailable
from .replay import _rfc3339, output_files, read_lines

MAX_SKIP_REASONS_SHOWN = 8
MAX_SKIP_REASONS = 256  # distinct skip reasons a long-running sidecar keeps apart; the rest are counted together
OTHER_REASONS = "other reasons"


class DirectoryError(Exception):
    """A directory file that cannot be trusted to resolve identities (every record would be misjudged)."""


@dataclass
class Tally:
    records: int = 0
    events: int = 0
    newest: float = 0.0  # event time of the newest event written (epoch s)
    skipped: Counter = field(default_factory=Counter)   # reason → records
    rejected: Counter = field(default_factory=Counter)  # rejection code → records
    directory: Counter = field(default_factory=Counter)  # --directory-topic: employee | erased | refused → records

    def skip(self, reason: str) -> None:
        """Count a skip; reasons may name vendor values (an Okta eventType), so their number is capped."""
        if reason not in self.skipped and len(self.skipped) >= MAX_SKIP_REASONS:
            reason = OTHER_REASONS
        self.skipped[reason] += 1

    def summary(self, name: str) -> str:
        parts = [f"adapt ({name}): {self.records} records; {self.events} events written; "
                 f"{sum(self.skipped.values())} skipped; {sum(self.rejected.values())} rejected"]
        if self.skipped:
            shown = self.skipped.most_common(MAX_SKIP_REASONS_SHOWN)
            more = len(self.skipped) - len(shown)
            parts.append("  skipped: " + "; ".join(f"{reason} ({n})" for reason, n in shown)
                         + (f"; {more} more reasons" if more > 0 else ""))
        if self.rejected:
            parts.append("  rejected: " + ", ".join(f"{code} {n}" for code, n in sorted(self.rejected.items())))
        if self.directory:
            parts.append("  directory topic: " + ", ".join(f"{kind} {n}" for kind, n in sorted(self.directory.items()))
                         + (" (refused: the contract refuses them or their key is not their employee id; "
                            "the worker sends them to the DLQ)" if self.directory["refused"] else ""))
        return "\n".join(parts)


Reject = Callable[[bytes | None, dlq.DlqEnvelope], None]  # (the original record's key, its envelope)


class Run:
    """Vendor records in one at a time: events handed to `emit`, rejects as DLQ envelopes to `reject`, all counted.

    A DLQ envelope's time is `clock()` (epoch s); by default the newest event time written
    so far, so the same input gives the same bytes. `metrics`, when served, see every record.
    """

    def __init__(self, translator: Translator, emit: Callable[[Event], None], reject: Reject | None, *,
                 clock: Callable[[], float] | None = None, metrics: AdapterMetrics | None = None,
                 max_original_bytes: int = dlq.DEFAULT_MAX_ORIGINAL_BYTES) -> None:
        self.translator, self.emit, self.reject, self.metrics = translator, emit, reject, metrics
        self.tally = Tally()
        self.clock = clock or (lambda: self.tally.newest)
        self.max_original_bytes = max_original_bytes
        if metrics is not None:  # the directory files' size from the start (a directory topic updates it later)
            metrics.directory(len(translator.identities))

    def record(self, data: bytes, source: dlq.KafkaSource | dlq.FileSource, key: bytes | None = None) -> None:
        tally = self.tally
        tally.records += 1
        result = self.translator.translate(data)
        if isinstance(result, str):
            tally.skip(result)
            outcome, code = "skipped", None
        elif isinstance(result, Rejection):
            tally.rejected[result.code] += 1
            outcome, code = "rejected", result.code
            if self.reject is not None:
                self.reject(key, dlq.envelope(data, result, source, time=_rfc3339(self.clock()), stage="adapter",
                                              adapter=self.translator.adapter.name,
                                              max_original_bytes=self.max_original_bytes))
        else:
            for event in result:
                self.emit(event)
                tally.newest = max(tally.newest, event.epoch_s)
            tally.events += len(result)
            outcome, code = "event", None
        if self.metrics is not None:
            self.metrics.record(outcome, code=code, newest_event_s=tally.newest or None)

    def lines(self, paths: Iterable[str], before: Callable[[], None] | None = None) -> Tally:
        """Every line of `paths` (`before` runs ahead of each, e.g. to follow the directory topic)."""
        for name, number, line in read_lines(paths):
            if before is not None:
                before()
            self.record(line, dlq.FileSource(file=name, line=number))
        return self.tally


def load_identities(paths: Iterable[str]) -> Identities:
    """Identities from the employee records of `paths`; DirectoryError on a line the contract refuses."""
    identities = Identities()
    decoder = Decoder()
    for name, number, line in read_lines(paths):
        record = decoder.decode(line)
        if isinstance(record, Rejection):
            raise DirectoryError(f"{name} line {number}: {record}")
        if isinstance(record, Employee):
            identities.add(record)
    return identities


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt", help="turn a vendor's log export (Okta, osquery ...) into canonical event JSONL",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="vendor records, one JSON object per line (- = stdin); none with --input-topic")
    parser.add_argument("--from", dest="adapter", required=True, choices=adapters.ADAPTERS,
                        help="the vendor log the records come from")
    parser.add_argument("--directory", action="append", default=[], metavar="FILE",
                        help="employee records (JSONL) whose ids and aliases name the vendor's users; repeatable")
    parser.add_argument("--out", default="-", help="canonical events output file (default: stdout)")
    parser.add_argument("--dlq", help="write records that could not be mapped as DLQ envelopes (JSONL) to this file")
    parser.add_argument("--kafka", action="store_true",
                        help="produce events to the telemetry topics and rejects to the DLQ topic of --config "
                             "instead of --out and --dlq")
    parser.add_argument("--config", help="organisation config TOML: the broker, its security and the topic names "
                                         "for --kafka (default: built-in defaults)")
    parser.add_argument("--input-topic", metavar="TOPIC",
                        help="with --kafka: consume the vendor records from this topic (one per message) until "
                             "SIGTERM or SIGINT, committing offsets once their output is acknowledged")
    parser.add_argument("--group", help="consumer group for --input-topic (default: telltales-adapt-<adapter>)")
    parser.add_argument("--directory-topic", action="store_true",
                        help="with --kafka: read the directory from the employees topic of --config (to its end "
                             "before translating, then followed), besides any --directory files")
    parser.add_argument("--metrics-port", type=int, metavar="N",
                        help="serve Prometheus metrics on this port at /metrics while running")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any record was rejected")
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr")
    parser.set_defaults(func=_run)


def _usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with this combination of options, if anything."""
    if args.kafka and (args.out != "-" or args.dlq):
        return "--kafka writes to topics; leave out --out and --dlq"
    if (args.input_topic or args.directory_topic) and not args.kafka:
        return "--input-topic and --directory-topic read from Kafka: add --kafka"
    if args.input_topic and args.files:
        return "--input-topic reads the vendor records from the topic; leave out FILE"
    if not args.input_topic and not args.files:
        return "name the vendor records: FILE (- = stdin) or --kafka --input-topic TOPIC"
    if args.group and not args.input_topic:
        return "--group is the consumer group of --input-topic"
    if not args.directory and not args.directory_topic:
        return "name the directory: --directory FILE or --kafka --directory-topic"
    return None


def _run(args: argparse.Namespace) -> int:
    problem = _usage_error(args)
    if problem:
        print(f"telltales adapt: {problem}", file=sys.stderr)
        return 2
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"telltales adapt: {exc}", file=sys.stderr)
        return 2
    for path in [*args.directory, *args.files]:
        if path != "-" and not Path(path).is_file():
            print(f"telltales adapt: cannot read {path}: no such file", file=sys.stderr)
            return 2
    try:
        identities = load_identities(args.directory)
    except (DirectoryError, OSError) as exc:
        print(f"telltales adapt: directory {exc}", file=sys.stderr)
        return 2
    if not args.directory_topic and not len(identities):
        print(f"telltales adapt: no employee records in {', '.join(args.directory)}: every user would be unknown",
              file=sys.stderr)
        return 2
    translator = Translator(adapters.load(args.adapter), identities, max_event_bytes=config.decode.max_event_bytes)
    metrics = AdapterMetrics(args.adapter) if args.metrics_port is not None else None
    server = None
    try:
        if metrics is not None:
            server = metrics.serve(args.metrics_port)
        if args.kafka:
            from .adapt_kafka import to_kafka

            tally = to_kafka(args, config, translator, metrics)
        else:
            tally = _to_files(args, config, translator, metrics)
    except (OSError, KafkaUnavailable) as exc:
        print(f"telltales adapt: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    if not args.quiet:
        print(tally.summary(args.adapter), file=sys.stderr)
    return 1 if args.strict and tally.rejected else 0


def _to_files(args: argparse.Namespace, config: Config, translator: Translator,
              metrics: AdapterMetrics | None) -> Tally:
    encode = msgspec.json.Encoder().encode
    with output_files(args.out, args.dlq) as (out, dlq_out):
        run = Run(translator, lambda event: out.write(encode(event) + b"\n"),
                  None if dlq_out is None else lambda _key, envelope: dlq_out.write(dlq.encode(envelope) + b"\n"),
                  metrics=metrics, max_original_bytes=config.dlq.max_original_bytes)
        return run.lines(args.files)
