"""`telltales schema check FILE...`: judge JSONL events against the contract, one line per error.

Each error is printed as `FILE:LINE: PATH: CODE: MESSAGE` (PATH empty for the whole line)
on stdout, a summary on stderr. Exit 0 when every line is valid, 1 when any is rejected,
2 when a file cannot be read (the other files are still checked).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final, TextIO

from telltales.schemas.decoder import DEFAULT_MAX_EVENT_BYTES, Decoder, too_large
from telltales.schemas.events import EVENT_TYPES
from telltales.schemas.rejections import Rejection

STDIN: Final = "-"
_JSON_WHITESPACE: Final = b" \t\r\n"
_SKIP_CHUNK: Final = 1024 * 1024

EXIT_VALID: Final = 0
EXIT_REJECTED: Final = 1
EXIT_UNREADABLE: Final = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    schema = subparsers.add_parser(
        "schema", help="check events against the event contract",
        description="The event contract (SPEC section 4): check event files against it.")
    commands = schema.add_subparsers(title="schema commands", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check", help="check JSONL event files; print every error with file, line, path and reason",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("files", nargs="+", metavar="FILE",
                       help="JSONL file, one event per line with its event_type; - reads stdin")
    check.add_argument("--max-event-bytes", type=_positive_int, default=DEFAULT_MAX_EVENT_BYTES, metavar="N",
                       help="refuse lines longer than N bytes (default: %(default)s, as decode.max_event_bytes)")
    check.add_argument("--event-type", choices=tuple(EVENT_TYPES), default=None,
                       help="check lines as the topic carrying this type delivers them: "
                            "event_type may be absent, and a different one is refused")
    check.set_defaults(func=run)


@dataclass
class Tally:
    lines: int = 0
    rejected: int = 0
    unreadable: int = 0

    @property
    def valid(self) -> int:
        return self.lines - self.rejected

    def summary(self) -> str:
        text = f"{self.lines} lines, {self.valid} valid, {self.rejected} rejected"
        return f"{text}; {self.unreadable} file(s) unreadable" if self.unreadable else text

    def exit_code(self) -> int:
        if self.unreadable:
            return EXIT_UNREADABLE
        return EXIT_REJECTED if self.rejected else EXIT_VALID


def run(args: argparse.Namespace) -> int:
    decoder = Decoder(args.event_type, max_event_bytes=args.max_event_bytes)
    tally = Tally()
    for name in args.files:
        try:
            if name == STDIN:
                check_stream(sys.stdin.buffer, name, decoder, tally, sys.stdout)
            else:
                with open(name, "rb") as stream:
                    check_stream(stream, name, decoder, tally, sys.stdout)
        except OSError as exc:
            tally.unreadable += 1
            print(f"telltales schema check: cannot read {name}: {exc.strerror or exc}", file=sys.stderr)
    print(tally.summary(), file=sys.stderr)
    return tally.exit_code()


def check_stream(stream: BinaryIO, name: str, decoder: Decoder, tally: Tally, out: TextIO) -> None:
    """Judge every non-blank line of `stream`, writing one line per rejection to `out`."""
    for number, line in _lines(stream, decoder.max_event_bytes):
        if isinstance(line, bytes) and not line.strip(_JSON_WHITESPACE):
            continue
        tally.lines += 1
        result = decoder.decode(line) if isinstance(line, bytes) else too_large(line, decoder.max_event_bytes)
        if isinstance(result, Rejection):
            tally.rejected += 1
            out.write(f"{name}:{number}: {result.path}: {result.code}: {result.message}\n")


def _lines(stream: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | int]]:
    """(line number, line without its b"\\n"), split on b"\\n" only.

    A line longer than `limit` is not held in memory: it is read past in chunks and
    yielded as its size in bytes.
    """
    number = 0
    while chunk := stream.readline(limit + 1):
        number += 1
        if chunk.endswith(b"\n"):
            yield number, chunk[:-1]
        elif len(chunk) <= limit:
            yield number, chunk  # the last line, without a newline
        else:
            size = len(chunk)
            while chunk and not chunk.endswith(b"\n"):
                chunk = stream.readline(_SKIP_CHUNK)
                size += len(chunk)
            yield number, size - 1 if chunk.endswith(b"\n") else size


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
