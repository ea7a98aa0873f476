"""``capture storage dedup``: bytes saved by storing identical content once, and the
retroactive pass that links what is still stored twice.

Exit codes: 0 done; 3 ``--apply`` left some duplicates alone (their bytes are not the
catalog's, or no link was possible: listed); 2 bad arguments."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.config import CaptureSettings, SettingsError
from capture.dedup.apply import Applied, apply
from capture.dedup.report import ArchiveLine, Summary, summarize
from capture.fixity.audit import now, stamp
from capture.paths import DataRoot
from capture.project import project_settings
from capture.storage import Store, store_for
from capture.units import human_bytes

EXIT_OK, EXIT_PARTIAL = 0, 3


def register(cmds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``dedup`` to the ``capture storage`` actions (capture/cli/storage.py)."""
    d = cmds.add_parser(
        "dedup",
        help="files and bytes stored once (per archive, across archives); --apply links "
        "identical stored files not yet linked",
    )
    d.add_argument(
        "--apply",
        action="store_true",
        help="replace each separately stored duplicate with a link (both re-hashed first)",
    )
    d.add_argument("--archive", help="only this archive's files")
    d.add_argument("--store", help="CAPTURE_STORE to look at (default: the setting)")
    d.add_argument("--json", action="store_true", help="the report as JSON")
    add_data_args(d)
    d.set_defaults(func=cmd_dedup)


def _store(root: Path, uri: str | None) -> Store:
    config = CaptureSettings.from_settings(project_settings())
    if uri is not None:
        config = replace(config, store=uri)
    try:
        return store_for(config, DataRoot.at(root))
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def cmd_dedup(args: argparse.Namespace) -> int:
    root = data_dir(args)
    if not (root / "catalog.sqlite").exists() and not args.catalog_url:
        raise CliError(f"no catalog in {root} (use --data-dir or CAPTURE_DATA_DIR)")
    store = _store(root, args.store)
    catalog = open_catalog(args, root)
    try:
        applied, free = None, None
        if args.apply:
            before = _free(root, store)
            show = None if args.json else _progress
            applied = apply(
                catalog.engine, store, args.archive, f"dedup_{stamp(now())}", progress=show
            )
            free = (before, _free(root, store))
        summary = summarize(catalog.engine, store, args.archive)
    finally:
        catalog.close()
    if args.json:
        out: dict[str, Any] = summary.to_dict()
        if applied is not None:
            out["applied"] = applied.to_dict()
            if free and free[0] is not None:
                out["applied"]["disk_free"] = {"before": free[0], "after": free[1]}
        print(json.dumps(out, indent=2))
    else:
        _print(summary, store)
        if applied is not None:
            _print_applied(applied, store, free)
    return EXIT_PARTIAL if applied is not None and applied.declined else EXIT_OK


def _free(root: Path, store: Store) -> int | None:
    if store.remote:
        return None
    st = os.statvfs(root)
    return st.f_bavail * st.f_frsize


def _progress(keeper: Any, loc: Any, method: str | None) -> None:
    verdict = method.upper() if method else "LEFT ALONE"
    print(f"{verdict:10} {loc.path} -> {keeper.path}")


def _row(line: ArchiveLine) -> str:
    cross = f"{line.cross_copies} ({human_bytes(line.cross_saved)})"
    twice = f"{line.twice} ({human_bytes(line.twice_bytes)})"
    return (
        f"{line.archive:24} {line.files:>7} {human_bytes(line.bytes):>10} {line.copies:>7} "
        f"{human_bytes(line.saved):>10} {cross:>20} {twice:>20}"
    )


def _print(summary: Summary, store: Store) -> None:
    head = (
        f"{'archive':24} {'files':>7} {'bytes':>10} {'copies':>7} {'saved':>10} "
        f"{'from other archives':>20} {'still stored twice':>20}"
    )
    print(head)
    for line in summary.archives:
        print(_row(line))
    total = summary.total()
    print(_row(total))
    print(
        f"saved {human_bytes(total.saved)} by storing {total.copies} file(s) once "
        f"({total.cross_copies} across archives, {human_bytes(total.cross_saved)})"
    )
    if store.remote:
        print(
            f"S3: {total.copied} server-side cop(ies) recorded; S3 bills every object, so "
            f"{human_bytes(total.twice_bytes)} in {total.twice} duplicate object(s) is what a "
            "content-addressed layout would save (nothing to free with --apply)"
        )
    elif total.twice:
        print(
            f"{total.twice} separate cop(ies) of identical bytes ({human_bytes(total.twice_bytes)})"
            " are still stored: capture storage dedup --apply links them"
        )


def _print_applied(
    applied: Applied, store: Store, free: tuple[int | None, int | None] | None
) -> None:
    if store.remote:
        print("--apply: nothing to free on S3 (every object is billed)")
        return
    print(
        f"--apply: linked {applied.linked} file(s) in {applied.groups} group(s), freed "
        f"{human_bytes(applied.freed)}; recorded {applied.recorded} link(s) made earlier"
    )
    if free and free[0] is not None and free[1] is not None:
        delta = free[1] - free[0]
        sign = "+" if delta >= 0 else "-"
        print(
            f"disk free: {human_bytes(free[1])} ({sign}{human_bytes(abs(delta))}; other "
            "writers on the filesystem count too)"
        )
    for d in applied.declined:
        print(f"LEFT ALONE {d['path']}: not the catalog's bytes or no link possible")
    if applied.declined:
        print("capture verify --full says which stored bytes differ from the catalog")
