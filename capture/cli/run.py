"""``capture run``: a whole round across domains with budgets, dry run and resume."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from capture.cli.common import CliError
from capture.items import DOMAINS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "run",
        help="run a capture round across domains",
        description="Run a capture round: every spider of the chosen domains in "
        "one process, highest priority first, with shared budgets. With no flags: the "
        "mission's first round (all nine domains, 1 TB download limit).",
        epilog="Exit codes: 0 finished (every archive completed or was skipped by design), "
        "2 bad arguments or config, 3 partial (some archives partial, failed or unreachable, "
        "or a budget stop), 4 failed (nothing completed), 130 interrupted (resume it), "
        "1 crashed.",
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
    p.add_argument(
        "--max-download-gb",
        type=float,
        help="download budget for this run (default 1024 = 1 TB; 0 for none)",
    )
    p.add_argument(
        "--mirror",
        action="append",
        default=None,
        metavar="SPIDER=URL",
        help="crawl SPIDER's archive from a mirror of its origin (repeatable)",
    )
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
        "--update",
        action="store_true",
        default=None,
        help="an update round: fetch what `capture diff` lists (new, changed, pending files; "
        "a changed file becomes a new version, the old one is kept) and mark files gone "
        "upstream retracted",
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
            "max_download_gb": (None if args.max_download_gb == 0 else args.max_download_gb),
            "quality_threshold": args.quality_threshold,
            "nasa_grade_threshold": args.nasa_grade_threshold,
            "max_concurrent_domains": args.max_concurrent_domains,
            "rate_limit_delay": args.rate_limit_delay,
            "dry_run": args.dry_run,
            "update": args.update,
            "feed_uri": args.feed_uri,
            "run_id": args.resume or args.run_id,
        }
        if args.mirror:
            mirrors = dict(config.get("mirrors") or {})
            for pair in args.mirror:
                name, sep, url = pair.partition("=")
                if not sep or not url.startswith(("http://", "https://")):
                    raise CliError(f"--mirror takes SPIDER=http(s)://host[:port], got {pair!r}")
                mirrors[name.strip()] = url.strip()
            config = {**config, "mirrors": mirrors}
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
    from capture.run.config import ConfigError
    from capture.run.orchestrator import RoundRun

    options = options_from_args(args)
    try:
        run = RoundRun(options, resume=bool(args.resume))
        summary = run.run()
    except (FileNotFoundError, ConfigError) as exc:
        raise CliError(str(exc)) from exc
    print(json.dumps(brief(summary), indent=2))
    sys.stdout.flush()
    return int(summary["exit_code"])


def brief(summary: dict[str, Any]) -> dict[str, Any]:
    """What the terminal shows: status, why, each domain's and archive's outcome, alerts."""
    data = summary["outcomes"]["domains"]
    domains = {}
    for domain, info in summary["domains"].items():
        domains[domain] = {
            "outcome": info["outcome"],
            "files": data.get(domain, {}).get("files", 0),
            "bytes": data.get(domain, {}).get("bytes", 0),
            "archives": {
                name: {
                    "outcome": outcome,
                    **(
                        {"why": summary["spiders"][name]["why"]}
                        if summary["spiders"].get(name, {}).get("why")
                        else {}
                    ),
                }
                for name, outcome in info["archives"].items()
            },
        }
    out: dict[str, Any] = {
        "run_id": summary["run_id"],
        "status": summary["status"],
        "exit_code": summary["exit_code"],
        "reason": summary["reason"],
        "report": summary.get("report"),
        "domains": domains,
        "alerts": [f"[{a['kind']}] {a['message']}" for a in summary["alerts"]],
        "failures": {
            f"{g['archive']}/{g['cause']}": g["count"] for g in summary["failures"]["groups"]
        },
    }
    if "changes" in summary:
        changes = summary["changes"]
        out["changes"] = {
            "totals": changes["totals"],
            "retracted": sum(a.get("retracted") or 0 for a in changes["archives"]),
            "diff": f"capture diff --since {summary['run_id']} lists what changed after it",
        }
    if "plan" in summary:
        plan = summary["plan"]
        out["planned"] = {k: plan[k] for k in ("files", "bytes", "unknown_size", "verdict")}
    return out
