"""``capture diff``: what the next update round would fetch and retract, downloading nothing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from capture.cli.common import CliError
from capture.cli.run import options_from_args
from capture.items import DOMAINS
from capture.units import human_bytes

SHOWN_PER_CATEGORY = 20  # files per category in the table; --json has them all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "diff",
        help="discovery only, compared with the catalog: new, changed, gone files",
        description="List every archive of the chosen domains (or spiders) and compare it "
        "with the catalog, downloading no file and changing no file row: new, changed (and "
        "which validator), unchanged, pending and gone-upstream files with their bytes. "
        "`capture run --update` then fetches exactly the new, changed and pending files and "
        "marks the gone ones retracted.",
        epilog="Exit codes: 0 every discovery completed, 3 some were partial (gone files are "
        "then not computed for them), 4 none completed, 2 bad arguments, 130 interrupted.",
    )
    p.add_argument("--config", help="JSON config file (spider_args, spider_settings, mirrors)")
    p.add_argument("--domains", nargs="+", choices=DOMAINS, metavar="DOMAIN")
    p.add_argument("--spiders", nargs="+", metavar="SPIDER", help="only these spiders")
    p.add_argument(
        "--mirror", action="append", default=None, metavar="SPIDER=URL", help="as capture run"
    )
    p.add_argument(
        "--since",
        metavar="RUN",
        help="leave out what the diff or update run RUN already listed the same way",
    )
    p.add_argument("--json", action="store_true", help="the stable JSON document instead")
    p.add_argument("--run-id", help="name the diff (default diff_<UTC time>)")
    p.add_argument("--data-dir", default=None, help="data root (as capture run)")
    p.set_defaults(func=cmd_diff)


def cmd_diff(args: argparse.Namespace) -> int:
    from capture.domains import spiders_of
    from capture.run.config import ConfigError
    from capture.run.diff import DiffRun

    for name in ("max_storage_tb", "max_download_gb", "quality_threshold"):
        setattr(args, name, None)
    for name in ("nasa_grade_threshold", "max_concurrent_domains", "rate_limit_delay"):
        setattr(args, name, None)
    args.dry_run, args.feed_uri, args.resume, args.update = True, None, None, None
    if args.spiders and not args.domains:
        known = {s: d for d in DOMAINS for s in spiders_of(d)}
        unknown = [s for s in args.spiders if s not in known]
        if unknown:
            raise CliError(f"unknown spider(s) {', '.join(unknown)} (capture spiders lists them)")
        args.domains = sorted({known[s] for s in args.spiders}, key=DOMAINS.index)
    options = options_from_args(args)
    try:
        summary = DiffRun(options, args.spiders, args.since).run()
    except (FileNotFoundError, ConfigError) as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print_tables(summary)
    sys.stdout.flush()
    return int(summary["exit_code"])


def print_tables(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    totals = summary["totals"]
    since = f" since {summary['since']}" if summary.get("since") else ""
    console.print(
        f"diff {summary['run_id']}{since}: "
        + ", ".join(
            f"{totals[c]['files']} {c} ({human_bytes(totals[c]['bytes'])})"
            for c in ("new", "changed", "pending", "gone", "unchanged")
        )
    )
    table = Table(title_justify="left")
    for col in ("archive", "discovery", "new", "changed", "pending", "gone", "unchanged"):
        table.add_column(
            col,
            justify="left" if col in ("archive", "discovery") else "right",
            no_wrap=col != "discovery",
        )
    notes: list[str] = []  # why gone is unknown: under the table, not wrapped into a cell
    for a in summary["archives"]:
        c = a["counts"]
        gone = (
            f"{c['gone']['files']} / {human_bytes(c['gone']['bytes'])}"
            if a["gone_checked"]
            else f"?{len(notes) + 1}"
        )
        if not a["gone_checked"]:
            notes.append(f"?{len(notes) + 1} {a['archive']}: {a['gone_why']}")
        table.add_row(
            a["archive"],
            a["outcome"],
            *(
                f"{c[k]['files']} / {human_bytes(c[k]['bytes'])}"
                for k in ("new", "changed", "pending")
            ),
            gone,
            f"{c['unchanged']['files']} / {human_bytes(c['unchanged']['bytes'])}",
        )
    console.print(table)
    for note in notes:
        console.print(f"  gone {note}", markup=False)
    for a in summary["archives"]:
        for category in ("new", "changed", "pending", "gone"):
            files = a["files"][category]
            if not files:
                continue
            console.print(f"[bold]{a['archive']}[/bold] {category}:")
            for f in files[:SHOWN_PER_CATEGORY]:
                console.print(f"  {_describe(category, f)}", markup=False)
            if len(files) > SHOWN_PER_CATEGORY:
                console.print(f"  ... {len(files) - SHOWN_PER_CATEGORY} more (--json)")
        if a.get("repeats"):
            console.print(f"{a['archive']}: the listing named {a['repeats']} file(s) twice")


def _describe(category: str, f: dict[str, Any]) -> str:
    size = human_bytes(f["bytes"]) if f.get("bytes") is not None else "size unknown"
    if category == "changed":
        was = f.get("previous_bytes")
        delta = f", was {human_bytes(was)}" if was is not None and was != f.get("bytes") else ""
        return f"{f['path']}  {size}{delta}  [{', '.join(f.get('changed') or ())}]"
    if category == "pending":
        return f"{f['path']}  {size}  ({f.get('why')})"
    if category == "gone":
        return f"{f['path']}  {size}  last seen {f.get('last_seen_at')}  ({f.get('state')})"
    again = "  (listed again after retraction)" if f.get("reappeared") else ""
    return f"{f['path']}  {size}{again}"
