"""``capture quality report [RUN_ID]`` and ``capture quality rescore``."""

from __future__ import annotations

import argparse
import json

from capture.cli.common import CliError, add_data_args, data_dir, open_catalog, project_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    quality = sub.add_parser("quality", help="quality reports and re-scoring")
    qsub = quality.add_subparsers(dest="quality_command", metavar="ACTION")
    qsub.required = True

    report = qsub.add_parser("report", help="write a JSON + HTML quality report")
    report.add_argument("run_id", nargs="?", help="run to report (default: the latest run)")
    report.add_argument("--all", action="store_true", help="every scored file, any run")
    add_data_args(report)
    report.set_defaults(func=cmd_report)

    rescore = qsub.add_parser("rescore", help="re-score stored files from disk (no download)")
    rescore.add_argument("--archive", help="only this archive")
    rescore.add_argument("--quality-threshold", type=float, default=None)
    rescore.add_argument("--nasa-grade-threshold", type=float, default=None)
    rescore.add_argument(
        "--no-quarantine",
        action="store_true",
        help="record new scores but leave files where they are",
    )
    add_data_args(rescore)
    rescore.set_defaults(func=cmd_rescore)


def _thresholds(args: argparse.Namespace) -> tuple[float, float]:
    settings = project_settings()
    quality = getattr(args, "quality_threshold", None)
    nasa = getattr(args, "nasa_grade_threshold", None)
    quality = settings.getfloat("CAPTURE_QUALITY_THRESHOLD") if quality is None else quality
    nasa = settings.getfloat("CAPTURE_NASA_GRADE_THRESHOLD") if nasa is None else nasa
    for name, value in (("--quality-threshold", quality), ("--nasa-grade-threshold", nasa)):
        if not 0.0 <= value <= 1.0:
            raise CliError(f"{name} must be between 0 and 1, got {value}")
    return quality, nasa


def cmd_report(args: argparse.Namespace) -> int:
    from capture.reports.quality import latest_run, write_report

    root = data_dir(args)
    if not root.is_dir():
        raise CliError(f"data root {root} does not exist")
    catalog = open_catalog(args, root)
    run_id = None if args.all else (args.run_id or latest_run(catalog))
    json_path, html_path = write_report(catalog, root, run_id, _thresholds(args))
    print(json.dumps({"json": str(json_path), "html": str(html_path)}))
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from capture.quality.rescore import rescore

    root = data_dir(args)
    if not root.is_dir():
        raise CliError(f"data root {root} does not exist")
    quality, nasa = _thresholds(args)
    result = rescore(
        open_catalog(args, root),
        root,
        archive=args.archive,
        quality=quality,
        nasa=nasa,
        apply_quarantine=not args.no_quarantine,
    )
    print(
        json.dumps(
            {
                "rescore_run": result.run_id,
                "grades": dict(result.grades),
                "changed": result.changed,
                "missing": result.missing,
            },
            indent=2,
        )
    )
    return 0
