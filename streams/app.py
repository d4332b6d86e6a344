"""Batch delivery for Faust: the records of a fetch reach their agent as one value, not one Event each.

Faust hands every Kafka record to its agents one at a time. Per record its consumer
starts four tasks and an `asyncio.wait` (`Service.wait_first` around the Conductor
callback), the Conductor builds an `Event` and queues it, the agent's `Stream` wakes for
it (one event-loop cycle each), calls the sensors, sets the current event and acks it.
That is ~80–150 µs of event-loop work per record whatever the agent does — a bare
pass-through agent tops out near 10,000 records/s on one core (see
`benchmarks/bench_worker.py`).

`BatchApp` keeps everything Faust gives a worker — the consumer group and its
assignor, table recovery from changelogs, flow control during rebalances, offset
commits only up to what was acked, the producer flush before each commit — and changes
only how records reach agents that subscribe to a `BatchTopic`: the consumer's drain
loop groups each fetch's records per agent into one `Batch` (raw aiokafka records by
topic-partition) and queues it; the agent processes it and calls `app.ack(batch)`, which
marks every offset of the batch as processed (or `app.ack_records` for the records it
applied, then `app.release(batch)`, when it keeps some for later). Offsets are therefore
committed only up to what was processed (at-least-once), a batch in the agent's hands
holds a rebalance or shutdown until it is acked or released (`stream_wait_empty`), and
batches queued but not started are dropped at a rebalance; whatever was not acked is
fetched again from the committed offsets. Records of every other topic (table
changelogs during recovery, ordinary agents) take Faust's usual path.

`Outbox` produces a handler's outputs and changelog records as whole aiokafka record
batches (Faust's `send_soon` awaits once per record) and keeps every commit from passing
a record that failed to send; `StateCache` keeps a table's values decoded between batches
and holds back changed ones until the next offset commit (Kafka Streams' record cache);
`PartitionScope` lets a handler use Faust's table stores outside an `Event` (a store picks
its partition database from the current event).
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import faust
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

__all__ = ["Batch", "BatchApp", "BatchTopic", "Outbox", "PartitionScope", "StateCache", "key_partition"]

_YIELD_EVERY: Final = 2_000  # records routed between event-loop yields on the per-message path
HOLD_MAX_S: Final = 10.0  # longest the commit of a stop or rebalance waits for work `BatchApp.holding` it


class BatchTopic(faust.Topic):
    """A topic (or several) whose agent receives `Batch` values instead of Events."""


class _InFlight:
    """Stands for an in-flight batch in the consumer's set of unacked messages (so `wait_empty` waits for it)."""

    __slots__ = ("tp", "offset", "acked", "refcount", "__weakref__")

    def __init__(self, tp: TP, offset: int) -> None:
        self.tp = tp
        self.offset = offset
        self.acked = False
        self.refcount = 1

    def __repr__(self) -> str:
        return f"<batch in flight {self.tp.topic}[{self.tp.partition}]@{self.offset}>"


