"""The `grove` command.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``
(``run`` may be a coroutine function). Only the chosen subcommand's module is imported, so
``grove render`` does not pay for the operator's imports.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "render": (
        "grove.render",
        "validate a PodCliqueSet manifest and print every object the operator creates for it",
    ),
    "crds": ("grove.crds_command", "print the CustomResourceDefinitions (or --write DIR: one file per CRD)"),
    "demo": (
        "grove.demo",
        "walk the core-concepts tutorial with kubectl on an embedded cluster, checking each step",
    ),
    "dev": ("grove.dev_command", "run the embedded dev cluster with the operator and the scheduler extender"),
    "scheduler-extender": ("grove.scheduler.command", "run the topology-aware gang scheduler extender"),
    "operator": (
        "grove.operator_command",
        "run the Grove operator (PodCliqueSet, scaling group and PodClique)",
    ),
    "initc": (
        "grove.initc.command",
        "wait until parent PodCliques are ready (the grove-initc init container)",
    ),
}


def _build_parser(command: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grove", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).add_arguments(sp)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = _build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    run = importlib.import_module(COMMANDS[args.command][0]).run
    try:
        result = asyncio.run(run(args)) if inspect.iscoroutinefunction(run) else run(args)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)
