"""The public LOLRMM catalogue as an outside oracle for the project's own remote-tool vocabulary.

The catalogue (magicsword-io/LOLRMM, Apache-2.0) is third-party reference data and is not
shipped in this repository: the test reads it from `../shared/data/lolrmm/rmm_tools.csv`
beside the checkout, or from the path in `TELLTALES_LOLRMM_CSV`, and is skipped when it
is absent. It reports how many catalogue tools the vocabulary recognises by executable
name (what `remote_control` sees in process lists) and requires the well-known ones.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import pytest

from telltales.schemas.vocabulary import canonical_tool, normalise_name, tool_category

DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared/data/lolrmm/rmm_tools.csv"
NAME_FIELDS = ("Filename", "OriginalFileName", "InstallationPaths")
# Catalogue rows (by their Name) the vocabulary must recognise from executable names alone:
# the tools public reporting on remote-worker fraud and intrusions names most often.
WELL_KNOWN = {
    "AnyDesk": "anydesk", "TeamViewer": "teamviewer", "ScreenConnect": "screenconnect", "Splashtop": "splashtop",
    "RustDesk": "rustdesk", "Chrome Remote Desktop": "chrome_remote_desktop", "Atera": "atera",
    "NinjaRMM": "ninjaone", "LogMeIn rescue": "logmein", "GoToAssist": "logmein",
    "BeyondTrust (Bomgar)": "beyondtrust", "Zoho Assist": "zoho_assist", "MeshCentral": "meshcentral",
    "SimpleHelp": "simplehelp", "UltraViewer": "ultraviewer", "ToDesk": "todesk", "SunLogin": "sunlogin",
    "AeroAdmin": "aeroadmin", "Quick Assist": "quick_assist", "Parsec": "parsec", "TightVNC": "tightvnc",
    "Tactical RMM": "tactical_rmm", "RemotePC": "remotepc", "ngrok": "ngrok",
}
_SEPARATORS = re.compile(r"[\\/]")


def catalogue_path() -> Path:
    return Path(os.environ.get("TELLTALES_LOLRMM_CSV") or DEFAULT_CSV)


@pytest.fixture(scope="module")
def catalogue() -> list[dict[str, str]]:
    path = catalogue_path()
    if not path.is_file():
        pytest.skip(f"LOLRMM catalogue not found at {path}: third-party reference data, not shipped in the repo "
                    "(set TELLTALES_LOLRMM_CSV to its rmm_tools.csv)")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def executable_names(row: dict[str, str]) -> set[str]:
    """Normalised executable names a catalogue row lists (the last path component; `tool*.exe` → `tool`)."""
    names = set()
    for field in NAME_FIELDS:
        for entry in (row.get(field) or "").split(","):
            parts = [p for p in _SEPARATORS.split(entry.strip()) if p.strip()]
            if not parts:
                continue
            name = normalise_name(parts[-1])
            if "*" in name:
                name = name.split("*")[0].rstrip("_-. ")
                if len(name) < 4:
                    continue
            if name and name != "none":
                names.add(name)
    return names


def recognised(row: dict[str, str]) -> set[str]:
    """Canonical ids of the vocabulary's tools that the row's executable names map to."""
    return {tool for tool in map(canonical_tool, executable_names(row)) if tool_category(tool) is not None}


def test_vocabulary_recognises_the_well_known_catalogue_tools(catalogue):
    rows = {row["Name"]: row for row in catalogue}
    missing_rows = sorted(set(WELL_KNOWN) - set(rows))
    assert not missing_rows, f"catalogue no longer names {missing_rows}: update WELL_KNOWN"
    failures = {name: sorted(executable_names(rows[name])) for name, tool in WELL_KNOWN.items()
                if tool not in recognised(rows[name])}
    assert not failures, f"vocabulary misses these well-known tools (name: executables): {failures}"


def test_report_catalogue_coverage(catalogue):
    with_names = [row for row in catalogue if executable_names(row)]
    hits = [row for row in with_names if recognised(row)]
    ratio = len(hits) / len(with_names)
    print(f"\nLOLRMM coverage: {len(hits)}/{len(with_names)} catalogue tools with executable names "
          f"recognised ({ratio:.0%}); {len(catalogue)} rows in {catalogue_path()}")
    for row in sorted(with_names, key=lambda r: r["Name"].lower()):
        if not recognised(row):
            print(f"  not recognised: {row['Name']}: {', '.join(sorted(executable_names(row))[:6])}")
    assert len(hits) >= len(WELL_KNOWN)


def test_environment_variable_names_the_catalogue(tmp_path, monkeypatch):
    monkeypatch.setenv("TELLTALES_LOLRMM_CSV", str(tmp_path / "absent.csv"))
    assert catalogue_path() == tmp_path / "absent.csv" and not catalogue_path().exists()
