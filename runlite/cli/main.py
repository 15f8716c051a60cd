"""The ``runlite`` command's parser and entry point: the conventions every command keeps.

Commands are made by ``reading.py``, ``keeping.py`` and ``serving.py`` through one factory
(``command`` in ``build_parser``), which gives each the same FILE argument, ``--db``,
``--json`` and ``--untrusted``. Errors print one line on stderr and exit 1 (2 for usage
errors); no tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Sequence

from .. import __version__, errors
from . import keeping, reading, serving
from .output import encodable
from .paths import DEFAULT_DB

CONVENTIONS = f"""\
every command:
  FILE         the runlite file: first (runlite show runs.db RUN), or --db FILE anywhere
               (runlite show RUN --db runs.db). Left out, it is $RUNLITE_DB, else
               ./{DEFAULT_DB}. When the first argument could be the file or the command's
               own (runlite alerts X), it is the file if X exists (for merge: always).
  RUN          a run id, a unique run name, or a unique prefix of an id of at least 4 hex
               digits (like git's short hashes): runlite show 0190a3f2-1b.
  --json       JSON for programs instead of text for people (every command that prints
               results).
  --overwrite  a command that writes a file refuses an existing one without it.
  rm, gc       say what they delete and ask first when stdin is a terminal (--yes does not
               ask; without a terminal --yes is required); --dry-run changes nothing.
  exit codes   0 done; 1 an error (one line on stderr: runlite: error: ...) or, for verify,
               a problem found; 2 a mistake in the command line; 130 stopped by Ctrl-C.
"""


MAKES_FILE = ("merge",)  # commands whose first argument is the file even when it does not exist yet


class Unfit(Exception):
    """The command line does not fit a parse that was only tried."""


class CommandParser(argparse.ArgumentParser):
    """A command's parser; ``hint`` is added to its usage errors (why a positional is extra).
    While ``trying``, a command line that does not fit raises ``Unfit`` instead of exiting."""

    hint = ""
    trying = False

    def error(self, message: str):
        if self.trying:
            raise Unfit(message)
        super().error(message + self.hint)


def build_parser(*, file_positional: bool = True) -> argparse.ArgumentParser:
    """The parser of every command: the top level, and each command's in ``commands`` (its
    default). Without ``file_positional`` the commands take no FILE argument (``--db`` given)."""
    parser = argparse.ArgumentParser(prog="runlite", description="Runs in one SQLite file.", epilog=CONVENTIONS,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"runlite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    sub.required = True
    parser.set_defaults(commands=sub.choices)  # the commands by name, for main() and reference()

    def command(name: str, func, *, untrusted: bool = True) -> CommandParser:
        p = sub.add_parser(name, help=func.__doc__.splitlines()[0], description=func.__doc__)
        if file_positional:
            p.add_argument("file", nargs="?", metavar="FILE",
                           help=f"the runlite file (else --db, $RUNLITE_DB or {DEFAULT_DB})")
        else:
            p.hint = " (--db names the file, so every positional argument is the command's own)"
        p.add_argument("--db", metavar="FILE", help="the runlite file, instead of the first argument")
        if untrusted:
            p.add_argument("--untrusted", action="store_true",
                           help="a file from someone else: check it first and read it with the untrusted profile")
        p.add_argument("--json", action="store_true", help="JSON for programs")
        p.set_defaults(func=func, command=name)
        return p

    reading.register(command)
    keeping.register(command)
    serving.register(command)
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line read by the conventions: options and positional arguments in any
    order; with ``--db`` no positional argument is the file; when the first could be the file
    or the command's own, it is the file if it exists."""
    parser = build_parser()
    commands = parser.get_default("commands")
    if not argv or argv[0] not in commands:
        parser.parse_args(argv)  # --help, --version, or a usage error: each exits
    name, rest = argv[0], argv[1:]
    args = commands[name].parse_intermixed_args(rest)  # the first positional the file if the rest fit
    could_be_own = name not in MAKES_FILE and not os.path.lexists(args.file or "")
    if args.file is not None and (args.db is not None or could_be_own):
        own = build_parser(file_positional=False).get_default("commands")[name]
        own.trying = args.db is None  # with --db it must fit; without, the file-first reading stands
        try:
            args = own.parse_intermixed_args(rest)
            args.file = None
        except Unfit:
            pass
    if name == "rm" and not (args.runs or args.where or args.older_than is not None):
        commands["rm"].error("rm needs runs, --where or --older-than")
    return args


def reference() -> str:
    """The Markdown command reference (docs/cli.md), made from ``--help``."""
    parser = build_parser()
    out = ["# runlite command line", "",
           "Generated from `runlite --help` and `runlite COMMAND --help` "
           "(`python -m runlite.cli --reference > docs/cli.md`).", "",
           "```", parser.format_help().rstrip(), "```", ""]
    for name, p in parser.get_default("commands").items():
        out += [f"## runlite {name}", "", "```", p.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def said(exc: BaseException, parser: argparse.ArgumentParser) -> str:
    """The one line a failed command prints: the error's first line, in the command's words.
    A library argument the command takes as an option is named as the option (``api_key
    must ...``: ``--api-key must ...``; ``pass overwrite=True``: ``pass --overwrite``)."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, ImportError) and " needs " in message:  # an optional extra that is not installed
        return f"{parser.prog} needs " + message.split(" needs ", 1)[1]
    if listed := re.match(r"filter (\d+) ", message):  # the Nth of the filters given (FILTER, --where), from 0
        return f"filter {int(listed[1]) + 1} of those given " + message[listed.end():]
    first = message.split(" ", 1)[0]
    if re.fullmatch(r"[a-z_]+", first) and f"--{first.replace('_', '-')} " in parser.format_usage():
        message = f"--{first.replace('_', '-')}" + message[len(first):]
    return message.replace("pass overwrite=True", "pass --overwrite")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``runlite`` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--reference"]:
        print(reference())
        return 0
    args = parse(argv)
    try:
        with encodable():  # a name in any script on a stdout that cannot write it: escaped
            return args.func(args)
    except (errors.RunliteError, ImportError) as exc:
        print(f"runlite: error: {said(exc, build_parser().get_default('commands')[args.command])}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (runlite ls | head): not an error
        return 0
    except KeyboardInterrupt:  # Ctrl-C: one line, as for an error, and the shell's code for SIGINT
        print("runlite: interrupted", file=sys.stderr)
        return 130
