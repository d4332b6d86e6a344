"""Every Prometheus metric telltales exports, in one module: names, bounded label sets, and the calls drivers make.

The worker serves a `Metrics` on `worker.metrics_port`; `replay` can write the same
families at the end of a run as a text exposition for backtests. The dashboards and the
alert rules are built from the name constants below, so a renamed metric breaks their
tests rather than a graph in production.

Labels are bounded sets only — topic (from the config), outcome, detector
(from the registry), severity, activity, reason code (`schemas.rejections.CODES`), DLQ
stage, table, version — never an employee id, an IP or anything else taken from an event.

>>> m = Metrics(topics=["telemetry.vpn"], detectors=["ip_kvm"], version="1.2.3")
>>> m.event("telemetry.vpn", "accepted")
>>> m.signal("ip_kvm")
>>> text = m.exposition().decode()
>>> 'telltales_events_consumed_total{outcome="accepted",topic="telemetry.vpn"} 1.0' in text
True
>>> 'telltales_signals_total{detector="ip_kvm"} 1.0' in text
True
>>> 'telltales_build_info{version="1.2.3"} 1.0' in text
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server
from prometheus_client.process_collector import ProcessCollector

from telltales.streams import version as _version
from telltales.detectors.base import KEY_KINDS
from telltales.detectors.ocsf import LEVELS
from telltales.schemas.rejections import CODES, STAGES

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from telltales.schemas.config import Config, TopicsConfig

# Metric names, as they appear in the exposition (dashboards and rules import these).
EVENTS_CONSUMED: Final = "telltales_events_consumed_total"
DLQ_WRITES: Final = "telltales_dlq_writes_total"
SIGNALS: Final = "telltales_signals_total"
FINDINGS: Final = "telltales_findings_total"
FINDING_EVIDENCE: Final = "telltales_finding_evidence_total"
DETECTOR_ERRORS: Final = "telltales_detector_errors_total"
OPEN_CASES: Final = "telltales_open_cases"
LAPTOP_FARM_CASES: Final = "telltales_laptop_farm_cases"
LAPTOP_FARM_GROUPS: Final = "telltales_laptop_farm_groups"
EVENT_TO_FINDING_LATENCY: Final = "telltales_event_to_finding_latency_seconds"
CONSUMER_LAG: Final = "telltales_consumer_lag_messages"
EMPLOYEES_TRACKED: Final = "telltales_employees_tracked"
TABLE_ENTRIES: Final = "telltales_table_entries"
LAST_EVENT_TIMESTAMP: Final = "telltales_last_event_timestamp_seconds"
BUILD_INFO: Final = "telltales_build_info"
# From prometheus_client's process collector (same registry): memory and CPU of the worker.
PROCESS_RESIDENT_MEMORY: Final = "process_resident_memory_bytes"
PROCESS_CPU: Final = "process_cpu_seconds_total"

# Bounded label values.
OUTCOMES: Final = ("accepted", "rejected", "duplicate")
ACTIVITIES: Final = ("create", "update", "close")  # OCSF activity of a finding record
SEVERITIES: Final = tuple(level[3].lower() for level in LEVELS)  # OCSF severity names, lower-cased
# The worker's Faust tables (streams/worker.py): per employee, and per correlation-key kind.
TABLES: Final = ("employee-state", "directory", "open-cases", *(f"keys-{kind}" for kind in KEY_KINDS))
LABELS: Final = frozenset({"topic", "outcome", "code", "stage", "detector", "severity", "activity",
                           "table", "version"})

# Event-to-finding latency buckets: fine around the p99 ≤ 1 s budget (SPEC §8), coarse beyond it
# so a backlog (minutes of lag) still lands in a bucket rather than +Inf.
LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0,
                          300.0)


class Metrics:
    """One process's telltales metrics, in a registry of its own (tests create many; never the global one).

    `topics`: every topic the driver consumes (series for each exist at 0 before traffic);
    `sources`: the log-source topics among them — their last-event gauges start at the
    creation time, so a source that never speaks after a restart still shows as silent
    (default: all `topics`); `detectors`: detector ids (default: the registry's).
    """

    def __init__(self, *, topics: Iterable[str] = (), sources: Iterable[str] | None = None,
                 detectors: Iterable[str] | None = None, version: str | None = None,
                 process: bool = True, clock: Callable[[], float] = time.time) -> None:
        topics = list(dict.fromkeys(topics))
        self.sources = frozenset(topics if sources is None else sources)
        if detectors is None:
            from telltales.detectors import registry

            detectors = registry.discover()
        self.detectors = tuple(detectors)
        self.registry = CollectorRegistry(auto_describe=True)
        self._clock = clock
        r = self.registry
        self._events = Counter(EVENTS_CONSUMED, "Messages consumed, by topic and outcome (accepted, rejected to "
                               "the DLQ, or duplicate of an event already applied).", ("topic", "outcome"), registry=r)
        self._dlq = Counter(DLQ_WRITES, "DLQ envelopes written, by rejection code (schemas.rejections.CODES) "
                            "and stage.", ("code", "stage"), registry=r)
        self._signals = Counter(SIGNALS, "Signals raised, by detector (shadow-mode detectors included).",
                                ("detector",), registry=r)
        self._findings = Counter(FINDINGS, "Finding records written to the SIEM topic, by OCSF severity and "
                                 "activity (create, update, close).", ("severity", "activity"), registry=r)
        self._evidence = Counter(FINDING_EVIDENCE, "Evidences in finding records, by the detector that "
                                 "contributed them: which detectors drive findings.", ("detector",), registry=r)
        self._errors = Counter(DETECTOR_ERRORS, "Exceptions raised by a detector (isolated; the event went on).",
                               ("detector",), registry=r)
        self._open_cases = Gauge(OPEN_CASES, "Cases currently open on this worker.", registry=r)
        self._farm_cases = Gauge(LAPTOP_FARM_CASES, "Open cases linked to a suspected laptop farm group.",
                                 registry=r)
        self._farm_groups = Gauge(LAPTOP_FARM_GROUPS, "Distinct suspected laptop farm groups among this worker's "
                                  "open cases (a farm spread over partitions of several workers counts on each).",
                                  registry=r)
        self._latency = Histogram(EVENT_TO_FINDING_LATENCY, "Wall-clock time from an event entering Kafka (its "
                                  "record timestamp) to the finding it triggered being produced.",
                                  buckets=LATENCY_BUCKETS, registry=r)
        self._lag = Gauge(CONSUMER_LAG, "Consumer lag: messages between the committed offset and the end of "
                          "the log, summed over this worker's partitions of the topic.", ("topic",), registry=r)
        self._employees = Gauge(EMPLOYEES_TRACKED, "Employees with state on this worker.", registry=r)
        self._tables = Gauge(TABLE_ENTRIES, "Entries per table on this worker.", ("table",), registry=r)
        self._last_event = Gauge(LAST_EVENT_TIMESTAMP, "Unix time a valid event from this log-source topic was "
                                 "last consumed (the worker's start when none yet): alert on time() - this.",
                                 ("topic",), registry=r)
        self._build = Gauge(BUILD_INFO, "Always 1; the version label says which telltales runs.", ("version",),
                            registry=r)
        if process:
            ProcessCollector(registry=r)
        self._exported = _WithoutCreated(r)
        self._build.labels(version or _version()).set(1)

        # Children are resolved once, here and on first use, so the hot path is a dict lookup and an add.
        self._event_children: dict[tuple[str, str], Any] = {}
        self._source_children: dict[str, Any] = {}
        started = clock()
        for topic in topics:
            for outcome in OUTCOMES:
                self._event_child(topic, outcome)
            self._lag.labels(topic).set(0)
        for topic in sorted(self.sources):
            self._source_child(topic).set(started)
        self._dlq_children = {(c, s): self._dlq.labels(c, s) for c in CODES for s in STAGES}
        self._signal_children = {d: self._signals.labels(d) for d in self.detectors}
        self._evidence_children = {d: self._evidence.labels(d) for d in self.detectors}
        self._error_children = {d: self._errors.labels(d) for d in self.detectors}
        self._finding_children = {(s, a): self._findings.labels(s, a) for s in SEVERITIES for a in ACTIVITIES}
        for table in TABLES:
            self._tables.labels(table).set(0)

    @classmethod
    def from_config(cls, config: Config, *, internal: Iterable[str] = (), **kwargs: Any) -> Metrics:
        """Metrics for a worker of this config: its input topics (and `internal` ones it consumes, e.g. the
        signals and key repartition topics), with the telemetry topics as the log sources."""
        t = config.topics
        sources = list(t.telemetry())
        return cls(topics=[*sources, t.employees, *internal], sources=sources, **kwargs)

    # Counters --------------------------------------------------------------------------------
    def event(self, topic: str, outcome: str, n: int = 1) -> None:
        """`n` messages consumed from `topic` with `outcome` (accepted | rejected | duplicate).

        A valid message (accepted or duplicate) from a log-source topic also sets its
        last-event time to now.
        """
        self._event_child(topic, outcome).inc(n)
        if outcome != "rejected" and topic in self.sources:
            self._source_child(topic).set(self._clock())

    def dlq(self, code: str, stage: str = "decode", n: int = 1) -> None:
        """`n` DLQ envelopes written with rejection `code` at `stage` (decode | adapter | detector)."""
        child = self._dlq_children.get((code, stage))
        if child is None:
            if stage not in STAGES:
                raise ValueError(f"DLQ stage {stage!r} is not one of {STAGES}")
            child = self._dlq_children[(code, stage)] = self._dlq.labels(code, stage)
        child.inc(n)

    def signal(self, detector: str, n: int = 1) -> None:
        """`n` signals raised by `detector`."""
        _child(self._signal_children, self._signals, detector).inc(n)

    def detector_error(self, detector: str, n: int = 1) -> None:
        """`n` exceptions raised by `detector` (the runner isolated them)."""
        _child(self._error_children, self._errors, detector).inc(n)

    def finding(self, severity: str, activity: str, detectors: Iterable[str] = (), n: int = 1) -> None:
        """`n` finding records of OCSF `severity` ("High" or "high") and `activity`, with evidence from `detectors`."""
        key = (severity.lower(), activity.lower())
        child = self._finding_children.get(key)
        if child is None:  # every valid pair was made in __init__
            raise ValueError(f"finding severity {severity!r} / activity {activity!r}: expected one of "
                             f"{SEVERITIES} / {ACTIVITIES}")
        child.inc(n)
        for detector in detectors:
            _child(self._evidence_children, self._evidence, detector).inc(n)

    def finding_record(self, finding: Mapping[str, Any]) -> None:
        """Count one OCSF Detection Finding as built by `detectors.ocsf.FindingBuilder`."""
        detectors = [e.get("data", {}).get("detector") or e.get("name") for e in finding.get("evidences") or ()]
        self.finding(finding["severity"], finding["activity_name"], [d for d in detectors if d])

    def latency(self, seconds: float) -> None:
        """One event-to-finding latency: from the triggering event's Kafka timestamp to producing the finding."""
        self._latency.observe(max(0.0, seconds))

    # Gauges ----------------------------------------------------------------------------------
    def lag(self, topic: str, messages: int) -> None:
        """Consumer lag of this worker on `topic` (summed over its assigned partitions)."""
        self._lag.labels(topic).set(messages)

    def cases(self, open_cases: int, farm_cases: int = 0, farm_groups: int = 0) -> None:
        """Open cases on this worker, how many are linked to a laptop farm, and the distinct farm groups."""
        self._open_cases.set(open_cases)
        self._farm_cases.set(farm_cases)
        self._farm_groups.set(farm_groups)

    def employees(self, count: int) -> None:
        """Employees with state on this worker."""
        self._employees.set(count)

    def table(self, name: str, entries: int) -> None:
        """Entries in one of the worker's tables (`TABLES`)."""
        self._tables.labels(name).set(entries)

    def source_seen(self, topic: str, when: float | None = None) -> None:
        """Set a log source's last-event time explicitly (`event` does it for valid messages)."""
        self._source_child(topic).set(self._clock() if when is None else when)

    # Backtests -------------------------------------------------------------------------------
    def record_replay(self, counters: Any, topics: TopicsConfig, *, source: str = "file") -> None:
        """Add a `replay` run's `Counters` (streams/replay.py), so its exposition matches a worker's.

        Accepted events are counted under their event type's configured topic; rejected and
        duplicate lines, whose type the counters do not keep, under the pseudo-topic
        `source`. Findings are not here: `Counters` has no severity; call
        `finding_record` for each finding as it is emitted. For an exposition that is the
        same bytes for the same input, build the `Metrics` with `process=False`, a fixed
        `version` and `clock` returning the replay's event-time clock.
        """
        by_type = {event_type: topic for topic, event_type in topics.telemetry().items()}
        by_type["employee"] = topics.employees
        for event_type, n in counters.events.items():
            self.event(by_type.get(event_type, source), "accepted", n)
        rejected = sum(counters.rejected.values())
        if rejected:
            self.event(source, "rejected", rejected)
        for code, n in counters.rejected.items():
            self.dlq(code, "decode", n)
        if counters.duplicates:
            self.event(source, "duplicate", counters.duplicates)
        for detector, n in counters.signals.items():
            self.signal(detector, n)
        for detector, n in counters.detector_errors.items():
            self.detector_error(detector, n)

    # Exposition ------------------------------------------------------------------------------
    def exposition(self) -> bytes:
        """The Prometheus text exposition of every metric in this registry."""
        return generate_latest(self._exported)

    def serve(self, port: int, addr: str = "0.0.0.0") -> WSGIServer:
        """Serve /metrics on `port` (0: any free port) in a daemon thread; `shutdown()` the result to stop.

        The bound port is `server.server_port`.
        """
        server, _thread = start_http_server(port, addr=addr, registry=self._exported)
        return server

    # Internal --------------------------------------------------------------------------------
    def _event_child(self, topic: str, outcome: str) -> Any:
        child = self._event_children.get((topic, outcome))
        if child is None:
            if outcome not in OUTCOMES:
                raise ValueError(f"event outcome {outcome!r} is not one of {OUTCOMES}")
            child = self._event_children[(topic, outcome)] = self._events.labels(topic, outcome)
        return child

    def _source_child(self, topic: str) -> Any:
        child = self._source_children.get(topic)
        if child is None:
            child = self._source_children[topic] = self._last_event.labels(topic)
        return child


class _WithoutCreated:
    """The registry as exported: without prometheus_client's `*_created` series.

    They double the series count for a start time `process_start_time_seconds` already
    gives, and would make a replay's exposition differ between identical runs. (The
    library's own switch is process-global; this keeps the choice to our registry.)
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Any]:
        for family in self.registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


def _child(cache: dict[str, Any], metric: Any, label: str) -> Any:
    child = cache.get(label)
    if child is None:
        child = cache[label] = metric.labels(label)
    return child

