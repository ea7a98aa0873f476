"""``capture``: operate captures from the command line.

Subcommands are registered by small modules (one job each); see ``capture <cmd> --help``.
"""

from __future__ import annotations

import argparse
import sys

from capture.__version__ import __version__
from capture.cli import cat as cat_cmd
from capture.cli import catalog as catalog_cmd
from capture.cli import diff as diff_cmd
from capture.cli import quality as quality_cmd
from capture.cli import run as run_cmd
from capture.cli import spiders as spiders_cmd
from capture.cli import status as status_cmd
from capture.cli import storage as storage_cmd
from capture.cli import triage as triage_cmd
from capture.cli import verify as verify_cmd
from capture.cli import watch as watch_cmd
from capture.cli.common import CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capture", description="Operate verified, resumable captures of scientific archives."
    )
    parser.add_argument("--version", action="version", version=f"capture {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser(
        "crawl",
        help="run one spider from any directory (scrapy crawl SPIDER -a ... -s ...)",
        add_help=False,
    )
    run_cmd.register(sub)
    diff_cmd.register(sub)
    spiders_cmd.register(sub)
    status_cmd.register(sub)
    triage_cmd.register(sub)
    verify_cmd.register(sub)
    storage_cmd.register(sub)
    cat_cmd.register(sub)
    watch_cmd.register(sub)
    quality_cmd.register(sub)
    catalog_cmd.register(sub)
    return parser


def crawl(argv: list[str]) -> int:
    """``capture crawl SPIDER [scrapy crawl options]``: ``scrapy crawl`` from any directory
    (the project's settings without a scrapy.cfg)."""
    import os

    from scrapy.cmdline import execute

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "capture.settings")
    try:
        execute(["scrapy", "crawl", *argv])
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["crawl"]:
        return crawl(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"capture: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
