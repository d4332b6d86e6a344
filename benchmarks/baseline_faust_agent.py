"""The frozen baseline of SPEC section 8: a bare Faust pass-through agent, as a user writes it first.

One agent over the telemetry topics, Faust's default settings, one JSON parse per event.
Do not tune this file: the worker's throughput target is a multiple of what it does.
`benchmarks/bench_worker.py` builds it with `create_app` and times it.
"""

from __future__ import annotations

from collections.abc import Callable

import faust
import orjson


def create_app(app_id: str, broker: str, topics: list[str], on_event: Callable[[], None]) -> faust.App:
    """The app; `on_event` is the benchmark's counter, called once per parsed event."""
    app = faust.App(app_id, broker=f"kafka://{broker}", web_enabled=False)
    telemetry = app.topic(*topics, key_serializer="raw", value_serializer="raw")

    @app.agent(telemetry)
    async def pass_through(stream):
        async for value in stream:
            orjson.loads(value)
            on_event()

    return app
