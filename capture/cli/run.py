"""``capture run``: a whole round across domains with budgets, dry run and resume."""

from __future__ import annotations

import argparse
import json
import os
import sys

from capture.cli.common import CliError
from capture.items import DOMAINS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="run a capture round across domains",
        description="Run a capture round: every spider of the chosen domains in "
        "one process, highest priority first, with shared budgets.",
    )
    p.add_argument("--config", help="JSON config file (seed keys; flags override it)")
    p.add_argument(
        "--domains",
        nargs="+",
        choices=DOMAINS,
        metavar="DOMAIN",
        help=f"domains to run (default: all nine): {', '.join(DOMAINS)}",
    )
    p.add_argument("--max-storage-tb", type=float, help="storage cap for the data root")
    p.add_argument("--max-download-gb", type=float, help="download budget for this run")
    p.add_argument("--quality-threshold", type=float)
    p.add_argument("--nasa-grade-threshold", type=float)
    p.add_argument("--max-concurrent-domains", type=int)
    p.add_argument(
        "--rate-limit-delay", type=float, help="minimum seconds between requests to one archive"
    )
    p.add_argument("--resume", metavar="RUN_ID", help="continue this run where it stopped")
    p.add_argument("--run-id", help="name the run (default round1_<UTC time>)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="discovery only: report planned files and bytes, download nothing",
    )
    p.add_argument(
        "--feed-uri",
        help="Scrapy feed URI template for per-run manifests "
        "(placeholders %%(run_id)s %%(name)s %%(domain)s)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="data root (default: $CAPTURE_DATA_DIR, else the config's base_path, else ./data)",
    )
    p.set_defaults(func=cmd_run)


def options_from_args(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from capture.run.config import ConfigError, RunOptions, load_config, merge
    from capture.run.state import RunState

    try:
        config = load_config(args.config) if args.config else {}
        flags = {
            "domains": args.domains,
            "max_storage_tb": args.max_storage_tb,
            "max_download_gb": args.max_download_gb,
            "quality_threshold": args.quality_threshold,
            "nasa_grade_threshold": args.nasa_grade_threshold,
            "max_concurrent_domains": args.max_concurrent_domains,
            "rate_limit_delay": args.rate_limit_delay,
            "dry_run": args.dry_run,
            "feed_uri": args.feed_uri,
            "run_id": args.resume or args.run_id,
        }
        root = (
            args.data_dir
            or os.environ.get("CAPTURE_DATA_DIR")
            or config.get("base_path")
            or "./data"
        )
        flags["data_dir"] = os.path.abspath(os.path.expanduser(root))
        if args.resume:
            from pathlib import Path

            state = RunState.load(Path(flags["data_dir"]), args.resume)
            if state is None:
                raise CliError(f"no run {args.resume!r} under {flags['data_dir']}/checkpoints")
            config = {
                **{k: v for k, v in state.options.items() if k in RunOptions.__dataclass_fields__},
                **config,
            }
            config.pop("base_path", None)
        return merge(config, flags)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def cmd_run(args: argparse.Namespace) -> int:
    from capture.run.orchestrator import RoundRun

    options = options_from_args(args)
    try:
        run = RoundRun(options, resume=bool(args.resume))
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from exc
    summary = run.run()
    brief = {
        "run_id": summary["run_id"],
        "status": summary["status"],
        "reason": summary["reason"],
        "report": summary.get("report"),
        "domains": {
            d: {"files": v["files"], "bytes": v["bytes"]}
            for d, v in summary["outcomes"]["domains"].items()
        },
    }
    if options.dry_run:
        brief["planned"] = summary["outcomes"]["planned"]
    print(json.dumps(brief, indent=2))
    sys.stdout.flush()
    return 0 if summary["status"] in ("finished", "budget_exhausted") else 1
