"""``capture storage plan | apply | restore``: tier recommendations, moves and restores
(``capture storage dedup``: capture/cli/storage_dedup.py).

The store is the configured one (``CAPTURE_STORE``: the local data root with its
``CAPTURE_COLD_DIR``, or S3 storage classes); ``-s NAME=VALUE`` overrides any capture setting
for this command, as it does for a crawl.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capture.cli import storage_dedup
from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.config import CaptureSettings, SettingsError
from capture.project import project_settings
from capture.units import human_bytes

SPEEDS = ("Standard", "Bulk", "Expedited")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    storage = sub.add_parser("storage", help="storage tiers (plan, apply, restore) and dedup")
    ssub = storage.add_subparsers(dest="storage_command", metavar="ACTION")
    ssub.required = True

    plan = ssub.add_parser("plan", help="recommend a tier per file; totals and $/month per tier")
    plan.add_argument("--json", action="store_true", help="JSON instead of a table")
    _common(plan)
    plan.set_defaults(func=cmd_plan)

    apply = ssub.add_parser("apply", help="move files down to their recommended tier")
    apply.add_argument("--dry-run", action="store_true", help="say what would move; move nothing")
    apply.add_argument(
        "--tier", action="append", default=[], metavar="T", help="only moves into tier T"
    )
    apply.add_argument("--limit", type=_positive, help="move at most N files")
    apply.add_argument("--json", action="store_true")
    _common(apply)
    apply.set_defaults(func=cmd_apply)

    restore = ssub.add_parser(
        "restore", help="bring a file back to the hot tier (S3 archive classes: RestoreObject)"
    )
    restore.add_argument("file", help="sha256, data-root path, archive:archive_path or location")
    restore.add_argument("--days", type=_positive, default=7, help="days a restored S3 copy lives")
    restore.add_argument("--speed", choices=SPEEDS, default="Standard", help="S3 retrieval tier")
    restore.add_argument("--json", action="store_true")
    _common(restore, scoped=False)
    restore.set_defaults(func=cmd_restore)

    storage_dedup.register(ssub)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


def _common(p: argparse.ArgumentParser, *, scoped: bool = True) -> None:
    if scoped:
        p.add_argument("--archive", action="append", default=[], help="only this archive")
        p.add_argument("--domains", nargs="+", default=[], metavar="DOMAIN", help="only these")
    p.add_argument(
        "-s",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a capture setting for this command (e.g. CAPTURE_COLD_DIR=/cold)",
    )
    add_data_args(p)


def _context(args: argparse.Namespace) -> tuple[Path, Any, Any, Any, str]:
    """(data root, catalog, policy, mover, store label) for the configured store."""
    from capture.paths import DataRoot
    from capture.storage import S3Store, store_class
    from capture.storage.movers import LocalMover, S3Mover
    from capture.storage.tiers import Policy

    settings = project_settings()
    for pair in args.settings:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("CAPTURE_"):
            raise CliError(f"-s expects CAPTURE_NAME=VALUE, got {pair!r}")
        settings.set(name, value, priority="cmdline")
    root = data_dir(args)
    if not (root / "catalog.sqlite").exists() and not (
        args.catalog_url or settings.get("CAPTURE_CATALOG_URL")
    ):
        raise CliError(f"no catalog in {root} (use --data-dir or CAPTURE_DATA_DIR)")
    try:
        config = CaptureSettings.from_settings(settings)
        cls = store_class(config.store)
    except (SettingsError, ValueError) as exc:
        raise CliError(str(exc)) from exc
    data = DataRoot.at(root)
    catalog = open_catalog(args, root)
    remote = cls is S3Store
    policy = Policy.from_config(config, remote=remote)
    if remote:
        store = S3Store.from_settings(config.store, config, data)
        return root, catalog, policy, S3Mover(store), config.store
    cold = Path(config.cold_dir) if config.cold_dir else None
    label = f"local {root}" + (f" (cold: {cold})" if cold else " (no CAPTURE_COLD_DIR)")
    return root, catalog, policy, LocalMover(data, cold), label


def cmd_plan(args: argparse.Namespace) -> int:
    from capture.storage.plan import make_plan

    _, catalog, policy, _, label = _context(args)
    plan = make_plan(catalog, policy, store=label, archives=args.archive, domains=args.domains)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        _print_plan(plan.to_dict())
    return 0


def _print_plan(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    console.print(f"storage plan for {doc['store']} ({doc['seconds']:.2f} s)", markup=False)
    table = Table(title_justify="left")
    for col in ("tier", "now: files", "bytes", "$/month", "plan: files", "bytes ", "$/month "):
        table.add_column(col, justify="left" if col == "tier" else "right")

    def cells(t: dict[str, Any]) -> list[str]:
        return [f"{t['files']:,}", human_bytes(t["bytes"]), f"{t['usd_month']:,.2f}"]

    for t in doc["tiers"]:
        table.add_row(t["tier"], *cells(t["now"]), *cells(t["plan"]))
    table.add_section()
    table.add_row("total", *cells(doc["total"]["now"]), *cells(doc["total"]["plan"]))
    console.print(table)
    rules = Table(title_justify="left")
    for col in ("rule", "files", "bytes", "-> tier"):
        rules.add_column(col, justify="left" if col in ("rule", "-> tier") else "right")
    for name, r in doc["rules"].items():
        rules.add_row(name, f"{r['files']:,}", human_bytes(r["bytes"]), r["tier"])
    console.print(rules)
    r = doc["rules_in_force"]
    console.print(
        f"rules: idle >= {r['warm_after_days']} d warm, >= {r['cold_after_days']} d cold, "
        f">= {r['archive_after_days']} d archive (reproducible only); files < "
        f"{human_bytes(r['min_bytes'])} stay hot; reproducible = stored, publisher digest, "
        f"listed within {r['listed_within_days']} d"
        + ("; second copy declared" if r["second_copy"] else ""),
        markup=False,
    )
    down, up = doc["apply_moves"], doc["restore_candidates"]
    console.print(
        f"apply would move {down['files']:,} files ({human_bytes(down['bytes'])}) down; "
        f"{up['files']:,} files ({human_bytes(up['bytes'])}) are recommended warmer "
        "(restore is explicit: capture storage restore)",
        markup=False,
    )


def _run_id(kind: str) -> str:
    return f"storage_{kind}_{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def cmd_apply(args: argparse.Namespace) -> int:
    from capture.storage.tiering import apply

    _, catalog, policy, mover, label = _context(args)
    try:
        for name in args.tier:
            policy.tier(name)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from None
    if getattr(mover, "cold", True) is None and not args.dry_run:
        raise CliError(
            "no local cold tier to move to: set CAPTURE_COLD_DIR (-s CAPTURE_COLD_DIR=DIR)"
        )

    def progress(row: dict[str, Any], target: Any, error: str | None) -> None:
        if args.json:
            return
        verb = "would move" if args.dry_run else ("moved" if error is None else "FAILED")
        size = human_bytes(row["size"] or 0)
        was = row["tier"] or policy.default.name
        line = f"{verb} {row['path']} ({size}) {was} -> {target.name}"
        print(line + (f": {error}" if error else ""), file=sys.stderr if error else sys.stdout)

    report = apply(
        catalog,
        policy,
        mover,
        tiers=args.tier,
        limit=args.limit,
        dry_run=args.dry_run,
        archives=args.archive,
        domains=args.domains,
        run_id=None if args.dry_run else _run_id("apply"),
        progress=progress,
    )
    doc = {"store": label, **report.to_dict()}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        verb = "would move" if args.dry_run else "moved"
        parts = [
            f"{t.files:,} files ({human_bytes(t.bytes)}) to {name}"
            for name, t in report.moved.items()
        ]
        print(f"{verb}: " + ("; ".join(parts) or "nothing") + f"; failed: {len(report.failed)}")
    if report.failed:
        return 3 if report.files else 4
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from capture.storage.tiering import find, restore

    root, catalog, policy, mover, _ = _context(args)
    rows = find(catalog, args.file, root)
    if not rows:
        raise CliError(f"no file {args.file!r} in the catalog")
    results = restore(
        catalog,
        policy,
        mover,
        rows,
        days=args.days,
        speed=args.speed,
        run_id=_run_id("restore"),
    )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            extra = f": {r['error']}" if r.get("error") else ""
            print(f"{r['state']}: {r['path']} (was {r['tier']}){extra}")
    states = {r["state"] for r in results}
    if states <= {"restored", "already_hot"}:
        return 0
    if "failed" in states and not states & {"restored", "already_hot", "requested", "pending"}:
        return 4
    return 3
