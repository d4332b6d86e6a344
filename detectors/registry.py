"""Finds the detectors: every module in `detectors/` that is not infrastructure defines exactly one.

Adding a detector is adding a file (and its tests). Nothing here is a module-level
mutable registry: `discover()` builds a fresh mapping each call, so tests can re-import.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Final

from telltales.schemas.config import Config

from .base import Detector, Org

# Modules of this package that are not detectors.
INFRASTRUCTURE: Final = frozenset({
    "base", "registry", "engine", "fusion", "state", "ocsf", "geo", "enrich", "org",
})


def detector_modules() -> list[str]:
    """Names of the modules in this package that must each define one detector."""
    package = importlib.import_module(__package__)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__)
                  if m.name not in INFRASTRUCTURE and not m.name.startswith("_"))


def discover() -> dict[str, type[Detector]]:
    """Detector id → class, in id order. Raises if a module breaks the one-detector, id = file name rule."""
    found: dict[str, type[Detector]] = {}
    for name in detector_modules():
        module = importlib.import_module(f"{__package__}.{name}")
        classes = [obj for obj in vars(module).values()
                   if inspect.isclass(obj) and issubclass(obj, Detector) and obj is not Detector
                   and obj.__module__ == module.__name__]
        if len(classes) != 1:
            raise LookupError(f"detectors/{name}.py must define exactly one Detector subclass, found {len(classes)}")
        cls = classes[0]
        if getattr(cls, "id", None) != name:
            raise LookupError(f"detectors/{name}.py: detector id {getattr(cls, 'id', None)!r} must equal the file name")
        found[name] = cls
    return found


def build(config: Config, org: Org | None = None) -> list[Detector]:
    """Instantiate the enabled detectors with their configured params, in id order."""
    org = org or Org.from_config(config)
    classes = discover()
    unknown = set(config.detectors) - set(classes)
    if unknown:
        raise ValueError(f"config [detectors]: unknown detector(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(classes)}")
    instances = []
    for detector_id, cls in classes.items():
        settings = config.detectors.get(detector_id)
        if settings is not None and not settings.enabled:
            continue
        instances.append(cls(org, settings.params if settings else None))
    return instances
