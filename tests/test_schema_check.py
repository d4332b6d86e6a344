"""`telltales schema check`: every error of the shipped invalid examples, with file, line, path and code."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from telltales.streams.cli import main

EXAMPLES = Path(str(resources.files("telltales.schemas") / "examples"))
INVALID = EXAMPLES / "invalid"
EXPECTED: dict[str, dict[str, Any]] = json.loads((INVALID / "expected.json").read_text("utf-8"))
FILE_KEYS = {key: label for key, label in EXPECTED.items() if not key.startswith("topic/")}
TOPIC_KEYS = {key: label for key, label in EXPECTED.items() if key.startswith("topic/vpn_login.jsonl:")}


def check(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, list[str], str]:
    code = main(["schema", "check", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def prefix(key: str, label: dict[str, Any]) -> str:
    """`FILE:LINE: PATH: CODE: ` for an expected error of invalid/expected.json."""
    name, line = key.rsplit(":", 1)
    return f"{INVALID / name}:{line}: {label['path']}: {label['code']}: "


def vpn_line(**fields: Any) -> bytes:
    event = {"event_type": "vpn_login", "employee_id": "emp-1", "ts": "2026-03-02T09:00:00Z",
             "src_ip": "192.0.2.10", **fields}
    return json.dumps(event, ensure_ascii=False).encode()


def write(tmp_path: Path, data: bytes, name: str = "events.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --- the shipped examples ----------------------------------------------------------------------

def test_invalid_examples_report_every_expected_error(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(INVALID.glob("*.jsonl"))
    code, out, err = check(capsys, *files)
    assert code == 1
    assert len(out) == len(FILE_KEYS), "exactly one error line per invalid line"
    for key, label in FILE_KEYS.items():
        assert sum(line.startswith(prefix(key, label)) for line in out) == 1, key
    assert err.strip() == f"{len(FILE_KEYS)} lines, 0 valid, {len(FILE_KEYS)} rejected"


def test_topic_examples_with_the_type_the_topic_implies(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(capsys, "--event-type", "vpn_login", INVALID / "topic" / "vpn_login.jsonl")
    assert code == 1
    assert sorted(line.split(": ", 1)[0] for line in out) == sorted(
        f"{INVALID / key.rsplit(':', 1)[0]}:{key.rsplit(':', 1)[1]}" for key in TOPIC_KEYS)
    for key, label in TOPIC_KEYS.items():
        assert any(line.startswith(prefix(key, label)) for line in out), key


def test_valid_examples_pass(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted((EXAMPLES / "valid").glob("*.jsonl"))
    lines = sum(1 for f in files for line in f.read_bytes().split(b"\n") if line)
    code, out, err = check(capsys, *files)
    assert (code, out) == (0, [])
    assert err.strip() == f"{lines} lines, {lines} valid, 0 rejected"


def test_the_installed_console_script() -> None:
    script = Path(sys.executable).parent / "telltales"
    assert script.exists(), f"the telltales console script is not installed next to {sys.executable}"
    files = sorted(INVALID.glob("*.jsonl"))
    run = subprocess.run([script, "schema", "check", *files], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    for key, label in FILE_KEYS.items():
        assert prefix(key, label) in run.stdout, key
    assert "0 valid" in run.stderr
    valid = subprocess.run([script, "schema", "check", EXAMPLES / "valid" / "employee.jsonl"],
                           capture_output=True, text=True, timeout=120)
    assert (valid.returncode, valid.stdout) == (0, "")


# --- reading lines ---------------------------------------------------------------------------------

def test_output_format_and_empty_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, vpn_line(src_ip="nope") + b"\n{\n")
    _, out, _ = check(capsys, path)
    assert out == [f'{path}:1: src_ip: bad_format: `src_ip` is "nope"; expected IPv4 or IPv6 address',
                   f"{path}:2: : bad_json: Input data was truncated"]


def test_blank_lines_are_skipped_but_counted_for_numbering(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, vpn_line() + b"\n\n   \n\t\r\n" + vpn_line(ts="now") + b"\n\n")
    code, out, err = check(capsys, path)
    assert code == 1
    assert [line.split(": ")[0] for line in out] == [f"{path}:5"]
    assert err.strip() == "2 lines, 1 valid, 1 rejected"


def test_lines_split_on_newline_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """NEL, LS and PS inside an event are not line breaks (str.splitlines would split there); CRLF files work."""
    data = vpn_line(source="okta\x85export\u2028batch\u2029seven") + b"\r\n" + vpn_line() + b"\r\n" + vpn_line() + b"\n"
    assert len(data.decode().splitlines()) == 6
    code, out, err = check(capsys, write(tmp_path, data))
    assert (code, out) == (0, [])
    assert err.strip() == "3 lines, 3 valid, 0 rejected"


def test_last_line_without_newline_is_checked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, vpn_line() + b"\n" + vpn_line(outcome="maybe"))
    _, out, _ = check(capsys, path)
    assert [line.split(": ")[:3] for line in out] == [[f"{path}:2", "outcome", "bad_value"]]


def test_non_utf8_line_is_judged_by_the_decoder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write(tmp_path, vpn_line(geo={"city": "São Paulo"}).replace("ã".encode(), b"\xe3") + b"\n" + vpn_line())
    code, out, err = check(capsys, path)
    assert code == 1
    assert out[0].startswith(f"{path}:1: : not_utf8: invalid UTF-8 at byte ")
    assert err.strip() == "2 lines, 1 valid, 1 rejected"


def test_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    data = vpn_line() + b"\n" + vpn_line(employee_id="") + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = check(capsys, "-")
    assert code == 1
    assert out == ['-:2: employee_id: too_long: `employee_id` is ""; must have at least 1 character(s)']


# --- bounds and failures --------------------------------------------------------------------------

def test_max_event_bytes_reports_the_whole_line_size(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    big = vpn_line(raw="x" * 5000)
    path = write(tmp_path, vpn_line() + b"\n" + big + b"\n" + vpn_line(src_ip="bad") + b"\n")
    code, out, err = check(capsys, "--max-event-bytes", "1024", path)
    assert code == 1
    assert out[0] == f"{path}:2: : too_large: message is {len(big)} bytes; the limit is 1024"
    assert out[1].startswith(f"{path}:3: src_ip: bad_format: ")
    assert err.strip() == "3 lines, 1 valid, 2 rejected"


def test_line_of_exactly_the_bound_is_judged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = vpn_line(raw="")
    line = line.replace(b'"raw": ""', b'"raw": "' + b"x" * (1024 - len(line)) + b'"')
    assert len(line) == 1024
    path = write(tmp_path, line + b"\n" + line + b"x")
    code, out, _ = check(capsys, "--max-event-bytes", "1024", path)
    assert code == 1
    assert out == [f"{path}:2: : too_large: message is 1025 bytes; the limit is 1024"]


@pytest.mark.parametrize("bound", ["0", "-5", "lots"])
def test_max_event_bytes_must_be_a_positive_number(capsys: pytest.CaptureFixture[str], bound: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["schema", "check", "--max-event-bytes", bound, "-"])
    assert caught.value.code == 2
    assert "--max-event-bytes" in capsys.readouterr().err


def test_unreadable_file_exits_2_and_the_others_are_still_checked(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = write(tmp_path, vpn_line(src_ip="nope") + b"\n")
    missing = tmp_path / "missing.jsonl"
    code, out, err = check(capsys, missing, bad, tmp_path)
    assert code == 2
    assert [line.split(": ")[0] for line in out] == [f"{bad}:1"]
    assert f"cannot read {missing}: No such file or directory" in err
    assert f"cannot read {tmp_path}: Is a directory" in err
    assert err.splitlines()[-1] == "1 lines, 0 valid, 1 rejected; 2 file(s) unreadable"


def test_no_files_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["schema", "check"])
    assert caught.value.code == 2
