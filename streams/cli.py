"""The `telltales` command line: one entry point, one module per subcommand.

Each command module exposes `register(subparsers)`, which adds its parser and sets
`func` to a function taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Final

from telltales.streams import version as _version

# Subcommand modules, in the order `--help` lists them.
COMMANDS: Final = (
    "telltales.streams.demo",
    "telltales.streams.worker",
    "telltales.streams.replay",
    "telltales.streams.adapt",
    "telltales.streams.simulate",
    "telltales.streams.evaluate",
    "telltales.streams.schema_check",
    "telltales.streams.topics",
)

DESCRIPTION: Final = """\
telltales: a streaming detector for remote employees who are not where, or who, they
claim to be (laptop farms, remote control from abroad, VPN-masked logins).
Every subcommand has its own --help."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="telltales", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130



if __name__ == "__main__":
    sys.exit(main())