class Batch:
    """Records of one fetch for one agent: topic-partition → aiokafka `ConsumerRecord`s in offset order."""

    __slots__ = ("generation", "records", "_in_flight")

    def __init__(self, generation: int, records: dict[TP, list[Any]]) -> None:
        self.generation = generation
        self.records = records
        first_tp = next(iter(records))
        self._in_flight = _InFlight(first_tp, records[first_tp][0].offset)

    def __len__(self) -> int:
        return sum(len(r) for r in self.records.values())

    def __repr__(self) -> str:
        return f"<Batch gen={self.generation} {len(self)} records from {len(self.records)} partitions>"


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, with the broker's fetch wait taken from `BatchApp.fetch_max_wait_ms`.

    aiokafka keeps one fetch request in flight per broker for the partitions it holds no
    records of; while those are idle (the directory, key and signal topics, partitions
    whose records wait in a buffer) the broker holds that request up to this long before
    the busy partitions can be fetched again. Faust fixes it at 1,500 ms, which alone put
    the event-to-finding p50 over a second (benchmarks/bench_latency.py).
    """

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = self.app.fetch_max_wait_ms  # aiokafka hands it to its fetcher at start()
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed)

    async def _seek_to_committed(self) -> Mapping[TP, int]:
        """Seek every assigned input partition to its committed offset, and one with none committed to its start.

        Faust re-seeks after each rebalance's table recovery to re-read what it fetched and
        dropped meanwhile: the fetch that reads the changelogs was seen to return records of
        input partitions paused for the recovery (the main thread changes the set of active
        partitions that fetch was given), which the drain loop drops as not active. aiokafka's
        `seek_to_committed` seeks only partitions with a committed offset above 0, so an
        input partition nobody had committed yet (a second worker joining while the first
        still reads the directory) stayed past those dropped records for the whole
        generation: they were never processed, its lag never reached 0, and telemetry waited
        out the directory wait and was scored without the directory. Changelog partitions
        are left alone: recovery positions them itself.
        """
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        fresh = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if fresh:
            reset = consumer.seek_to_beginning if self.app.conf.consumer_auto_offset_reset == "earliest" \
                else consumer.seek_to_end
            await reset(*fresh)
        return committed

    async def seek_back(self, offsets: Mapping[TP, int]) -> None:
        await self.call_thread(self._seek_back, offsets)

    async def _seek_back(self, offsets: Mapping[TP, int]) -> None:
        """Seek each partition back to its offset, unless it is no longer assigned or already at or before it.

        Only ever moving a position back, this cannot skip a record, whatever seek ran
        since the records were fetched: at worst records are read twice, which a table's
        changelog reader ignores (recovery skips offsets it has seen) or applies again in
        order.
        """
        subscription = self._ensure_consumer()._subscription.subscription
        assignment = subscription.assignment if subscription is not None else None
        if assignment is None:
            return  # a rebalance is under way: its recovery positions the changelogs
        for tp, offset in offsets.items():
            state = assignment.state_value(tp)
            if state is not None and state.has_valid_position and state.position > offset:
                self._ensure_consumer().seek(tp, offset)


class BatchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer whose drain loop hands `BatchTopic` records over in bulk."""

    _seeks = 0  # seeks to the committed offsets started plus ended: it changes whenever one overlaps a fetch
    _seeking = 0  # seeks to the committed offsets in progress

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, counted so that the drain loop can tell which fetches overlapped one.

        At the end of a rebalance's recovery Faust resumes the input partitions and then
        seeks them to their committed offsets, while the drain loop keeps fetching: a fetch
        and a seek are two calls into the consumer thread that may run at the same time, so
        a fetch can return records from either side of the seek. Delivered as usual, such
        records broke the offset bookkeeping (seen in two-worker hand-overs): the seek set
        the read offsets back to the committed offsets while the consumer's position stayed
        past records just delivered, so the next fetch looked like an offset gap from the
        committed offset. The gap was marked done, so commits could pass records fetched but
        not yet applied (the employee agent buffers records across batches), and it overlapped
        offsets already acked, whose duplicates in the acked list let commits advance one
        offset per commit interval. The drain loop therefore never delivers a record of a
        sought partition from a fetch a seek overlapped (`_drop_overlapped`).
        """
        self._seeks += 1
        self._seeking += 1
        try:
            await super().perform_seek()
        finally:
            self._seeking -= 1
            self._seeks += 1

    async def _drop_overlapped(self, records: Mapping[TP, list[Any]]) -> dict[TP, list[Any]]:
        """Drop a fetch's records of sought partitions and seek again; returns the records still to deliver.

        A fetch that overlapped a seek may have moved the position past the sought offset
        (the seek ran first in the consumer thread) or returned records from before it (the
        fetch ran first); seeking again puts every sought partition at its committed offset,
        where the dropped records are fetched again. Table changelogs are not sought (their
        position is the recovery's), so their records are kept.
        """
        self.log.info("a fetch overlapped the seek to the committed offsets: its records are fetched again")
        try:
            await self.perform_seek()
        except Exception as exc:  # noqa: BLE001 — as Faust's getmany does for its seek
            self.log.warning("exception performing seek after a fetch that overlapped one %r", exc)
        changelogs = self.app.tables.changelog_topics
        return {tp: tp_records for tp, tp_records in records.items() if tp.topic in changelogs}

    async def _drain_messages(self, fetcher: Any) -> None:
        callback = self.callback
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        topic_index = self.app.topics._topic_name_index
        track_end = self.app.monitor.track_tp_end_offset
        commit_every = self._commit_every
        wait_until_producer_ebb = self.app.producer.buffer.wait_until_ebb
        changelogs = self.app.tables.changelog_topics
        sleep = asyncio.sleep
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                seeks = self._seeks
                records, active = await self._wait_next_records(1.0)
                await sleep(0)
                if records is None or self.should_stop or not records:
                    continue
                if not self.flow_active:
                    self.log.dev("fetch returned while flow not active: seek back to committed offsets")
                    try:
                        await self.perform_seek()
                    except Exception as exc:  # noqa: BLE001 — Faust's getmany does the same
                        self.log.warning("exception performing seek when flow not active %r", exc)
                    await self._refetch_changelogs(records)
                    continue
                if self._seeks != seeks or self._seeking:
                    records = await self._drop_overlapped(records)
                    seeks = self._seeks
                # From here on a seek that starts (the consumer thread has finished this fetch) leaves every sought
                # partition at its committed offset: the rest of their records are dropped, fetched again from there.
                generation = self.app.consumer_generation_id
                routed: dict[Any, dict[TP, list[Any]]] = {}
                fetched = list(records.items())
                for index, (tp, tp_records) in enumerate(fetched):
                    if not tp_records:
                        continue
                    if active is not None and tp not in active and tp not in self._buffered_partitions:
                        continue
                    if not self.flow_active or self.app.consumer_generation_id != generation:
                        await self._refetch_changelogs(dict(fetched[index:]))
                        break
                    sought = tp.topic not in changelogs
                    if sought and self._seeks != seeks:
                        continue
                    channels = topic_index.get(tp.topic)
                    target = _batch_target(channels)
                    if target is None:
                        # Faust's own per-message path (table changelogs, ordinary agents), but for the seek check.
                        track_end(tp, self.highwater(tp))
                        for record in tp_records:
                            if sought and self._seeks != seeks:
                                break
                            since_yield += 1
                            if since_yield > _YIELD_EVERY:
                                await sleep(0)
                                since_yield = 0
                            offset = record.offset
                            r_offset = get_read_offset(tp)
                            if r_offset is None or offset >= r_offset:
                                if offset - (r_offset or 0) > 1 and r_offset and acks_enabled_for(tp.topic):
                                    await self._add_gap(tp, r_offset + 1, offset)
                                if commit_every is not None and self._n_acked >= commit_every:
                                    self._n_acked = 0
                                    await self.commit()
                                await self.wait_first(callback(self._to_message(tp, record)),
                                                      self.suspend_flow.wait())
                                set_read_offset(tp, offset)
                        continue
                    r_offset = get_read_offset(tp)
                    if r_offset is not None and tp_records[0].offset < r_offset:
                        tp_records = [r for r in tp_records if r.offset >= r_offset]
                        if not tp_records:
                            continue
                    if acks_enabled_for(tp.topic):
                        await self._note_gaps(tp, r_offset, tp_records)
                    track_end(tp, self.highwater(tp))
                    routed.setdefault(target, {})[tp] = tp_records
                if not routed:
                    continue
                if commit_every is not None and self._n_acked >= commit_every:
                    # In the background: a commit waits for the producers to drain, and while this loop awaited
                    # it no fetch reached the agents (a stall of up to a second per commit, live).
                    self._n_acked = 0
                    self.add_future(self.commit())
                await wait_until_producer_ebb()
                for target, by_tp in routed.items():
                    if not self.flow_active or self.app.consumer_generation_id != generation or self._seeks != seeks:
                        break
                    batch = Batch(generation, by_tp)
                    self._unacked_messages.add(batch._in_flight)
                    put = target.queue.put(batch)
                    outcome = await self.wait_first(put, self.suspend_flow.wait())
                    if put not in outcome.done:
                        # Rebalancing or stopping: the batch is dropped unprocessed and fetched again
                        # from the committed offsets; it must not hold up wait_empty().
                        self._unacked_messages.discard(batch._in_flight)
                        break
                    del batch  # queued: only the queue and then the agent keep it (and its in-flight marker) alive
                    if not self.flow_active or self.app.consumer_generation_id != generation or self._seeks != seeks:
                        # A rebalance began while the put waited for room (the agent frees room by dropping
                        # stale batches): this batch is stale too, and its read offsets must not outlive the
                        # rebalance — they would make the new generation skip these records, never acked.
                        # Likewise after a seek: the read offsets are the sought ones, and these records come again.
                        break
                    for tp, tp_records in by_tp.items():
                        set_read_offset(tp, tp_records[-1].offset)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _refetch_changelogs(self, records: Mapping[TP, list[Any]]) -> None:
        """Have the table changelog records of a fetch the drain loop drops undelivered fetched again.

        A fetch that returns once a rebalance has stopped the flow is dropped, as Faust
        does, and only the input partitions are sought back (to their committed offsets):
        changelog partitions have none, so their dropped records were lost. When the
        recovery had positioned a changelog partition before that fetch read it (two
        rebalances close together, as in a two-worker hand-over), it then waited for them
        forever and `/health` said "recovering" until the worker restarted (3 of 28 runs of
        the hand-over test in a loop; the fetcher's positions were at the changelogs' ends).
        """
        changelogs = self.app.tables.changelog_topics
        first = {tp: tp_records[0].offset for tp, tp_records in records.items()
                 if tp_records and tp.topic in changelogs}
        if first:
            self.log.info("fetched table changelog records dropped by a rebalance: fetched again (%r)", first)
            try:
                await self._thread.seek_back(first)
            except Exception as exc:  # noqa: BLE001 — as for the seek to the committed offsets beside it
                self.log.warning("exception seeking table changelogs back %r", exc)

    async def _note_gaps(self, tp: TP, r_offset: int | None, tp_records: list[Any]) -> None:
        """Record offset gaps (compaction, transaction markers) so commits can pass them, as Faust does per message.

        A gap ends before the record that follows it (Faust's per-message path counts that
        record in too): the record is acked once processed, and counted in the gap it could
        be committed before, and once more in the acked list, a duplicate that holds commits
        back one commit interval.
        """
        first = tp_records[0].offset
        if r_offset and first - r_offset > 1:
            await self._add_gap(tp, r_offset + 1, first - 1)
        if tp_records[-1].offset - first != len(tp_records) - 1:
            previous = first
            for record in tp_records[1:]:
                if record.offset - previous > 1:
                    await self._add_gap(tp, previous + 1, record.offset - 1)
                previous = record.offset

    def ack_batch(self, batch: Batch) -> None:
        """Mark every record of `batch` processed: its offsets become committable."""
        with ack_lock:
            in_flight = batch._in_flight
            if in_flight.acked:
                return
            in_flight.acked = True
            for tp, tp_records in batch.records.items():
                self.ack_records(tp, tp_records)
            self._unacked_messages.discard(in_flight)

    def ack_records(self, tp: TP, tp_records: list[Any]) -> None:
        """Mark these records of one topic-partition processed (in offset order; not necessarily a whole batch)."""
        if not tp_records or not self.app.topics.acks_enabled_for(tp.topic):
            return
        with ack_lock:
            committed = self._committed_offset[tp]
            first, last = tp_records[0].offset, tp_records[-1].offset
            if committed is not None and last < committed:
                return
            acked_index = self._acked_index[tp]
            if last - first == len(tp_records) - 1 and (committed is None or first >= committed) \
                    and first not in acked_index and last not in acked_index:
                offsets = range(first, last + 1)
                self._acked[tp].extend(offsets)
                acked_index.update(offsets)
                self._n_acked += len(offsets)
            else:
                acked = self._acked[tp]
                for record in tp_records:
                    offset = record.offset
                    if (committed is None or offset >= committed) and offset not in acked_index:
                        acked_index.add(offset)
                        acked.append(offset)
                        self._n_acked += 1
            notify(self._waiting_for_ack)

    async def commit_and_end_transactions(self) -> None:
        """The commit of a stop or rebalance, once the work holding it and any commit in flight have finished.

        Records applied outside a batch (`BatchApp.holding`) are acked when that work is done,
        and Faust waits only for batches. Faust's `commit()` returns without committing while
        another commit runs (it waits for that one instead), and that one may have taken its
        offsets before the last batch was acked. Either way, at a stop those acks would be left
        uncommitted: the records were read again by the next worker, as duplicates.
        """
        await self.app.held_done()
        await self.maybe_wait_for_commit_to_finish()
        await super().commit_and_end_transactions()

    async def _commit(self, offsets: Any) -> bool:
        # Faust flushed the producer just before. The outbox writes the table values held back since the last
        # commit and waits for every record it enqueued: never commit past a change or an output not yet durable.
        outbox = getattr(self.app, "outbox", None)
        if outbox is not None and not await outbox.durable():
            exc = outbox.failure
            self.log.error("not committing offsets: a record failed to send (%r); the worker stops", exc)
            await self.crash(exc if isinstance(exc, BaseException) else RuntimeError("produce failed"))
            return False
        return await super()._commit(offsets)


def _batch_target(channels: Any) -> Any:
    """The one BatchTopic channel subscribed to a topic name, or None for Faust's per-message path."""
    if not channels:
        return None
    target = None
    for channel in channels:
        if not isinstance(channel, BatchTopic):
            return None
        target = channel
    return target


class BatchTransport(faust_aiokafka.Transport):
    Consumer = BatchConsumer


class BatchApp(faust.App):
    """A Faust app whose `BatchTopic` agents receive one `Batch` per fetch; everything else is stock Faust."""

    outbox: Outbox | None = None  # set by the user of the app; checked before each offset commit
    _holding: frozenset[asyncio.Future] = frozenset()  # work the commit of a stop or rebalance waits for
    fetch_max_wait_ms: int = 1500  # how long the broker may hold a fetch for idle partitions (Faust's value)
    _express_producer: Any = None

    @property
    def express_producer(self) -> Any:
        """A second Faust producer (own connection) for the `Outbox`'s latency-sensitive topics.

        aiokafka sends one produce request per broker at a time; on the app's producer a
        finding waits behind the table changelogs of every batch before it (hundreds of
        kilobytes per request while live). Started right after the app's producer and
        stopped after the consumer's last commit, as Faust orders its own producer.
        """
        if self._express_producer is None:
            self._express_producer = self._new_producer()
        return self._express_producer

    def on_init_dependencies(self) -> Iterable[Any]:
        services = list(super().on_init_dependencies())
        if self.producer in services:
            services.insert(services.index(self.producer) + 1, self.express_producer)
        return services

    def _new_transport(self) -> BatchTransport:
        url = self.conf.broker_consumer[0]
        if url.scheme not in ("kafka", "aiokafka"):
            raise ValueError(f"BatchApp needs the aiokafka transport (kafka://), not {url.scheme}://")
        return BatchTransport(self.conf.broker_consumer, self)

    def batch_topic(self, *topics: str, maxsize: int = 2, **kwargs: Any) -> BatchTopic:
        """A raw-bytes topic for a batch agent; `maxsize` batches may wait in its queue (back-pressure beyond)."""
        return BatchTopic(self, topics=list(topics), key_serializer="raw", value_serializer="raw",
                          maxsize=maxsize, **kwargs)

    def ack(self, batch: Batch) -> None:
        """Every record of `batch` is processed: its offsets may be committed."""
        self.consumer.ack_batch(batch)

    def drop(self, batch: Batch) -> None:
        """Give up `batch` unprocessed (stale after a rebalance): nothing is acked; it is fetched again."""
        self.consumer._unacked_messages.discard(batch._in_flight)

    def ack_records(self, tp: TP, records: list[Any]) -> None:
        """Some records of a batch are processed (a handler that buffers records across batches acks as it goes)."""
        self.consumer.ack_records(tp, records)

    def release(self, batch: Batch) -> None:
        """The handler is done with `batch` for now: records of it not acked stay uncommitted, and no longer hold
        up a rebalance or shutdown (which leave them to be fetched again)."""
        self.consumer._unacked_messages.discard(batch._in_flight)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Work that applies records outside a batch (a timer draining buffered ones) and acks them before it ends.

        The commit of a stop or rebalance waits for it, at most `HOLD_MAX_S`, as Faust waits
        for a batch in an agent's hands; past that, its records are fetched again.
        """
        done = asyncio.get_running_loop().create_future()
        self._holding |= {done}
        try:
            yield
        finally:
            self._holding -= {done}
            done.set_result(None)

    async def held_done(self) -> None:
        """Until the work `holding` this app has ended (at most `HOLD_MAX_S`)."""
        if self._holding:
            await asyncio.wait(self._holding, timeout=HOLD_MAX_S)

    def current_batch_is_stale(self, batch: Batch) -> bool:
        """A batch fetched before the latest rebalance: skip it unacked (it is fetched again)."""
        return batch.generation != self.consumer_generation_id or not self.flow_control.is_active()


class _PartitionEvent:
    """The minimum of an Event that Faust's stores read (`message.partition`) to pick a partition's database."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _PartitionMessage(topic, partition)


class _PartitionMessage:
    __slots__ = ("topic", "partition", "tp")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.tp = TP(topic, partition)


class PartitionScope:
    """Table reads and store writes for one source partition from a batch handler (which has no current Event).

    Faust's stores pick a partition's database from the current event's partition
    (RocksDB); inside `partition(topic, p)` a stand-in event says `p`.
    """

    def __init__(self) -> None:
        self._events: dict[tuple[str, int], _PartitionEvent] = {}

    @contextmanager
    def partition(self, topic: str, partition: int) -> Iterator[None]:
        key = (topic, partition)
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = _PartitionEvent(topic, partition)
        token = _current_event.set(weakref.ref(event))
        try:
            yield
        finally:
            _current_event.reset(token)


class Outbox:
    """Records to produce, grouped per topic-partition and handed to aiokafka as whole record batches.

    Faust's `Topic.send_soon` (and a table's changelog write) queues each record for a
    background task that produces it with one `await` per record; a batch handler's
    outputs and changelog records instead go into aiokafka `BatchBuilder`s, one per
    topic-partition, enqueued together by `flush()`. A handler must `await flush()` before
    it acks the batch that produced them: every offset commit first waits for every record
    enqueued before it (`settled()`), so outputs and changelogs are durable before their
    inputs count as done. A record that fails to send stops every later commit, and the
    worker crashes instead of committing past it. Records of the `express` topics
    (findings, the cross-employee hops) go first, on `BatchApp.express_producer`, so they
    never queue behind the changelogs' produce requests.
    """

    def __init__(self, app: faust.App, partitions: dict[str, int], express: Iterable[str] = ()) -> None:
        self.app = app
        self.partitions = partitions  # topic → partition count, for records partitioned by key
        self.express = frozenset(express)
        self._lanes = (_Lane(), _Lane())  # express, bulk: records queued, each lane flushed in order
        self._changelogs: dict[str, Any] = {}  # changelog topic → table (for persisted offsets)
        self._in_flight: list[asyncio.Future] = []
        self._before_commit: list[Callable[[], None]] = []
        self.failure: BaseException | None = None

    def before_commit(self, write: Callable[[], None]) -> None:
        """Have `write()` queue held-back records (`StateCache.write`) before every offset commit."""
        self._before_commit.append(write)

    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue a record; without `partition` it goes where Kafka's default partitioner puts `key` (murmur2)."""
        if partition is None:
            partition = key_partition(key, self.partitions[topic]) if key is not None else 0
        lane = self._lanes[topic not in self.express].pending
        pending = lane.get((topic, partition))
        if pending is None:
            pending = lane[(topic, partition)] = []
        pending.append((key, value))

    def changelog(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        """Write a table's store (None deletes) and queue the changelog record (None: a tombstone)."""
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
        topic = table.changelog_topic.get_topic_name()
        self._changelogs[topic] = table
        self.send(topic, key, value, partition)

    def __len__(self) -> int:
        return sum(len(records) for lane in self._lanes for records in lane.pending.values())

    async def flush(self, *, express_only: bool = False) -> None:
        """Enqueue everything queued so far with the producer (delivery is awaited by the next commit).

        The express lane goes first. Each lane's flushes run one at a time: when this
        returns, records queued before the call are with the producer even if another
        task's flush had taken them. `express_only` leaves the bulk lane (changelogs) for a
        later flush: a handler sends its findings mid-batch without waiting for the
        changelogs' produce requests to drain.
        """
        express, bulk = self._lanes
        async with express.lock:
            await self._flush(express, self.app.express_producer)
        if not express_only:
            async with bulk.lock:
                await self._flush(bulk, self.app.producer)

    async def _flush(self, lane: _Lane, service: Any) -> None:
        if not lane.pending:
            return
        pending, lane.pending = lane.pending, {}
        producer = service._ensure_producer()
        for (topic, partition), records in pending.items():
            batch = producer.create_batch()
            count = 0
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: the first always fits
                    await self._submit(producer, batch, topic, partition, count)
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
                    count = 0
                count += 1
            await self._submit(producer, batch, topic, partition, count)
        self._in_flight = [f for f in self._in_flight if not f.done()]

    async def _submit(self, producer: Any, batch: Any, topic: str, partition: int, count: int) -> None:
        future = await producer.send_batch(batch, topic, partition=partition)
        table = self._changelogs.get(topic)
        future.add_done_callback(lambda f: self._sent(f, table, count))
        self._in_flight.append(future)

    def _sent(self, future: asyncio.Future, table: Any, count: int) -> None:
        if future.cancelled():
            self.failure = self.failure or asyncio.CancelledError("a produce request was cancelled")
            return
        exc = future.exception()
        if exc is not None:
            self.failure = self.failure or exc
            return
        if table is not None:  # what Table._on_changelog_sent does per record, once per batch
            metadata = future.result()
            table.data.set_persisted_offset(TP(metadata.topic, metadata.partition), metadata.offset + count - 1)

    async def settled(self) -> bool:
        """Wait for every record enqueued so far; False when any failed to send."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            self._in_flight = [f for f in self._in_flight if not f.done()]
        return self.failure is None

    async def durable(self) -> bool:
        """Before an offset commit: queue the held-back writes, enqueue everything and wait for it (see `settled`).

        The writes are queued before the first await, so they include every change of the
        records whose offsets are about to be committed (acked before the commit began).
        """
        for write in self._before_commit:
            write()
        await self.flush()
        return await self.settled()


class StateCache:
    """A table's values, decoded, kept between batches; changed ones reach the table and its changelog only before a commit.

    Kafka Streams' record cache: a key changed by every small batch of a commit interval is
    written once per interval, not once per batch. `put` holds the newest value of a key;
    `write` encodes every held value into the table's store and its changelog (through the
    outbox) and must run before every offset commit (`Outbox.before_commit`), so an offset
    is committed only once the changelog records of every change it covers are durable. A
    crash loses the held values, and with them nothing committed: the records that made
    them are read again from the committed offsets. `get` reads the cache first, so a held
    value is never shadowed by the older one in the table. The caller writes early when
    `full` (the held values are bounded) and drops the cache (`clear`) whenever what it holds
    may no longer be the partition's latest (a rebalance).
    """

    def __init__(self, table: Any, topic: str, *, decode: Callable[[Any, bytes], Any],
                 encode: Callable[[Any], bytes], key_bytes: Callable[[Any], bytes], size: int, held_max: int) -> None:
        self.table = table
        self.topic = topic  # the source topic named in the partition scope of a write (stores read only its partition)
        self.decode, self.encode, self.key_bytes = decode, encode, key_bytes
        self.size, self.held_max = size, held_max
        self._values: dict[Any, Any] = {}  # key → decoded value, least recently stored first
        self._held: dict[Any, int] = {}  # keys changed since the last write → their partition

    def get(self, key: Any) -> Any:
        """The newest value of `key` (None if it has none), from the cache or else the table (in the key's partition scope)."""
        value = self._values.get(key)
        if value is None:
            raw = self.table.data.get(self.key_bytes(key))
            if raw is not None:
                value = self.decode(key, raw)
                self._keep(key, value)
        return value

    def put(self, partition: int, key: Any, value: Any) -> None:
        """Hold `value` as the newest of `key` (in `partition`) until the next `write`."""
        self._keep(key, value)
        self._held[key] = partition

    def write_now(self, outbox: Outbox, partition: int, key: Any, value: Any) -> None:
        """Queue `value` of `key` into the table and changelog at once (in the key's partition scope); not held."""
        self._keep(key, value)
        self._held.pop(key, None)
        outbox.changelog(self.table, partition, self.key_bytes(key), self.encode(value))

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def full(self) -> bool:
        return len(self._held) >= self.held_max

    def write(self, outbox: Outbox, scope: PartitionScope, owned: Collection[int]) -> int:
        """Queue every held value of a partition in `owned` into the table and changelog; drop the others.

        A partition this worker no longer owns can no longer have its offsets committed here
        (Faust discards them), so its held values cover nothing committed; writing them could
        overwrite a newer owner's. Returns how many were dropped.
        """
        if not self._held:
            return 0
        held, self._held = self._held, {}
        by_partition: dict[int, list[Any]] = {}
        for key, partition in held.items():
            by_partition.setdefault(partition, []).append(key)
        dropped = 0
        values, encode, key_bytes, put = self._values, self.encode, self.key_bytes, outbox.changelog
        for partition, keys in by_partition.items():
            if partition not in owned:
                dropped += len(keys)
                for key in keys:
                    values.pop(key, None)
                continue
            with scope.partition(self.topic, partition):
                for key in keys:
                    put(self.table, partition, key_bytes(key), encode(values[key]))
        return dropped

    def clear(self) -> None:
        self._values.clear()
        self._held.clear()

    def _keep(self, key: Any, value: Any) -> None:
        values = self._values
        values.pop(key, None)
        values[key] = value  # newest last: the oldest go first when the cache is full
        if len(values) > self.size:
            held = self._held
            for stale in [k for k in values if k not in held][: len(values) // 4]:
                del values[stale]


class _Lane:
    """Records queued for one producer, per topic-partition, and the lock that keeps its flushes in order."""

    __slots__ = ("lock", "pending")

    def __init__(self) -> None:
        self.pending: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
        self.lock = asyncio.Lock()


@functools.lru_cache(maxsize=65_536)  # aiokafka's murmur2 is pure Python; keys (employees, key values) recur
def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java client, aiokafka, kafka-python) gives `key`."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
