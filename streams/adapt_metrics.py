"""The Prometheus metrics of `telltales adapt` (the adapter sidecar), in a registry of its own.

Kept beside `streams/metrics.py` (the worker's) and built the same way: its label rules
hold here too — the adapter name (`schemas.adapters.ADAPTERS`), the record outcome and
the rejection code (`schemas.rejections.CODES`) only, never a user, host or anything
else taken from a record.

>>> m = AdapterMetrics("okta", version="1.2.3", process=False)
>>> m.record("rejected", code="unknown_identity")
>>> 'telltales_adapter_rejects_total{adapter="okta",code="unknown_identity"} 1.0' in m.exposition().decode()
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import start_http_server
from prometheus_client.process_collector import ProcessCollector

from telltales.schemas.rejections import CODES
from telltales.streams import version as _version

from .metrics import BUILD_INFO, _WithoutCreated

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

RECORDS: Final = "telltales_adapter_records_total"
REJECTS: Final = "telltales_adapter_rejects_total"
NEWEST_EVENT: Final = "telltales_adapter_newest_event_timestamp_seconds"
DIRECTORY: Final = "telltales_adapter_directory_employees"
OUTCOMES: Final = ("event", "skipped", "rejected")  # of one vendor record
LABELS: Final = frozenset({"adapter", "outcome", "code", "version"})


class AdapterMetrics:
    """What became of the vendor records of one adapter; every series exists at 0 before the first record."""

    def __init__(self, adapter: str, *, version: str | None = None, process: bool = True) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        records = Counter(RECORDS, "Vendor records read, by outcome: mapped to events, skipped (nothing telltales "
                          "reads), rejected (to the DLQ).", ("adapter", "outcome"), registry=r)
        rejects = Counter(REJECTS, "Vendor records sent to the DLQ, by rejection code (schemas.rejections.CODES).",
                          ("adapter", "code"), registry=r)
        self._newest = Gauge(NEWEST_EVENT, "Event time (Unix) of the newest event written; 0 before the first: "
                             "alert on time() - this for a vendor log gone silent.", ("adapter",),
                             registry=r).labels(adapter)
        self._directory = Gauge(DIRECTORY, "Employees in the directory the adapter resolves user and host names "
                                "with.", ("adapter",), registry=r).labels(adapter)
        Gauge(BUILD_INFO, "Always 1; the version label says which telltales runs.", ("version",),
              registry=r).labels(version or _version()).set(1)
        if process:
            ProcessCollector(registry=r)
        self._exported = _WithoutCreated(r)
        self._records = {outcome: records.labels(adapter, outcome) for outcome in OUTCOMES}
        self._rejects = {code: rejects.labels(adapter, code) for code in CODES}

    def record(self, outcome: str, *, code: str | None = None, newest_event_s: float | None = None) -> None:
        """One vendor record with `outcome`, a rejection's `code`, the event time of the newest event so far."""
        self._records[outcome].inc()
        if code is not None:
            self._rejects[code].inc()
        if newest_event_s is not None:
            self._newest.set(newest_event_s)

    def directory(self, employees: int) -> None:
        self._directory.set(employees)

    def exposition(self) -> bytes:
        return generate_latest(self._exported)

    def serve(self, port: int, addr: str = "0.0.0.0") -> WSGIServer:
        """Serve /metrics on `port` (0: any free port) in a daemon thread; `shutdown()` the result to stop."""
        server, _thread = start_http_server(port, addr=addr, registry=self._exported)
        return server
