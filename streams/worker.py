"""`telltales worker`: the detection core on Kafka — Faust agents, tables and topics around `Engine`. No detection logic.

Topology (P = `topics.partitions`; every topic below has P partitions, so one worker owns
the same partition numbers of all of them; keys are raw UTF-8 bytes):

    telemetry.vpn ─┐
    telemetry.remote_access ─┤                      ┌─ table employee-state  (employee id → Engine.encode_state)
    telemetry.device ─┤ agent "employees"  ────────┼─ table directory       (employee id → employee record JSON)
    directory.employees ─┤  decode, observe, fuse    └─ table open-cases      (employee id → partition)
    <app>-signals ─┘       │        │         │
                           │        │         └─► siem.alerts (OCSF findings, key employee id) · telltales.dlq
                           │        └─ KeyObservations, one message per key partition per batch (or sweep tick)
                           ▼
              <app>-keys-<kind> (one repartition topic per correlation key kind, partitioned by the key value)
                           │ agent "keys": Engine.correlate ── table keys-<kind> (detector␟value → key state)
                           └─► <app>-signals (key = the addressed employee id) ─► back to agent "employees"

Both agents receive whole fetches (`telltales.streams.app.BatchApp`), not one Faust Event
per record, and keep employee and key states decoded between batches (`StateCache`): a
changed state is held in memory and written to its table and changelog once per offset
commit (one changelog record per employee per commit interval, not per batch), before the
offsets that cover it are committed. Offsets are acked only after their records are
applied and their outputs handed to the producer, so commits never pass unprocessed
records. A timer sweeps open cases (decay, TTL) on the worker's event-time clock.

Processing order — what may differ from a file, and what the worker does about it:

- Per employee, events are applied in Kafka-timestamp order across the three telemetry
  topics (ties in topic order): a partition's records wait in a buffer until every
  telemetry topic that may still hold unread records has delivered past them, so events
  produced in time order are applied in time order — a file's order — whichever topic the
  fetcher serves first (Kafka Streams' timestamp synchronisation; `_drain`). "May still
  hold" is what the last fetch said: live, a record written to one topic just after that
  topic's last fetch reply can reach the worker after a later record of another topic and
  is applied after it (as in Kafka Streams). Cases do not depend on such swaps; detector
  statistics can, in detail (a running mean's last digits, a count of one more or less). A
  topic that stays silent for `TOPIC_WAIT_S` is not waited for (counted in `unordered`); a
  topic far ahead of the others is paused (`_flow`), so the buffer stays bounded.
- Directory after telemetry: after every (re)assignment, a partition's telemetry and
  signals wait until its directory partition has been read to its end (at most
  `DIRECTORY_WAIT_S`), so every record already in the directory is known before the
  first event is scored. A record produced later applies from then on, as it would later
  in a file.
- Cross-employee signals arrive later than in replay (a repartition round trip: during
  catch-up, a batch or two of the employee's own events later in event time), and a key's
  observations reach it interleaved across partitions rather than in file order. Signals
  keep their grouping (one group per source event, fused one group at a time, as replay
  fuses them) and fusion evaluates each group at its own event time, so the resulting
  case does not depend on the delay. It can still differ where the outcome hinges on the
  order of observations of one key across employees (which member completes a farm group
  first, when a detector's key state remembers arrival order), if that decides a
  borderline risk.
- Closing: before new evidence is fused into an open case, the case is swept at that
  evidence's time, so a case whose risk decayed below the close threshold closes before
  the new evidence lands whether or not a timer sweep ran in between (decay is monotone:
  sweeping earlier or later between two pieces of evidence decides the same). The timer
  never sweeps past evidence still in flight: it sweeps at the newest event time read once
  every input partition has been read to its end for two ticks, during live traffic a
  safety margin behind the read position, and not at all while catching up on a backlog
  (`_sweep_clock`); evidence fused behind the clock is brought forward by the next sweep.
  Which intermediate band changes get an Update record depends on when sweeps run; the
  case states do not.
- Duplicates change nothing: `Engine.observe` remembers recent event ids per employee
  (a redelivery after a crash is a no-op), table writes are whole values, and findings are
  deterministic (case uids from employee id and case number).
- Records whose key is not the event's `employee_id`, and any input the decoder refuses,
  go to the DLQ (SPEC section 5) and the stream goes on. A detector that raises is
  isolated by the engine; the worker counts it per detector (metric and counter) and logs
  its first error with context. A record the worker itself fails on goes to the DLQ
  (stage `detector`, code `detector_error`).

Operations (deploy/OPERATIONS.md): `GET /health` on `worker.web_port` (`Worker.health`);
Kafka SASL/TLS from the `[kafka]` section, as for every other client
(`kafka_client.faust_credentials`); a dead member's partitions move after
`worker.session_timeout_s`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import gc
import heapq
import logging
import sys
import time
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from faust.exceptions import ConsumerNotStarted, ImproperlyConfigured
from faust.web import View

from telltales.detectors import registry
from telltales.detectors.base import KEY_KINDS, KeyObservation, Signal
from telltales.detectors.engine import EmployeeState, Engine
from telltales.detectors.fusion import CaseChange
from telltales.detectors.ocsf import FindingBuilder, encode_finding
from telltales.schemas import dlq
from telltales.schemas.config import Config, ConfigError, load
from telltales.schemas.decoder import Decoder
from telltales.schemas.events import Employee
from telltales.schemas.rejections import Rejection

from .app import Batch, BatchApp, Outbox, PartitionScope, StateCache, key_partition
from .geoip import build_engine
from .metrics import Metrics
from .replay import GC_THRESHOLD, CoreCounters

log = logging.getLogger(__name__)

DIRECTORY_WAIT_S: Final = 10.0  # longest a partition's telemetry waits for its directory partition after assignment
TOPIC_WAIT_S: Final = 10.0  # longest buffered telemetry waits for a telemetry topic with unread records to deliver
BUFFER_MAX: Final = 50_000  # buffered records of one partition beyond which it is applied without waiting
LIVE_LAG: Final = 2_000  # an input partition at most this many records behind counts as live (timer sweeps run)
SWEEP_SLACK_S: Final = 900.0  # event time kept between live sweeps and the read position: signals in flight
PAUSE_AT: Final = 10_000  # a telemetry topic-partition this far ahead of its partition's others stops being fetched
RESUME_AT: Final = 2_000  # ... until its buffer is down to this
SWEEP_INTERVAL_S: Final = 1.0   # wall-clock period of the sweep timer
MAX_POLL_RECORDS: Final = 5_000  # records per fetch (one batch): bounds a batch's latency and memory
DIRECTORY_CACHE: Final = 65_536  # decoded directory records kept in memory
STATE_CACHE: Final = 20_000  # decoded states kept between batches, per table (the table holds them all, encoded)
HELD_MAX: Final = 10_000  # changed states held back from a table until the next commit; beyond, written at once
KEY_SEPARATOR: Final = b"\x1f"
OBSERVATIONS_PER_RECORD: Final = 1_000  # key observations per record of a keys topic (~100 kB at most)
# Offsets are committed on the timer (worker.commit_interval_s), not also every 10,000 acked records (Faust's
# default): every commit writes the held states, and at half of peak load that default commits about once a second.
COMMIT_EVERY: Final = 2**31 - 1

_SIGNAL_GROUPS = msgspec.msgpack.Decoder(list[list[Signal]])  # one group per source event, fused one by one
_OBSERVATIONS = msgspec.msgpack.Decoder(list[KeyObservation])
_ENCODE = msgspec.msgpack.Encoder().encode


@dataclass(frozen=True)
class Topology:
    """Every topic and table name the worker uses, from the config."""

    telemetry: dict[str, str]  # topic → event type
    directory: str
    alerts: str
    dlq: str
    signals: str
    keys: dict[str, str]  # key kind → repartition topic
    partitions: int

    @classmethod
    def from_config(cls, config: Config, key_kinds: list[str]) -> Topology:
        app_id = config.worker.app_id
        return cls(telemetry=config.topics.telemetry(), directory=config.topics.employees,
                   alerts=config.topics.alerts, dlq=config.topics.dlq, signals=f"{app_id}-signals",
                   keys={kind: f"{app_id}-keys-{kind}" for kind in key_kinds},
                   partitions=config.topics.partitions)

    def internal(self) -> list[str]:
        """Topics the worker creates itself (tables' changelogs are created by Faust)."""
        return [self.signals, *self.keys.values()]


@dataclass
class WorkerCounters(CoreCounters):
    records: int = 0
    batches: int = 0
    internal_errors: Counter = field(default_factory=Counter)  # exception type → records the worker failed on
    observations: int = 0
    sweeps: int = 0
    misplaced: int = 0  # records on a partition their key does not hash to (producer not using murmur2)
    unordered: int = 0  # times buffered telemetry was applied without waiting for a silent topic (TOPIC_WAIT_S)


class Worker:
    """The Faust app, its tables and agents, wired to one `Engine`."""

    def __init__(self, config: Config, *, engine: Engine | None = None, web: bool = True,
                 loglevel: str = "WARNING") -> None:
        self.config = config
        self.serve_metrics = web  # /metrics goes with the web server (tests and benchmarks run without either)
        self.engine = engine or build_engine(config)  # as replay: with the configured GeoIP enrichment
        kinds = sorted({kind for d in self.engine.correlators for kind in d.key_kinds},
                       key=lambda k: (KEY_KINDS.index(k) if k in KEY_KINDS else len(KEY_KINDS), k))
        self.topology = Topology.from_config(config, kinds)
        from . import version as _version

        detectors = {**registry.discover(), **{d.id: d for d in self.engine.detectors}}
        self.builder = FindingBuilder(detectors, self.engine.fusion, product_version=_version(),
                                      location_decimals=config.fusion.location_decimals)
        self.counters = WorkerCounters()
        self.metrics = Metrics.from_config(config, internal=self.topology.internal())
        self._evidence_time: float | None = None  # Kafka timestamp (s) of the record being applied, for latency
        self.loglevel = loglevel
        self.app = _make_app(config, self.topology, web=web)
        self.app.conf  # noqa: B018 — Faust checks its settings lazily; a bad value must fail here, in one line
        self.scope = PartitionScope()
        self.outbox = self.app.outbox = Outbox(self.app, {name: self.topology.partitions for name in (
            self.topology.alerts, self.topology.dlq, self.topology.signals, *self.topology.keys.values())},
            express=(self.topology.alerts, self.topology.signals, *self.topology.keys.values()))
        self._decoders = {topic: Decoder(event_type, max_event_bytes=config.decode.max_event_bytes)
                          for topic, event_type in self.topology.telemetry.items()}
        self._directory_decoder = Decoder("employee", max_event_bytes=config.decode.max_event_bytes)
        self._kind_of = {topic: kind for kind, topic in self.topology.keys.items()}
        self._directory_cache: dict[str, Employee | None] = {}
        self._logged_errors: set[str] = set()
        # Per consumer generation: which partitions may be processed, what waits for its directory.
        self._generation = -1
        self._ready: set[int] = set()
        self._assigned_at = 0.0
        self._pending: dict[int, _Pending] = {}  # partition → telemetry and signals fetched, not yet applied
        # (key kind, key partition) → key observations made since they were last queued (`_send_observations`)
        self._observations: dict[tuple[str, int], list[KeyObservation]] = {}
        self._unsent_findings = 0  # findings queued in the outbox since the last mid-batch flush
        self._employee_acks, self._key_acks = _AckAfterFlush(self.outbox), _AckAfterFlush(self.outbox)
        self._received_next: dict[Any, int] = {}  # topic-partition → offset after the last record the agents got
        self._paused: set[Any] = set()  # telemetry topic-partitions paused because they ran ahead (`_flow`)
        self._tps_of: dict[int, list[Any]] = {}
        self._topic_rank = {topic: rank for rank, topic in enumerate(self.topology.telemetry)}
        # Event-time clock: newest event time per input partition, the last sweep's time.
        self._newest: dict[Any, float] = {}
        self._swept_at = 0.0
        self._quiet_ticks = 0
        self._gc_frozen = False
        self._resweep = False  # evidence older than the last sweep was fused since: sweep again at the clock
        self._farm_cases = (0, 0)  # open cases linked to a laptop farm, distinct farm groups (as of the last sweep)
        self._define(self.app)
        self.outbox.before_commit(self.write_states)

    # Faust wiring -------------------------------------------------------------------------
    def _define(self, app: BatchApp) -> None:
        t = self.topology
        table = dict(partitions=t.partitions, key_type=bytes, value_type=bytes, default=None)
        self.states = app.Table("employee-state", help="Engine state per employee (msgpack)", **table)
        self.directory = app.Table("directory", help="Directory record per employee (JSON)", **table)
        self.open_cases = app.Table("open-cases", help="Employees with an open case → partition", **table)
        self.key_tables = {kind: app.Table(f"keys-{kind}", help=f"Correlation state per {kind} value", **table)
                           for kind in t.keys}
        engine = self.engine
        self.state_cache = StateCache(self.states, t.directory, decode=lambda _, raw: engine.decode_state(raw),
                                      encode=engine.encode_state, key_bytes=str.encode, size=STATE_CACHE,
                                      held_max=HELD_MAX)
        self.key_caches = {kind: StateCache(self.key_tables[kind], topic, decode=_decode_key_state(engine),
                                            encode=engine.encode_key_state, key_bytes=bytes, size=STATE_CACHE,
                                            held_max=HELD_MAX)
                           for kind, topic in t.keys.items()}
        employee_side = app.batch_topic(*t.telemetry, t.directory, t.signals)
        app.agent(employee_side, name="telltales.employees")(self._employees_agent)
        if t.keys:
            app.agent(app.batch_topic(*t.keys.values()), name="telltales.keys")(self._keys_agent)
        app.timer(SWEEP_INTERVAL_S, name="telltales.sweep")(self._sweep_timer)
        worker = self

        @app.page("/health")
        class Health(View):
            """Liveness, readiness and start-up probes (deploy/k8s, the Dockerfile's HEALTHCHECK)."""

            async def get(self, request):
                status, ready = worker.health()
                return self.json(status, status=200 if ready else 503)

    def health(self) -> tuple[dict[str, Any], bool]:
        """What `GET /health` answers, and whether that is a 200 (else 503).

        503 until the first table recovery is done (the start-up probe waits for it) and
        once the worker is stopping or crashed. A recovery after a later rebalance is
        reported (`"recovering"`) but stays a 200: the liveness probe shares this page, and
        restarting a worker because it is rebuilding a partition's state would only start
        the rebuild again.
        """
        from . import version as _version

        app, consumer = self.app, self.app.consumer
        recovered = app.tables.recovery.completed.is_set()
        if app.crashed or consumer.crashed:
            status = "crashed"
        elif app.should_stop:
            status = "stopping"
        elif not recovered:
            status = "starting"
        elif app.in_recovery or app.rebalancing:
            status = "recovering"
        else:
            status = "ok"
        try:
            assigned = {tp.partition for tp in consumer.assignment() if tp.topic == self.topology.directory}
        except ConsumerNotStarted:  # the web server starts before the consumer's thread
            assigned = set()
        body = {"status": status, "version": _version(), "partitions": len(assigned),
                "recovered": recovered and not app.in_recovery}
        return body, status in ("ok", "recovering")

    async def _employees_agent(self, stream) -> None:
        async for batch in stream:
            if self.app.current_batch_is_stale(batch):
                self.app.drop(batch)
                continue
            processed = await self.employee_batch(batch)
            # Outputs and changelogs are enqueued before their inputs are acked; records still buffered stay
            # uncommitted until they are processed.
            await self._employee_acks.after_flush(functools.partial(self._ack_and_release, processed, batch))

    async def _keys_agent(self, stream) -> None:
        async for batch in stream:
            if self.app.current_batch_is_stale(batch):
                self.app.drop(batch)
                continue
            self.key_batch(batch)
            await self._key_acks.after_flush(functools.partial(self.app.ack, batch))

    async def _sweep_timer(self) -> None:
        # The records a tick applies are acked after its flush: a stop's commit waits for that (`BatchApp.holding`).
        with self.app.holding():
            await self._sweep_tick()

    async def _sweep_tick(self) -> None:
        if self.app.rebalancing or not self.app.tables.recovery.completed.is_set():
            return
        self._new_generation_check()
        generation = self._generation
        processed = []
        for partition in sorted(self._pending):  # partitions that waited for a topic or the directory
            processed += self._drain(partition)
            await asyncio.sleep(0)
        self._send_observations()
        self._flow()
        now = self._sweep_clock()
        if self._quiet_ticks >= 2 and self.counters.records and not self._gc_frozen:
            self._freeze_gc()
        if now is not None and (now > self._swept_at or (self._resweep and now >= self._swept_at)):
            self.sweep(now)
        self._gauges()
        await self.outbox.flush()
        if self.app.rebalancing or self.app.consumer_generation_id != generation:
            # A rebalance began meanwhile: its commit may already have run (it waits for this tick at most
            # HOLD_MAX_S), so an ack now could be committed in the next generation, after the states
            # holding these records were dropped with the old generation. Not acked, they are read again.
            return
        self._ack(processed)

    def _ack_and_release(self, processed: list[tuple[Any, list[Any]]], batch: Batch) -> None:
        self._ack(processed)
        self.app.release(batch)

    def _ack(self, processed: list[tuple[Any, list[Any]]]) -> None:
        ack = self.app.ack_records
        for tp, records in processed:
            ack(tp, records)

    # The employee side ----------------------------------------------------------------------
    async def employee_batch(self, batch: Batch) -> list[tuple[Any, list[Any]]]:
        """Take one fetch of telemetry, directory records and returned signals; apply what may be applied now.

        Returns the records processed (per topic-partition, for the caller to ack after it
        flushed the outbox). Telemetry waits in per-partition buffers until it can be merged
        across topics in timestamp order (`_drain`). Each partition is applied without a
        pause (no other task sees half-written state); after each, the findings it raised are
        sent at once, and the event loop runs other tasks (timers, the keys agent, the web
        server).
        """
        self._new_generation_check(batch.generation)
        self.counters.batches += 1
        directory_topic, signals_topic = self.topology.directory, self.topology.signals
        processed: list[tuple[Any, list[Any]]] = []
        touched: set[int] = set()
        received = self._received_next
        for tp, records in batch.records.items():
            self.counters.records += len(records)
            received[tp] = records[-1].offset + 1
            if tp.topic == directory_topic:
                with self.scope.partition(tp.topic, tp.partition):
                    for record in records:
                        try:
                            self._directory_record(tp, record)
                        except Exception as exc:  # noqa: BLE001 — a bug must cost one record, not the stream
                            self._internal_error(tp, record, exc)
                processed.append((tp, records))
                continue
            pending = self._pending.get(tp.partition)
            if pending is None:
                pending = self._pending[tp.partition] = _Pending()
            if tp.topic == signals_topic:
                pending.signals.extend((tp, record) for record in records)
            else:
                self._check_partitioning(tp, records[0])
                queue = pending.telemetry.get(tp)
                if queue is None:
                    queue = pending.telemetry[tp] = deque()
                queue.extend(records)
                pending.size += len(records)
            touched.add(tp.partition)
        for partition in sorted(touched):
            processed += self._drain(partition)
            if self._unsent_findings:  # they leave now, not after the batch's other partitions
                self._unsent_findings = 0
                await self.outbox.flush(express_only=True)
            else:
                await asyncio.sleep(0)
        self._send_observations()
        self._flow()
        return processed

    def _send_observations(self) -> None:
        """Queue the key observations made since the last call: one record per key partition, for all partitions applied.

        Not one per key value, nor per employee partition: a live batch holds few observations
        of each, and every record costs the producer, the broker and the keys agent's fetch
        and decode. Each key value still lands in its own key partition, in the order made.
        """
        pending = self._observations  # emptied in place: each `_Work` of a batch holds this same dict
        send, topics = self.outbox.send, self.topology.keys
        for (kind, partition), observations in pending.items():
            topic = topics.get(kind)
            if topic is None:
                continue
            for start in range(0, len(observations), OBSERVATIONS_PER_RECORD):
                send(topic, None, _ENCODE(observations[start:start + OBSERVATIONS_PER_RECORD]), partition)
        pending.clear()

    def _flow(self) -> None:
        """Stop fetching telemetry that runs far ahead of its partition's other topics; resume it once caught up.

        During catch-up the fetcher serves each topic-partition in its own slices, so one
        topic can get hours of event time ahead of another; its records wait in the buffer
        for the others, and pausing it keeps that buffer bounded.
        """
        if self.app.rebalancing or not self.app.tables.recovery.completed.is_set():
            return
        consumer = self.app.consumer
        pause, resume = [], []
        for pending in self._pending.values():
            for tp, queue in pending.telemetry.items():
                if tp in self._paused:
                    if len(queue) <= RESUME_AT:
                        resume.append(tp)
                elif len(queue) >= PAUSE_AT:
                    pause.append(tp)
        for tp in list(self._paused):  # drained away entirely
            if tp.partition not in self._pending and tp not in resume:
                resume.append(tp)
        if pause:
            consumer.pause_partitions(pause)
            self._paused.update(pause)
        if resume:
            consumer.resume_partitions(resume)
            self._paused.difference_update(resume)

    def _drain(self, partition: int) -> list[tuple[Any, list[Any]]]:
        """Apply what one partition can apply now; return the records applied, per topic-partition.

        Telemetry goes in Kafka-timestamp order across the three topics (ties in topic
        order): the earliest buffered record is applied only while every telemetry
        partition that may still hold unread records has one buffered, so a record fetched
        later cannot turn out to be earlier — the order a producer wrote them in, whichever
        topic the fetcher served first. A partition waits at most `TOPIC_WAIT_S` for a silent
        topic (or until `BUFFER_MAX` records are waiting). Returned signals follow, in
        offset order. Nothing is applied before the directory partition has been read
        (after an assignment).
        """
        pending = self._pending.get(partition)
        if pending is None:
            return []
        if partition not in self._ready and not self._directory_caught_up(partition):
            return []
        items = self._in_time_order(partition, pending)
        if pending.signals:
            items += pending.signals
            pending.signals = []
        if not pending.size and not pending.signals:
            del self._pending[partition]
        if not items:
            return []
        self._process_partition(partition, items)
        by_tp: dict[Any, list[Any]] = {}
        for tp, record in items:
            group = by_tp.get(tp)
            if group is None:
                group = by_tp[tp] = []
            group.append(record)
        return list(by_tp.items())

    def _in_time_order(self, partition: int, pending: _Pending) -> list[tuple[Any, Any]]:
        queues = pending.telemetry
        if not pending.size:
            return []
        # Telemetry partitions with records not received yet: their next timestamp is unknown.
        open_tps = {tp for tp in self._telemetry_tps(partition) if not self._caught_up(tp)}
        now = time.monotonic()
        force = pending.size >= BUFFER_MAX or (
            pending.blocked_since is not None and now - pending.blocked_since >= TOPIC_WAIT_S)
        if force and any(not queues.get(tp) for tp in open_tps):
            self.counters.unordered += 1
            if "unordered" not in self._logged_errors:
                self._logged_errors.add("unordered")
                log.warning("partition %d: applying %d buffered records without waiting further for %s (silent "
                            "for %.1f s or %d records buffered): events of these topics may be applied out of "
                            "timestamp order; further occurrences are only counted", partition, pending.size,
                            ", ".join(sorted(tp.topic for tp in open_tps if not queues.get(tp))),
                            now - (pending.blocked_since or now), pending.size)
        heap = [(queue[0].timestamp, self._topic_rank[tp.topic], tp) for tp, queue in queues.items() if queue]
        heapq.heapify(heap)
        out = []
        while heap:
            if not force and any(not queues.get(tp) for tp in open_tps):
                break
            _, rank, tp = heapq.heappop(heap)
            queue = queues[tp]
            out.append((tp, queue.popleft()))
            if queue:
                heapq.heappush(heap, (queue[0].timestamp, rank, tp))
        pending.size -= len(out)
        # Waiting means no progress: the clock restarts whenever something could be applied.
        pending.blocked_since = None if not pending.size else now if out else (pending.blocked_since or now)
        return out

    def _caught_up(self, tp) -> bool:
        """Has this worker received every record of `tp` up to its high watermark at the last fetch?

        Counted from what reached the agents, not from the consumer's position: the consumer
        runs ahead by the batches queued for the agents.
        """
        highwater = self.app.consumer.highwater(tp)
        if highwater is None:
            return False
        received = self._received_next.get(tp)
        if received is None:  # nothing yet in this assignment: it starts at the committed offset
            received = self.app.consumer._committed_offset[tp] or 0
        return received >= highwater

    def _telemetry_tps(self, partition: int) -> list[Any]:
        tps = self._tps_of.get(partition)
        if tps is None:
            from faust.types import TP

            tps = self._tps_of[partition] = [TP(topic, partition) for topic in self.topology.telemetry]
        return tps

    def _check_partitioning(self, tp, record) -> None:
        """Cross-employee signals reach an employee's partition by Kafka's default partitioner: warn if producers differ."""
        if record.key is None or key_partition(record.key, self.topology.partitions) == tp.partition:
            return
        self.counters.misplaced += 1
        if "misplaced" not in self._logged_errors:
            self._logged_errors.add("misplaced")
            log.warning("%s[%d] holds key %r, which Kafka's default partitioner (murmur2) puts in partition %d: "
                        "producers must partition telemetry by murmur2 of the raw key (librdkafka clients: "
                        "partitioner=murmur2_random), or cross-employee signals miss these employees' state",
                        tp.topic, tp.partition, record.key, key_partition(record.key, self.topology.partitions))

    def _directory_caught_up(self, partition: int) -> bool:
        from faust.types import TP

        if self._caught_up(TP(self.topology.directory, partition)) or \
                time.monotonic() - self._assigned_at > DIRECTORY_WAIT_S:
            self._ready.add(partition)
            return True
        return False

    def _new_generation_check(self, generation: int | None = None) -> None:
        generation = self.app.consumer_generation_id if generation is None else generation
        if generation == self._generation:
            return
        # A rebalance: buffered records were not acked; they are fetched again from the committed offsets.
        self._pending.clear()
        self._paused.clear()  # a rebalance resets what the consumer fetches
        self._received_next.clear()
        self._ready.clear()
        self._directory_cache.clear()
        # Held states are dropped too: the rebalance's commit wrote every one its offsets covered (`write_states`),
        # and the rest come back as their records are read again from the committed offsets.
        self.state_cache.clear()
        for cache in self.key_caches.values():
            cache.clear()
        self._newest.clear()
        self._generation = generation
        self._assigned_at = time.monotonic()

    def _directory_record(self, tp, record) -> None:
        key = record.key
        if record.value is None:  # tombstone: the employee is erased
            if key is not None:
                self.outbox.changelog(self.directory, tp.partition, key, None)
                self._directory_cache.pop(key.decode("utf-8", "replace"), None)
            return
        event = self._directory_decoder.decode(record.value)
        if isinstance(event, Rejection):
            self._reject(tp, record, event)
            return
        if key is None or key != event.employee_id.encode():
            self._reject(tp, record, _key_mismatch(key, event.employee_id))
            return
        self.outbox.changelog(self.directory, tp.partition, key, record.value)
        self._directory_cache[event.employee_id] = event
        self.counters.events["employee"] += 1
        self.metrics.event(tp.topic, "accepted")

    def _employee(self, employee_id: str) -> Employee | None:
        cache = self._directory_cache
        if employee_id in cache:
            return cache[employee_id]
        raw = self.directory.data.get(employee_id.encode())
        record = self._directory_decoder.decode(raw) if raw is not None else None
        if isinstance(record, Rejection):  # stored records were valid when written
            record = None
        if len(cache) >= DIRECTORY_CACHE:
            cache.clear()
        cache[employee_id] = record
        return record

    def _process_partition(self, partition: int, items: list[tuple[Any, Any]]) -> None:
        work = _Work(self, partition)
        signals_topic = self.topology.signals
        newest = self._newest
        with self.scope.partition(self.topology.directory, partition):
            for tp, record in items:
                self._evidence_time = record.timestamp / 1000.0 if record.timestamp is not None else None
                try:
                    when = work.signals(tp, record) if tp.topic == signals_topic else work.telemetry(tp, record)
                except Exception as exc:  # noqa: BLE001 — a bug must cost one record, not the stream
                    self._internal_error(tp, record, exc)
                    continue
                if when is not None and when > newest.get(tp, 0.0):
                    newest[tp] = when
            self._evidence_time = None
            work.flush()

    # The key side ---------------------------------------------------------------------------
    def key_batch(self, batch: Batch) -> None:
        """Fold one fetch of key observations into key states; send the signals to their employees."""
        # Whichever agent sees a new generation first moves the worker to it before holding anything of it: held
        # states are dropped when the worker changes generation, and not written while it lags the consumer's.
        self._new_generation_check(batch.generation)
        engine = self.engine
        newest = self._newest
        outgoing: dict[str, list[list[Signal]]] = defaultdict(list)
        for tp, records in batch.records.items():
            self._received_next[tp] = records[-1].offset + 1
            cache = self.key_caches[self._kind_of[tp.topic]]
            partition = tp.partition
            with self.scope.partition(tp.topic, partition):
                for record in records:
                    try:
                        for observation in _OBSERVATIONS.decode(record.value):
                            key = observation.detector.encode() + KEY_SEPARATOR + observation.value.encode()
                            state, signals, errors = engine.correlate(observation, cache.get(key))
                            if state is not None:
                                cache.put(partition, key, state)
                            if observation.time > newest.get(tp, 0.0):
                                newest[tp] = observation.time
                            if errors:
                                self._detector_errors(errors, tp, record, observation.employee_id,
                                                      observation.event_id)
                            if signals:
                                _group_by_employee(signals, outgoing)
                    except Exception as exc:  # noqa: BLE001 — a bug must cost one record, not the stream
                        self._internal_error(tp, record, exc)
                self.metrics.event(tp.topic, "accepted", len(records))
            if cache.full:
                self.write_states()
        for employee_id, groups in outgoing.items():
            self.outbox.send(self.topology.signals, employee_id.encode(), _ENCODE(groups))

    # Sweep ----------------------------------------------------------------------------------
    def _sweep_clock(self) -> float | None:
        """The event time the timer may sweep open cases at now, or None to leave them to the next evidence.

        Cross-employee signals are in flight for a repartition round trip, during which they
        are invisible to every offset this worker can see; a sweep must not run ahead of them
        (it would close a case that their evidence keeps open). So: when every input
        partition has been read to its end for two ticks in a row, at the newest event time
        read (a signal produced meanwhile would have shown up); while traffic is live (each
        input at most `LIVE_LAG` records behind), at the oldest newest-event-time of the
        partitions with unread records, less `SWEEP_SLACK_S` for the round trip; while
        catching up on a backlog, not at all — the lazy sweep before each piece of new
        evidence and the first quiet tick then do the work.
        """
        consumer = self.app.consumer
        inputs = (*self.topology.telemetry, self.topology.signals, *self._kind_of)
        lagging: list[float | None] = []
        behind = 0
        for tp in consumer.assignment():
            if tp.topic in inputs and not self._caught_up(tp):
                lagging.append(self._newest.get(tp))
                behind = max(behind, (consumer.highwater(tp) or 0)
                             - self._received_next.get(tp, consumer._committed_offset[tp] or 0))
        for pending in self._pending.values():
            if pending.size or pending.signals:
                lagging.append(None)  # buffered records: their event times are not known yet
        if not lagging:
            self._quiet_ticks += 1
            newest = max(self._newest.values(), default=0.0)
            return newest if self._quiet_ticks >= 2 and newest else None
        self._quiet_ticks = 0
        if behind > LIVE_LAG or any(v is None for v in lagging):
            return None
        return min(lagging) - SWEEP_SLACK_S  # type: ignore[type-var]

    def sweep(self, now: float) -> None:
        """Let open cases decay or expire at event time `now`."""
        self._swept_at = now
        self._resweep = False
        self.counters.sweeps += 1
        farm_cases, farm_groups = 0, set()
        engine = self.engine
        assigned = {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.topology.directory}
        by_partition: dict[int, list[bytes]] = defaultdict(list)
        for key, value in list(self.open_cases.data.items()):
            partition = int(value)
            if partition in assigned:
                by_partition[partition].append(key)
        cache = self.state_cache
        for partition, keys in sorted(by_partition.items()):
            with self.scope.partition(self.topology.directory, partition):
                for key in sorted(keys):
                    employee_id = key.decode()
                    state = cache.get(employee_id)
                    if state is None:
                        self.outbox.changelog(self.open_cases, partition, key, None)
                        continue
                    new, changes = engine.sweep(state, now, employee_id)
                    if new is not state:  # written at once, with its findings: no input offset may follow to commit
                        cache.write_now(self.outbox, partition, employee_id, new)
                    self._publish(changes, partition)
                    case = new.fusion.case
                    if case.open and case.group:
                        farm_cases += 1
                        farm_groups.add(case.group)
        self._farm_cases = (farm_cases, len(farm_groups))

    def _gauges(self) -> None:
        """Lag, open cases, table sizes: cheap enough to set every tick."""
        consumer = self.app.consumer
        lag: Counter = Counter()
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is not None:
                lag[tp.topic] += max(0, highwater - (consumer._committed_offset[tp] or 0))
        for topic in (*self.topology.telemetry, self.topology.directory, *self.topology.internal()):
            self.metrics.lag(topic, lag[topic])
        self.metrics.cases(len(self.open_cases.data), *self._farm_cases)
        self.metrics.employees(len(self.states.data))
        for name, table in (("employee-state", self.states), ("directory", self.directory),
                            ("open-cases", self.open_cases), *((f"keys-{k}", t) for k, t in self.key_tables.items())):
            self.metrics.table(name, len(table.data))

    def write_states(self) -> None:
        """Queue the held-back employee and key states into their tables and changelogs (before every commit).

        Only states of this generation's partitions are written: after a rebalance the agents
        have not seen yet, what is held belongs to a generation whose commits are over.
        """
        owned: set[int] = set()
        if self._generation == self.app.consumer_generation_id:
            owned = {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.topology.directory}
        dropped = sum(cache.write(self.outbox, self.scope, owned)
                      for cache in (self.state_cache, *self.key_caches.values()))
        if dropped:
            log.info("dropped %d held states of partitions no longer assigned or of an older generation: their "
                     "records were not committed here and are processed again from the committed offsets", dropped)

    # Outputs --------------------------------------------------------------------------------
    def _publish(self, changes: list[CaseChange], partition: int) -> None:
        for change in changes:
            key = change.employee_id.encode()
            if change.case.open:
                if change.activity == "create":
                    self.outbox.changelog(self.open_cases, partition, key, str(partition).encode())
            else:
                self.outbox.changelog(self.open_cases, partition, key, None)
            self.counters.findings[change.activity] += 1
            finding = self.builder.build(change)
            self.outbox.send(self.topology.alerts, key, encode_finding(finding))
            self._unsent_findings += 1
            self.metrics.finding_record(finding)
            if self._evidence_time is not None:
                self.metrics.latency(time.time() - self._evidence_time)

    def _reject(self, tp, record, rejection: Rejection, stage: str = "decode") -> None:
        self.counters.rejected[rejection.code] += 1
        self.metrics.event(tp.topic, "rejected")
        self.metrics.dlq(rejection.code, stage)
        source = dlq.KafkaSource(topic=tp.topic, partition=tp.partition, offset=record.offset,
                                 key=dlq.decode_key(record.key))
        envelope = dlq.envelope(record.value if record.value is not None else b"", rejection, source, stage=stage,
                                time=_now_rfc3339(), max_original_bytes=self.config.dlq.max_original_bytes)
        self.outbox.send(self.topology.dlq, record.key, dlq.encode(envelope), tp.partition)

    def _internal_error(self, tp, record, exc: Exception) -> None:
        """The worker itself failed on one record: DLQ it with the reason, count it, log the first of each kind."""
        kind = type(exc).__name__
        self.counters.internal_errors[kind] += 1
        if kind not in self._logged_errors:
            self._logged_errors.add(kind)
            log.exception("worker error on %s[%d]@%d (record sent to the DLQ; further %s errors are only counted)",
                          tp.topic, tp.partition, record.offset, kind)
        self._reject(tp, record, Rejection("detector_error", "", f"worker error: {kind}: {exc}"), stage="detector")

    def _detector_errors(self, errors, tp, record, employee_id: str, event_id: str | None) -> None:
        for error in errors:
            self.counters.detector_errors[error.detector] += 1
            self.metrics.detector_error(error.detector)
            if error.detector not in self._logged_errors:
                self._logged_errors.add(error.detector)
                log.error("detector %s raised in %s: %s — on %s[%d]@%d, employee %s, event %s; the event went on "
                          "through the other detectors; further errors of %s are only counted",
                          error.detector, error.stage, error.error, tp.topic, tp.partition, record.offset,
                          employee_id, event_id, error.detector)

    # Running --------------------------------------------------------------------------------
    @staticmethod
    def configure_gc() -> None:
        """The process's cycle collector at replay's gen-0 threshold (the worker owns its process).

        Every event allocates short-lived containers that reference counting frees; at the
        default threshold (700) cycle collections cost ~10 % of the worker's time and find
        almost nothing.
        """
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])

    def _freeze_gc(self) -> None:
        """Collect once and exempt what survives from later collections, the first time the worker is idle.

        What start-up leaves (Faust, aiokafka, the directory read) was otherwise traversed by
        the first gen-1 collection, which came with the first live events: a 0.16–1.08 s
        pause within 8 s of the first finding in each of nine timed latency runs
        (`bench_latency.py --samples`).
        """
        self._gc_frozen = True
        gc.collect()
        gc.freeze()

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (Faust's worker handles both: finish the batch, commit, leave the group)."""
        self.configure_gc()
        worker = faust_worker(self.app, loglevel=self.loglevel)
        server = self.metrics.serve(self.config.worker.metrics_port) if self.serve_metrics else None
        if server is not None:
            port = server.server_port

            @self.app.task
            async def announce() -> None:  # once Faust has set up logging
                log.info("metrics on http://0.0.0.0:%d/metrics", port)
        try:
            worker.execute_from_commandline()
        except SystemExit as exc:
            return int(exc.code or 0)
        finally:
            if server is not None:
                server.shutdown()
        return 0


class _AckAfterFlush:
    """Acks an agent's batch once its outputs are with the producer, while the agent goes on with the next batch.

    The express lane (findings, cross-employee hops) is flushed at once; the changelogs'
    lane waits for the produce request in flight (aiokafka sends one per broker at a time),
    up to a request's round trip per batch that the agent would otherwise sit out. One
    batch at a time waits here (back-pressure); until it is acked and released, a
    rebalance or shutdown waits for it (`BatchApp.release`).
    """

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._waiting: asyncio.Future | None = None

    async def after_flush(self, ack: Callable[[], None]) -> None:
        await self.outbox.flush(express_only=True)
        if self._waiting is not None:
            await self._waiting  # the batch before: a failed flush raises here, in the agent
        self._waiting = asyncio.ensure_future(self._flush_then(ack))

    async def _flush_then(self, ack: Callable[[], None]) -> None:
        try:
            await self.outbox.flush()
        except BaseException as exc:  # no commit may pass it: the next one crashes the worker (`Outbox.settled`)
            self.outbox.failure = self.outbox.failure or exc
            raise
        ack()


class _Pending:
    """One employee partition's records fetched but not applied yet."""

    __slots__ = ("blocked_since", "signals", "size", "telemetry")

    def __init__(self) -> None:
        self.telemetry: dict[Any, deque] = {}  # telemetry topic-partition → records in offset order
        self.signals: list[tuple[Any, Any]] = []  # returned cross-employee signals, in arrival order
        self.size = 0  # telemetry records buffered
        self.blocked_since: float | None = None  # monotonic time the partition started waiting for a topic


@functools.cache
@functools.lru_cache(maxsize=4_096)  # one per topic-partition, asked once per event
def source_id(tp) -> int:
    """A topic-partition's id in employee states: stable across processes and restarts (CRC-32 of "topic/partition")."""
    return zlib.crc32(f"{tp.topic}/{tp.partition}".encode())


class _Work:
    """One partition of one batch: states loaded once, written once; signals sent once; key observations collected."""

    __slots__ = ("accepted", "counters", "dirty", "engine", "observations", "outcomes", "partition", "remote", "states",
                 "worker")

    def __init__(self, worker: Worker, partition: int) -> None:
        self.worker = worker
        self.engine = worker.engine
        self.partition = partition
        self.states: dict[str, EmployeeState] = {}
        self.dirty: set[str] = set()
        self.observations = worker._observations  # shared by the batch's partitions: one record per key partition
        self.remote: dict[str, list[list[Signal]]] = defaultdict(list)
        self.outcomes: Counter = Counter()  # (topic, duplicate | accepted signals) → records, for the metrics
        self.accepted: dict[str, int] = {}  # telemetry topic → events applied
        self.counters = worker.counters

    def state(self, employee_id: str) -> EmployeeState | None:
        states = self.states
        if employee_id in states:
            return states[employee_id]
        state = states[employee_id] = self.worker.state_cache.get(employee_id)
        return state

    def telemetry(self, tp, record) -> float | None:
        """Apply one telemetry record; return its event time (None when rejected)."""
        worker = self.worker
        event = worker._decoders[tp.topic].decode(record.value) if record.value is not None else \
            Rejection("bad_json", "", "the message is empty (a tombstone on a telemetry topic)")
        if isinstance(event, Rejection):
            worker._reject(tp, record, event)
            return None
        employee_id = event.employee_id
        if record.key is None or record.key != employee_id.encode():
            worker._reject(tp, record, _key_mismatch(record.key, employee_id))
            return None
        # The record's place in its topic-partition: a redelivery (after a crash or a rebalance) of events
        # this state already holds is recognised however many there are (`Engine.observe`).
        source = (source_id(tp), record.offset, record.timestamp // 1000) if record.timestamp is not None else None
        step = self.engine.observe(event, self.state(employee_id), worker._employee(employee_id), source)
        if step.duplicate:
            self.counters.duplicates += 1
            self.outcomes[(tp.topic, "duplicate")] += 1
            return None
        when = step.time
        accepted = self.accepted
        accepted[tp.topic] = accepted.get(tp.topic, 0) + 1
        if step.errors:
            worker._detector_errors(step.errors, tp, record, employee_id, event.event_id)
        state = step.state
        if step.signals:
            local = [s for s in step.signals if s.employee_id == employee_id]
            if len(local) < len(step.signals):
                _group_by_employee([s for s in step.signals if s.employee_id != employee_id], self.remote)
            if local:
                state = self._fuse(state, local, employee_id)
        self.states[employee_id] = state
        self.dirty.add(employee_id)
        if step.observations:
            observations, partitions = self.observations, worker.topology.partitions
            for observation in step.observations:
                where = (observation.kind, key_partition(observation.value.encode(), partitions))
                group = observations.get(where)
                if group is None:
                    observations[where] = [observation]
                else:
                    group.append(observation)
            self.counters.observations += len(step.observations)
        return when

    def signals(self, tp, record) -> float | None:
        """Fuse one record of returned cross-employee signals; return the newest signal time."""
        employee_id = record.key.decode() if record.key is not None else ""
        try:
            groups = _SIGNAL_GROUPS.decode(record.value)
        except (msgspec.DecodeError, TypeError) as exc:  # our own topic: only a bug gets here
            log.error("undecodable record on %s[%d]@%d: %s", tp.topic, tp.partition, record.offset, exc)
            return None
        groups = [signals for signals in groups if signals]
        if not groups:
            return None
        self.outcomes[(tp.topic, "accepted")] += 1
        state = self.state(employee_id) or self.engine.new_state()
        for signals in groups:  # as replay fuses them: the signals one event raised, together
            state = self._fuse(state, signals, employee_id)
        self.states[employee_id] = state
        self.dirty.add(employee_id)
        return max(s.time for signals in groups for s in signals)

    def _fuse(self, state: EmployeeState, signals: list[Signal], employee_id: str) -> EmployeeState:
        for signal in signals:
            self.counters.signals[signal.detector] += 1
            self.worker.metrics.signal(signal.detector)
        case = state.fusion.case
        if case.open:
            # Sweep first, at the time fusion will evaluate: a case whose risk decayed below the close threshold
            # closes before new evidence lands, whether or not a timer sweep happened to run in between.
            now = max(max(s.time for s in signals), case.last_seen)
            state, changes = self.engine.sweep(state, now, employee_id)
            if changes:
                self.worker._publish(changes, self.partition)
        state, changes = self.engine.fuse(state, signals, employee_id)
        if changes:
            self.worker._publish(changes, self.partition)
        if state.fusion.case.open and max(s.time for s in signals) < self.worker._swept_at:
            self.worker._resweep = True  # a case evaluated behind the clock: the next sweep brings it forward
        return state

    def flush(self) -> None:
        worker = self.worker
        for (topic, outcome), n in self.outcomes.items():
            worker.metrics.event(topic, outcome, n)
        event_type = worker.topology.telemetry
        for topic, n in self.accepted.items():
            worker.metrics.event(topic, "accepted", n)
            self.counters.events[event_type[topic]] += n
        hold = worker.state_cache.put
        partition = self.partition
        states = self.states
        for employee_id in self.dirty:
            hold(partition, employee_id, states[employee_id])
        if worker.state_cache.full:
            worker.write_states()
        send = worker.outbox.send
        for employee_id, groups in self.remote.items():
            send(worker.topology.signals, employee_id.encode(), _ENCODE(groups))


def _decode_key_state(engine: Engine):
    """A key table's decoder: the detector that owns a key state is named before the separator in its key."""
    def decode(key: bytes, raw: bytes) -> Any:
        return engine.decode_key_state(key.split(KEY_SEPARATOR, 1)[0].decode(), raw)
    return decode


def _group_by_employee(signals: list[Signal], out: dict[str, list[list[Signal]]]) -> None:
    """Append the signals of one source event to each addressed employee's list of groups."""
    by_employee: dict[str, list[Signal]] = {}
    for signal in signals:
        by_employee.setdefault(signal.employee_id, []).append(signal)
    for employee_id, group in by_employee.items():
        out[employee_id].append(group)


def faust_worker(app, *, loglevel: str = "WARNING"):
    """Faust's `Worker` (signals, logging, graceful stop) without its terminal spinner.

    The spinner sets the root logger to DEBUG so that it can spin on every record, which
    makes every `log.debug` call in aiokafka's produce path build a LogRecord (~9 % of a
    worker's time in the profile).
    """
    import faust

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            self.spinner = None

    return Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)


def _key_mismatch(key: bytes | None, employee_id: str) -> Rejection:
    shown = "no key" if key is None else f"key {dlq.decode_key(key)!r}"
    return Rejection("key_mismatch", "employee_id",
                     f"the message has {shown}; it must be the event's employee_id {employee_id!r} (raw UTF-8)")


def _now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_app(config: Config, topology: Topology, *, web: bool) -> BatchApp:
    from .kafka_client import faust_credentials

    worker = config.worker
    app = BatchApp(
        worker.app_id,
        broker=[f"kafka://{server.strip()}" for server in config.kafka.bootstrap_servers.split(",")],
        broker_client_id=config.kafka.client_id,
        broker_credentials=faust_credentials(config.kafka),
        store=worker.store,
        datadir=worker.data_dir,
        topic_partitions=topology.partitions,
        topic_replication_factor=config.topics.replication_factor,
        topic_allow_declare=True,
        broker_max_poll_records=MAX_POLL_RECORDS,
        producer_max_batch_size=256 * 1024,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=worker.session_timeout_s,
        broker_commit_interval=worker.commit_interval_s,
        broker_commit_every=COMMIT_EVERY,
        broker_heartbeat_interval=min(3.0, worker.session_timeout_s / 3),  # Kafka's rule: at most a third
        web_enabled=web,
        web_port=worker.web_port or _free_port(),  # 0: any free port (several workers on one host, the demo)
    )
    app.fetch_max_wait_ms = worker.fetch_max_wait_ms
    return app


# Pre-flight -----------------------------------------------------------------------------------

class PreflightError(RuntimeError):
    """Something a person must fix before the worker can start (one line)."""


def preflight(config: Config, topology: Topology, *, timeout_s: float = 5.0) -> None:
    """Fail fast: the broker answers, the input topics exist co-partitioned, the internal topics are created."""
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError

    from .kafka_client import KafkaUnavailable, admin_client

    servers = config.kafka.bootstrap_servers
    try:
        admin = admin_client(config.kafka, timeout_s=timeout_s, bootstrap_timeout_s=timeout_s)
    except KafkaUnavailable as exc:
        raise PreflightError(str(exc)) from None
    try:
        inputs = [*topology.telemetry, topology.directory, topology.alerts, topology.dlq]
        existing = set(admin.list_topics())
        missing = [name for name in inputs if name not in existing]
        if missing:
            raise PreflightError(f"topic(s) {', '.join(missing)} do not exist on {servers}: "
                                 "run `telltales topics create` with this config first")
        described = {d["name"]: len(d["partitions"]) for d in admin.describe_topics(inputs)}
        wrong = {name: n for name, n in described.items() if n != topology.partitions}
        if wrong:
            shown = ", ".join(f"{name} has {n}" for name, n in sorted(wrong.items()))
            raise PreflightError(f"topics must all have topics.partitions = {topology.partitions} partitions "
                                 f"(co-partitioned): {shown}")
        internal = [name for name in topology.internal() if name not in existing]
        if internal:
            retention_ms = str(int(config.retention.correlation_window_hours * 3_600_000))
            admin.create_topics([NewTopic(name, topology.partitions, config.topics.replication_factor,
                                          topic_configs={"cleanup.policy": "delete", "retention.ms": retention_ms})
                                 for name in internal], raise_errors=False, wait_for_metadata=True)
        for described_internal in admin.describe_topics(topology.internal()):
            if len(described_internal["partitions"]) != topology.partitions:
                raise PreflightError(f"internal topic {described_internal['name']} has "
                                     f"{len(described_internal['partitions'])} partitions, not {topology.partitions}")
    except KafkaError as exc:
        raise PreflightError(f"Kafka at {servers}: {exc}") from None
    finally:
        admin.close()


# Command line ---------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "worker", help="run the streaming detector on Kafka (Faust worker)",
        description="Consume the telemetry and directory topics, run every detector, publish OCSF findings to the "
                    "alerts topic and rejects to the DLQ. Runs until SIGTERM or Ctrl-C, which finish the batch in "
                    "hand, commit offsets and leave the consumer group.")
    parser.add_argument("--config", help="organisation config TOML (default: built-in defaults)")
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--no-web", action="store_true",
                        help="start neither Faust's web server (worker.web_port) nor /metrics (worker.metrics_port)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        config = load(args.config)
        worker = Worker(config, web=not args.no_web, loglevel=args.loglevel.upper())
        preflight(config, worker.topology)
    except (ConfigError, ValueError, PreflightError, ImproperlyConfigured) as exc:
        print(f"telltales worker: {exc}", file=sys.stderr)
        return 2
    return worker.run()
