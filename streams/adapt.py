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

from .kafka_client import KafkaUnavailable, kafka_python_kwargs, unavailable
from .replay import _rfc3339, output_files, read_lines
from .topics import topic_for, topic_value

MAX_SKIP_REASONS_SHOWN = 8
BOOTSTRAP_TIMEOUT_MS = 5000  # --kafka: how long to wait for a broker to answer before saying none did


class DirectoryError(Exception):
    """A directory file that cannot be trusted to resolve identities (every record would be misjudged)."""


@dataclass
class Tally:
    records: int = 0
    events: int = 0
    skipped: Counter = field(default_factory=Counter)   # reason → records
    rejected: Counter = field(default_factory=Counter)  # rejection code → records

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
        return "\n".join(parts)


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


def adapt(paths: list[str], translator: Translator, emit: Callable[[Event], None],
          reject: Callable[[dlq.DlqEnvelope], None] | None,
          *, max_original_bytes: int = dlq.DEFAULT_MAX_ORIGINAL_BYTES) -> Tally:
    """Translate every line of `paths`; hand events to `emit`, rejects to `reject`; return the tally."""
    tally = Tally()
    clock = 0.0  # newest event time written (epoch s): the DLQ envelopes' time, deterministic
    for name, number, line in read_lines(paths):
        tally.records += 1
        result = translator.translate(line)
        if isinstance(result, str):
            tally.skipped[result] += 1
        elif isinstance(result, Rejection):
            tally.rejected[result.code] += 1
            if reject is not None:
                reject(dlq.envelope(line, result, dlq.FileSource(file=name, line=number),
                                    time=_rfc3339(clock), stage="adapter", adapter=translator.adapter.name,
                                    max_original_bytes=max_original_bytes))
        else:
            for event in result:
                emit(event)
                clock = max(clock, event.epoch_s)
            tally.events += len(result)
    return tally


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "adapt", help="turn a vendor's log export (Okta, osquery ...) into canonical event JSONL",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="vendor records, one JSON object per line (- = stdin)")
    parser.add_argument("--from", dest="adapter", required=True, choices=adapters.ADAPTERS,
                        help="the vendor log the records come from")
    parser.add_argument("--directory", action="append", required=True, metavar="FILE",
                        help="employee records (JSONL) whose ids and aliases name the vendor's users; repeatable")
    parser.add_argument("--out", default="-", help="canonical events output file (default: stdout)")
    parser.add_argument("--dlq", help="write records that could not be mapped as DLQ envelopes (JSONL) to this file")
    parser.add_argument("--kafka", action="store_true",
                        help="produce events to the telemetry topics and rejects to the DLQ topic of --config "
                             "instead of --out and --dlq")
    parser.add_argument("--config", help="organisation config TOML: the broker, its security and the topic names "
                                         "for --kafka (default: built-in defaults)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any record was rejected")
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.kafka and (args.out != "-" or args.dlq):
        print("telltales adapt: --kafka writes to topics; leave out --out and --dlq", file=sys.stderr)
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
    if not len(identities):
        print(f"telltales adapt: no employee records in {', '.join(args.directory)}: every user would be unknown",
              file=sys.stderr)
        return 2
    translator = Translator(adapters.load(args.adapter), identities, max_event_bytes=config.decode.max_event_bytes)
    try:
        tally = (_to_kafka if args.kafka else _to_files)(args, config, translator)
    except (OSError, KafkaUnavailable) as exc:
        print(f"telltales adapt: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(tally.summary(args.adapter), file=sys.stderr)
    return 1 if args.strict and tally.rejected else 0


def _to_files(args: argparse.Namespace, config: Config, translator: Translator) -> Tally:
    encode = msgspec.json.Encoder().encode
    with output_files(args.out, args.dlq) as (out, dlq_out):
        return adapt(args.files, translator, lambda event: out.write(encode(event) + b"\n"),
                     None if dlq_out is None else lambda envelope: dlq_out.write(dlq.encode(envelope) + b"\n"),
                     max_original_bytes=config.dlq.max_original_bytes)


def _to_kafka(args: argparse.Namespace, config: Config, translator: Translator) -> Tally:
    """Produce to the topics of `config`; every send is acknowledged by all replicas before this returns."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

    try:
        producer = KafkaProducer(**kafka_python_kwargs(config.kafka), acks="all", linger_ms=5,
                                 bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    except (KafkaTimeoutError, KafkaConnectionError):
        raise unavailable(config.kafka) from None
    topics = config.topics
    failed: list[Exception] = []  # sends the broker refused (kept only to count them and show the first)

    def send(topic: str, key: bytes | None, value: bytes) -> None:
        producer.send(topic, key=key, value=value).add_errback(failed.append)

    try:
        tally = adapt(args.files, translator,
                      lambda event: send(topic_for(topics, event), event.employee_id.encode("utf-8"), topic_value(event)),
                      lambda envelope: send(topics.dlq, None, dlq.encode(envelope)),
                      max_original_bytes=config.dlq.max_original_bytes)
        producer.flush()
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {config.kafka.bootstrap_servers}: {exc}") from None
    finally:
        producer.close()
    if failed:
        sent = tally.events + sum(tally.rejected.values())
        raise KafkaUnavailable(f"Kafka at {config.kafka.bootstrap_servers} refused {len(failed)} of {sent} "
                               f"records; the first: {failed[0]}")
    return tally
