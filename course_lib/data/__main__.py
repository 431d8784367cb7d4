"""Command line for the datasets: `python -m course_lib.data build|check`."""
from __future__ import annotations

import argparse
import sys

from . import KINDS, REGISTRY, build, dataset_kind
from .common import DataError


def main(argv: list[str] | None = None) -> int:
    """Command line: build | check; 0 on success, 2 when a dataset cannot be used."""
    kinds = "; ".join(f"{k.name}: {k.description}" for k in REGISTRY.values())
    ap = argparse.ArgumentParser(prog="python -m course_lib.data", description="Build or check the course datasets.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the offline datasets of a profile into data/<profile>/")
    b.add_argument("--profile", choices=["smoke", "cpu", "gpu"], default=None)
    b.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS), help=kinds)
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--quiet", action="store_true", help="no progress bars (CI logs)")
    c = sub.add_parser("check", help="load a dataset folder (built, NSynth or MIDI) and report every bad file")
    c.add_argument("path")
    c.add_argument("--kind", choices=KINDS, required=True, help=kinds)
    c.add_argument("--split", default="train", help="notes only: train, valid or test")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "build":
            build(a.profile, tuple(a.only), force=a.force, progress=not a.quiet)
            return 0
        s = dataset_kind(a.kind).check(a.path, a.split)
        print(f"{len(s)} items loaded from {a.path}")
        print(s.report.summary())
        return 0
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
