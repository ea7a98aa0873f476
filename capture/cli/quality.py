"""``capture quality report [RUN_ID]``, ``capture quality rescore`` and
``capture quality score PATH...`` (any local file, no catalog)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.config import CaptureSettings
from capture.project import project_settings


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

    score = qsub.add_parser(
        "score",
        help="score local files (no catalog): exit 0 if all are accepted, 1 if any is quarantined",
    )
    score.add_argument("paths", nargs="+", metavar="PATH")
    score.add_argument("--format", help="declared format (default: from content and name)")
    score.add_argument("--json", action="store_true", help="a JSON array, one object a file")
    score.add_argument("--quality-threshold", type=float, default=None)
    score.add_argument("--nasa-grade-threshold", type=float, default=None)
    score.set_defaults(func=cmd_score)


def _thresholds(args: argparse.Namespace) -> tuple[float, float]:
    config = CaptureSettings.from_settings(project_settings())
    quality = getattr(args, "quality_threshold", None)
    nasa = getattr(args, "nasa_grade_threshold", None)
    quality = config.quality_threshold if quality is None else quality
    nasa = config.nasa_grade_threshold if nasa is None else nasa
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


_RUNNER: Any = None


def runner() -> Any:
    """One scorer process for the whole command: the pipeline's isolation, time limits and
    memory cap, for local files too."""
    global _RUNNER
    if _RUNNER is None:
        from capture.quality.runner import QualityRunner

        c = CaptureSettings.from_settings(project_settings())
        _RUNNER = QualityRunner(
            mode="process",
            workers=1,
            hard_factor=c.quality_hard_timeout_factor,
            grace=c.quality_hard_timeout_grace,
            memory_limit=c.quality_memory_limit,
        )
    return _RUNNER


def score_local(path: str, fmt: str | None, quality: float, nasa: float) -> dict[str, Any]:
    """Score one local file as the pipeline would, with what the file itself can tell: its
    size and sha256 (read here), its format from ``fmt``, its name and its content."""
    import hashlib
    import os

    from capture.formats import guess_format
    from capture.quality.scorers.base import ScoreContext

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    config = CaptureSettings.from_settings(project_settings())
    ctx = ScoreContext(
        path=path,
        name=os.path.basename(path),
        format=fmt or guess_format(os.path.basename(path)),
        size=os.path.getsize(path),
        sha256=digest.hexdigest(),
        budget_seconds=config.quality_time_budget,
        sample_bytes=config.quality_sample_bytes,
    )
    report = runner().score_sync(ctx, quality, nasa)
    return {
        "path": path,
        "format": report.scorer,
        "score": round(report.score, 4),
        "grade": report.grade,
        "reasons": report.reasons(limit=20),
        "checks": report.to_dict()["checks"],
    }


def cmd_score(args: argparse.Namespace) -> int:
    import os

    quality, nasa = _thresholds(args)
    missing = [p for p in args.paths if not os.path.isfile(p)]
    if missing:
        raise CliError(f"not a file: {', '.join(missing)}")
    results = [score_local(p, args.format, quality, nasa) for p in args.paths]
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    else:
        for r in results:
            print(f"{r['grade']:12} {r['score']:.4f}  {r['format']:20} {r['path']}")
            for reason in r["reasons"]:
                print(f"    {reason}")
    return 1 if any(r["grade"] == "quarantined" for r in results) else 0
