"""``capture runs``, ``capture status [RUN_ID]`` and ``capture ops-bundle RUN_ID``: read the
catalog (what is done, failed, quarantined, remaining)."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from capture.catalog.schema import events, files, runs
from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.status import UNFINISHED


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("runs", help="list runs recorded in the catalog")
    add_data_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("status", help="what a run did and what remains")
    p.add_argument("run_id", nargs="?", help="default: the latest run")
    add_data_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser(
        "ops-bundle",
        help="capture a run's logs, catalog snapshot and reports as the software_ops dataset",
    )
    p.add_argument("run_id")
    add_data_args(p)
    p.set_defaults(func=cmd_ops_bundle)


def _catalog(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    root = data_dir(args)
    if not (root / "catalog.sqlite").exists() and not args.catalog_url:
        raise CliError(f"no catalog in {root} (use --data-dir or CAPTURE_DATA_DIR)")
    return root, open_catalog(args, root)


def list_runs(catalog: Any) -> list[dict[str, Any]]:
    q = (
        select(
            runs.c.run_id,
            func.min(runs.c.started_at),
            func.max(runs.c.finished_at),
            func.group_concat(runs.c.spider)
            if catalog.engine.dialect.name == "sqlite"
            else func.string_agg(runs.c.spider, ","),
            func.group_concat(runs.c.status)
            if catalog.engine.dialect.name == "sqlite"
            else func.string_agg(runs.c.status, ","),
        )
        .group_by(runs.c.run_id)
        .order_by(func.min(runs.c.started_at))
    )
    with catalog.engine.connect() as conn:
        return [
            {
                "run_id": r[0],
                "started_at": r[1],
                "finished_at": r[2],
                "spiders": sorted((r[3] or "").split(",")),
                "statuses": sorted(set((r[4] or "").split(","))),
            }
            for r in conn.execute(q)
        ]


def run_status(catalog: Any, run_id: str) -> dict[str, Any]:
    per_archive: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with catalog.engine.connect() as conn:
        q = (
            select(files.c.archive, events.c.detail)
            .join(files, files.c.id == events.c.file_id)
            .where(events.c.run_id == run_id, events.c.kind == "outcome")
        )
        for archive, detail in conn.execute(q):
            detail = detail if isinstance(detail, dict) else json.loads(detail or "{}")
            per_archive[archive][detail.get("status", "unknown")] += 1
        q = (
            select(files.c.archive, func.count())
            .where(files.c.state.in_(UNFINISHED))
            .group_by(files.c.archive)
        )
        for archive, n in conn.execute(q):
            per_archive[archive]["remaining"] += n
        spiders = [
            dict(r)
            for r in conn.execute(
                select(runs.c.spider, runs.c.status, runs.c.started_at, runs.c.finished_at).where(
                    runs.c.run_id == run_id
                )
            ).mappings()
        ]
    from capture.ops import ARCHIVE as OPS_ARCHIVE

    # The run's own ops bundle (logs, catalog snapshot, reports) is counted apart: it is not
    # archive data and must not make a run whose downloads all failed look productive.
    ops_counts = dict(per_archive.pop(OPS_ARCHIVE, {}))
    totals: dict[str, int] = defaultdict(int)
    for counts in per_archive.values():
        for k, v in counts.items():
            totals[k] += v
    return {
        "run_id": run_id,
        "spiders": spiders,
        "totals": dict(totals),
        "archives": {a: dict(c) for a, c in per_archive.items()},
        "ops_bundle": ops_counts,
    }


def round_state(root: Any, run_id: str) -> dict[str, Any] | None:
    """The round's own verdict (``capture run``), when the run was one."""
    from capture.run.state import RunState

    state = RunState.load(root, run_id)
    if state is None:
        return None
    return {
        "status": state.status,
        "reason": state.reason,
        "archives": {
            name: {"outcome": v.get("outcome"), "why": v.get("why")}
            for name, v in state.spiders.items()
        },
    }


def cmd_runs(args: argparse.Namespace) -> int:
    _, catalog = _catalog(args)
    rows = list_runs(catalog)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['run_id']:40} {r['started_at'] or '':20} {','.join(r['statuses']):20} "
                f"{' '.join(r['spiders'])}"
            )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    root, catalog = _catalog(args)
    run_id = args.run_id
    if not run_id:
        rows = list_runs(catalog)
        if not rows:
            raise CliError("the catalog records no runs yet")
        run_id = rows[-1]["run_id"]
    status = run_status(catalog, run_id)
    if not status["spiders"] and not status["totals"] and not status["ops_bundle"]:
        raise CliError(f"no run {run_id!r} in the catalog")
    verdict = round_state(root, run_id)
    if verdict is not None:
        status["round"] = verdict
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    head = f"run {run_id}"
    if verdict is not None:
        head += f" [{verdict['status']}]"
    totals = ", ".join(f"{k} {v}" for k, v in sorted(status["totals"].items())) or "no files"
    print(f"{head}: {totals}")
    if verdict is not None and verdict["reason"]:
        print(f"  why: {verdict['reason']}")
    outcomes = (verdict or {}).get("archives", {})
    names = sorted(set(status["archives"]) | set(outcomes))
    for archive in names:
        counts = status["archives"].get(archive, {})
        o = outcomes.get(archive, {})
        label = f" [{o['outcome']}]" if o.get("outcome") else ""
        line = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no files"
        why = o.get("why") if o.get("outcome") not in (None, "completed") else None
        print(f"  {archive:28}{label} {line}" + (f" ({why[:120]})" if why else ""))
    if status["ops_bundle"]:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(status["ops_bundle"].items()))
        print(f"  (the run's own ops bundle: {ops})")
    return 0


def cmd_ops_bundle(args: argparse.Namespace) -> int:
    from capture.ops import bundle

    root, catalog = _catalog(args)
    records = bundle(catalog, root, args.run_id)
    print(
        json.dumps(
            [{"path": r["path"], "size": r["size"], "sha256": r["sha256"]} for r in records],
            indent=2,
        )
    )
    return 0
