"""Vendor adapters: records of the logs a company already keeps → events of the event contract (SPEC section 4).

A platform team points `telltales adapt --from NAME` at a vendor's export instead of
writing a mapping of its own; the output is canonical JSONL that `telltales replay` reads
and that can be produced to the telemetry topics. Each adapter is one module here with an
`ADAPTER` object (`base.Adapter`): pure, a record and the directory's identities in, event
documents out, every document checked by the contract's decoder (`base.Translator`).
"""

from __future__ import annotations

import importlib
from typing import Final

from .base import Adapter, AdapterError, Identities, Translator

__all__ = ["ADAPTERS", "Adapter", "AdapterError", "Identities", "Translator", "load"]

ADAPTERS: Final[tuple[str, ...]] = ("entra", "okta", "osquery")  # module names under this package, in the order help lists them


def load(name: str) -> Adapter:
    """The adapter called `name`; ValueError naming the known ones otherwise."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown adapter {name!r}; known: {', '.join(ADAPTERS) or 'none'}")
    return importlib.import_module(f"{__name__}.{name}").ADAPTER
