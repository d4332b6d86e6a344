"""`telltales adapt --kafka`: the sidecar's Kafka side (events and rejects out; vendor records and directory in).

Vendor records come from files or stdin, or with `--input-topic` from a raw vendor topic
in a consumer group. Each polled batch is translated, produced, flushed (every send
acknowledged by all in-sync replicas) and only then its offsets committed: at-least-once.
A record read twice (a crash or SIGKILL between the flush and the commit, a rebalance)
gives the same event again — Entra's `event_id` is "entra:<id>:<errorCode>", Okta's
"okta:<uuid>" and an osquery event's the decoder's hash of the event — so the worker's
idempotence drops the duplicate.
(Only when the record's user was re-aliased to someone else in between does it differ.)

With `--directory-topic` the directory is read from `directory.employees` to its end
before anything is translated, then read to its end again before each batch: a directory
record written before a vendor record was consumed is applied before it is translated.
A record whose user's directory record comes later goes to the DLQ as `unknown_identity`
at once rather than being held for a retry: visible (counted, alertable, the original
kept in the envelope to re-feed) and free of the memory and offset bookkeeping held
records would need, where a retry would only hide a directory feed that lags the logs.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections import Counter
from types import FrameType
from typing import Any

from telltales.schemas import dlq
from telltales.schemas.adapters import Identities, Translator
from telltales.schemas.config import Config
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import Event
from telltales.schemas.rejections import Rejection

from .adapt import Run, Tally
from .adapt_metrics import AdapterMetrics
from .kafka_client import KafkaUnavailable, kafka_python_kwargs, unavailable
from .topics import topic_for, topic_value

BOOTSTRAP_TIMEOUT_MS = 5000  # how long to wait for a broker to answer before saying none did
MAX_BATCH = 500  # vendor records per poll: with the producer's buffer, what bounds the memory in flight
POLL_MS = 500  # how long a poll waits for records: also how soon a stop request is seen when idle
DIRECTORY_STALL_S = 30.0  # reading the directory topic to its end, this long without a record is an error
DIRECTORY_FOLLOW_S = 1.0  # between batches (or lines of a file), the directory is re-read at most this often


class Sink:
    """Produces events to the telemetry topics (key = employee id) and DLQ envelopes to the DLQ topic."""

    def __init__(self, config: Config) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaConnectionError, KafkaTimeoutError

        self.config = config
        try:
            self._producer = KafkaProducer(**kafka_python_kwargs(config.kafka), acks="all", linger_ms=5,
                                           bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
        except (KafkaTimeoutError, KafkaConnectionError):
            raise unavailable(config.kafka) from None
        self.sent = 0
        self.failed: list[Exception] = []  # sends the broker refused (kept only to count them and show the first)

    def event(self, event: Event) -> None:
        self._send(topic_for(self.config.topics, event), event.employee_id.encode("utf-8"), topic_value(event))

    def reject(self, key: bytes | None, envelope: dlq.DlqEnvelope) -> None:
        self._send(self.config.topics.dlq, key, dlq.encode(envelope))

    def flush(self) -> None:
        """Return once every send so far is acknowledged; KafkaUnavailable if any was refused."""
        from kafka.errors import KafkaError

        try:
            self._producer.flush()
        except KafkaError as exc:
            raise KafkaUnavailable(f"Kafka at {self.config.kafka.bootstrap_servers}: {exc}") from None
        if self.failed:
            raise KafkaUnavailable(f"Kafka at {self.config.kafka.bootstrap_servers} refused {len(self.failed)} of "
                                   f"{self.sent} records; the first: {self.failed[0]}")

    def close(self) -> None:
        self._producer.close()

    def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        from kafka.errors import KafkaError

        try:
            self._producer.send(topic, key=key, value=value).add_errback(self.failed.append)
        except KafkaError as exc:
            raise KafkaUnavailable(f"Kafka at {self.config.kafka.bootstrap_servers}: {exc}") from None
        self.sent += 1


class DirectoryFollower:
    """The employees topic, read from its beginning and then followed, kept in `identities`.

    A record adds or replaces an employee; a tombstone (key = employee id, no value)
    removes them. Records the contract refuses, or whose key is not their employee id,
    are passed over and counted (the run's summary shows them) — the worker reading the
    same topic sends them to the DLQ.
    """

    def __init__(self, config: Config, identities: Identities, metrics: AdapterMetrics | None = None) -> None:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.errors import KafkaConnectionError, KafkaTimeoutError

        self.topic = config.topics.employees
        self.identities, self.metrics = identities, metrics
        self.applied: Counter = Counter()  # employee | erased | refused → records
        try:
            self._consumer = KafkaConsumer(**kafka_python_kwargs(config.kafka), enable_auto_commit=False,
                                           bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
        except (KafkaTimeoutError, KafkaConnectionError):
            raise unavailable(config.kafka) from None
        partitions = self._consumer.partitions_for_topic(self.topic)
        if not partitions:
            self._consumer.close()
            raise KafkaUnavailable(f"the directory topic {self.topic} does not exist (telltales topics create)")
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(self._partitions)
        self._consumer.seek_to_beginning(*self._partitions)
        self._decoder = Decoder("employee")
        self._read_at = float("-inf")

    def catch_up(self) -> None:
        """Apply every record written to the topic before this call."""
        end = self._consumer.end_offsets(self._partitions)
        deadline = time.monotonic() + DIRECTORY_STALL_S
        while any(self._consumer.position(tp) < end[tp] for tp in self._partitions):
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"the directory topic {self.topic} stopped answering before its end "
                                       f"({DIRECTORY_STALL_S:.0f} s without a record)")
            for records in self._consumer.poll(timeout_ms=200).values():
                deadline = time.monotonic() + DIRECTORY_STALL_S
                for record in records:
                    self._apply(record)
        self._read_at = time.monotonic()
        if self.metrics is not None:
            self.metrics.directory(len(self.identities))

    def follow(self) -> None:
        """Catch up if the last catch-up is more than DIRECTORY_FOLLOW_S old."""
        if time.monotonic() - self._read_at >= DIRECTORY_FOLLOW_S:
            self.catch_up()

    def close(self) -> None:
        self._consumer.close()

    def _apply(self, record: Any) -> None:
        if record.value is None:
            if record.key is not None:
                self.identities.remove(record.key.decode("utf-8", "replace"))
                self.applied["erased"] += 1
            return
        employee = self._decoder.decode(record.value)
        if isinstance(employee, Rejection) or record.key != employee.employee_id.encode():
            self.applied["refused"] += 1
            return
        self.identities.add(employee)
        self.applied["employee"] += 1


class StopSignals:
    """SIGTERM and SIGINT ask the loop to stop after the batch in hand (then the previous handlers are back)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested = False

    def __enter__(self) -> StopSignals:
        self._previous = {s: signal.signal(s, self._stop) for s in self.SIGNALS}
        return self

    def __exit__(self, *_exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.requested = True


def to_kafka(args: argparse.Namespace, config: Config, translator: Translator,
             metrics: AdapterMetrics | None) -> Tally:
    """Vendor records from the files or the input topic of `args` to the topics of `config`."""
    # As a service, a stop request from the start on ends the run cleanly (after start-up, if it came during it).
    with StopSignals() if args.input_topic else contextlib.nullcontext() as stop:
        follower = sink = None
        try:
            if args.directory_topic:
                follower = DirectoryFollower(config, translator.identities, metrics)
                follower.catch_up()
                if not len(translator.identities):
                    raise KafkaUnavailable(f"no employee records in the directory topic {follower.topic}"
                                           f"{' or ' + ', '.join(args.directory) if args.directory else ''}: "
                                           "every user would be unknown")
            sink = Sink(config)
            # A live service's envelopes say when the record was refused, as the worker's do.
            run = Run(translator, sink.event, sink.reject, clock=time.time if args.input_topic else None,
                      metrics=metrics, max_original_bytes=config.dlq.max_original_bytes)
            if args.input_topic:
                _consume(args, config, run, sink, follower, stop)
            else:
                run.lines(args.files, None if follower is None else follower.follow)
                sink.flush()
            if follower is not None:
                run.tally.directory.update(follower.applied)
            return run.tally
        finally:
            if sink is not None:
                sink.close()
            if follower is not None:
                follower.close()


def _consume(args: argparse.Namespace, config: Config, run: Run, sink: Sink,
             follower: DirectoryFollower | None, stop: StopSignals) -> None:
    """Batches of the input topic until SIGTERM or SIGINT; each one's offsets committed once its output is acked."""
    from kafka import KafkaConsumer
    from kafka.errors import CommitFailedError, KafkaConnectionError, KafkaTimeoutError
    from kafka.structs import OffsetAndMetadata

    group = args.group or f"telltales-adapt-{run.translator.adapter.name}"
    try:
        consumer = KafkaConsumer(**kafka_python_kwargs(config.kafka), group_id=group, enable_auto_commit=False,
                                 auto_offset_reset="earliest", max_poll_records=MAX_BATCH,
                                 allow_auto_create_topics=False, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS)
    except (KafkaTimeoutError, KafkaConnectionError):
        raise unavailable(config.kafka) from None
    try:
        if not consumer.partitions_for_topic(args.input_topic):  # else it would wait for the topic, silently
            raise KafkaUnavailable(f"the input topic {args.input_topic} does not exist")
        consumer.subscribe([args.input_topic])
        while not stop.requested:
            batch = consumer.poll(timeout_ms=POLL_MS)
            if follower is not None and batch:
                follower.catch_up()
            elif follower is not None:
                follower.follow()
            offsets = {}
            for tp, records in batch.items():
                for record in records:
                    source = dlq.KafkaSource(topic=tp.topic, partition=tp.partition, offset=record.offset,
                                             key=dlq.decode_key(record.key))
                    run.record(record.value if record.value is not None else b"", source, record.key)
                offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
            if not offsets:
                continue
            sink.flush()
            try:
                consumer.commit(offsets)
            except CommitFailedError as exc:  # the group rebalanced: the new owner reads these again
                print(f"telltales adapt: offsets not committed, the records will be read again: {exc}",
                      file=sys.stderr)
    finally:
        consumer.close(autocommit=False)
