"""``grove crds``: print Grove's CustomResourceDefinitions, or write them into a directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grove.api.crds import crds_yaml


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``grove crds``."""
    parser.add_argument("--write", metavar="DIR", help="write one file per CRD into DIR instead of printing")


def run(args: argparse.Namespace) -> int:
    """Print the CRDs as multi-document YAML, or write them with ``--write DIR``."""
    files = crds_yaml()
    if args.write:
        out = Path(args.write)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
            print(f"wrote {out / name}", file=sys.stderr)
        return 0
    sys.stdout.write("".join(files.values()))
    return 0
