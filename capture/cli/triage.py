"""``capture failures`` and ``capture retry --failed``: what is still broken across runs, and
putting it back in the queue (files that keep failing only on request)."""

from __future__ import annotations

import argparse
import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

from capture.catalog import Catalog
from capture.catalog.requeue import requeue
from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.config import CaptureSettings
from capture.project import project_settings
from capture.reports.failures import CAUSES
from capture.reports.triage import triage

CAUSE_NAMES = (*(c for c, _, _ in CAUSES), "other")
HISTORY_LINES = 6  # per file in the table; --json has them all


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "failures", help="files failed or quarantined now, by cause and archive, with history"
    )
    _selection(p)
    p.add_argument("--json", action="store_true", help="JSON instead of tables")
    add_data_args(p)
    p.set_defaults(func=cmd_failures)
    p = sub.add_parser("retry", help="re-queue failed/quarantined files for the next crawl")
    p.add_argument(
        "--failed",
        action="store_true",
        required=True,
        help="re-queue the files whose state is failed or quarantined",
    )
    _selection(p)
    p.add_argument(
        "--include-attention",
        action="store_true",
        help="also re-queue files flagged needs_attention (failed too many runs in a row)",
    )
    p.add_argument("--dry-run", action="store_true", help="only count what would be re-queued")
    add_data_args(p)
    p.set_defaults(func=cmd_retry)


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("--archive", help="only this archive")
    p.add_argument("--cause", choices=CAUSE_NAMES, help="only this cause")


def _open(args: argparse.Namespace) -> tuple[Path, Catalog]:
    root = data_dir(args)
    if not (root / "catalog.sqlite").exists() and not args.catalog_url:
        raise CliError(f"no catalog in {root} (use --data-dir or CAPTURE_DATA_DIR)")
    return root, open_catalog(args, root)


def _report(args: argparse.Namespace, catalog: Catalog) -> dict[str, Any]:
    rounds = CaptureSettings.from_settings(project_settings()).needs_attention_rounds
    return triage(catalog, archive=args.archive, cause=args.cause, attention_rounds=rounds)


def cmd_failures(args: argparse.Namespace) -> int:
    _, catalog = _open(args)
    report = _report(args, catalog)
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report["total"]:
        print("no failed or quarantined files")
    else:
        _print_tables(report)
    return 0


def _print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(
        f"{report['total']} failed or quarantined file(s), {report['needs_attention']} "
        f"need attention (failed {report['attention_rounds']}+ runs in a row)"
    )
    for group in report["groups"]:
        flag = f", {group['needs_attention']} need attention" if group["needs_attention"] else ""
        table = Table(
            title=f"{group['cause']} · {group['archive']}: {group['count']} file(s){flag}",
            caption=group["advice"],
            title_justify="left",
            caption_justify="left",
            show_lines=True,
        )
        for name in ("", "path", "state", "runs", "last error", "history"):
            table.add_column(name, overflow="fold")
        for f in group["files"]:
            history = [
                f"{h['at'][:19]} {h['kind']} {h['error_class'] or ''} {h['message'] or ''}"
                for h in f["history"][-HISTORY_LINES:]
            ]
            table.add_row(
                "!" if f["needs_attention"] else "",
                f["path"],
                f["state"],
                str(f["rounds"]),
                f["error"] or "",
                "\n".join(history),
            )
        console.print(table)


def cmd_retry(args: argparse.Namespace) -> int:
    root, catalog = _open(args)
    report = _report(args, catalog)
    targets: list[tuple[int, str]] = []
    per_archive: Counter[str] = Counter()
    spiders: dict[str, str] = {}
    held = 0
    for group in report["groups"]:
        for f in group["files"]:
            if f["needs_attention"] and not args.include_attention:
                held += 1
                continue
            targets.append((f["id"], f["cause"]))
            per_archive[group["archive"]] += 1
            spiders[group["archive"]] = f["spider"]
    if not args.dry_run and targets:
        with catalog.engine.begin() as conn:
            done = requeue(conn, targets)
        if done != len(targets):
            print(f"({len(targets) - done} settled meanwhile, left alone)")
    verb = "would re-queue" if args.dry_run else "re-queued"
    print(f"{verb} {len(targets)} file(s)")
    for archive, n in sorted(per_archive.items()):
        print(f"  {archive:28} {n}")
    if held:
        print(f"{held} file(s) need attention and were left out (--include-attention to add them)")
    if per_archive:
        print("fetch them with:")
        extra = ""
        if args.catalog_url:
            extra = f" -s CAPTURE_CATALOG_URL={shlex.quote(args.catalog_url)}"
        for archive in sorted(per_archive):
            print(
                f"  capture crawl {spiders[archive]} "
                f"-s CAPTURE_DATA_DIR={shlex.quote(str(root))}{extra}"
            )
    return 0
