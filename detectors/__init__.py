"""Pure detection logic: enrichment lookups, detectors, risk fusion, cases and OCSF findings. No I/O."""
