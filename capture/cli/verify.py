"""``capture verify``: the fixity audit (re-read stored files, compare with the catalog).

Exit codes: 0 every audited file matched and no extra file was found; 3 a problem was found
(corrupt, wrong size, missing, unreadable or extra); 4 nothing could be read at all; 2 bad
arguments; 130 interrupted (what was verified is recorded)."""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from capture.catalog.schema import files
from capture.cli.common import CliError, add_data_args, data_dir, open_catalog
from capture.config import CaptureSettings, SettingsError
from capture.fixity.audit import Options, Report, audit, now
from capture.fixity.record import Verdict
from capture.fixity.results import PROBLEMS, Result
from capture.fixity.targets import Selection
from capture.items import DOMAINS
from capture.paths import DataRoot
from capture.project import project_settings
from capture.storage import store_for
from capture.units import human_bytes

GB = 1e9
EXIT_OK, EXIT_PROBLEMS, EXIT_FAILED, EXIT_INTERRUPTED = 0, 3, 4, 130


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "verify",
        help="fixity audit: re-read stored files, compare with the catalog (bit rot, "
        "missing, extra files)",
        description="By default audits the files not verified in the last "
        "CAPTURE_VERIFY_INTERVAL_DAYS, least recently verified first.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="every stored file, however recent")
    mode.add_argument(
        "--sample", type=_fraction, metavar="P", help="a random fraction (0.05 or 5%%)"
    )
    p.add_argument("--seed", type=int, help="seed of --sample (printed; reuse to repeat)")
    p.add_argument("--since", type=_date, metavar="DATE", help="files retrieved since DATE")
    p.add_argument("--archive", help="only this archive")
    p.add_argument("--domains", nargs="+", choices=DOMAINS, metavar="DOMAIN", help="only these")
    p.add_argument(
        "--max-gb", type=_positive, metavar="GB", help="stop after about this many GB read"
    )
    p.add_argument(
        "--rate",
        type=_positive,
        metavar="MB/s",
        help="read at most this fast (default CAPTURE_VERIFY_RATE_MB; 0 there: no cap)",
    )
    p.add_argument("--no-extras", action="store_true", help="skip the walk for extra files")
    p.add_argument(
        "--deep",
        action="store_true",
        help="also decode files compressed at rest and check the archive's sha256 "
        "(stored bytes are always checked against their own sha256)",
    )
    p.add_argument(
        "--requeue",
        action="store_true",
        help="re-queue missing and quarantined files for "
        "the next crawl (capture retry --failed does it later too)",
    )
    p.add_argument("--store", help="CAPTURE_STORE to audit (default: the setting)")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    add_data_args(p)
    p.set_defaults(func=cmd_verify)


def _fraction(text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1] or (0%, 100%]: {text!r}")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _rate(text: str) -> float:
    value = _positive(text) if text.strip() not in ("0", "0.0") else 0.0
    return value


def _date(text: str) -> str:
    """An ISO date or time (UTC unless it says otherwise), as the catalog writes times."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def cmd_verify(args: argparse.Namespace) -> int:
    if args.full and args.max_gb:
        raise CliError("--full reads everything: drop --max-gb, or drop --full")
    if args.seed is not None and args.sample is None:
        raise CliError("--seed goes with --sample")
    root = data_dir(args)
    if not (root / "catalog.sqlite").exists() and not args.catalog_url:
        raise CliError(f"no catalog in {root} (use --data-dir or CAPTURE_DATA_DIR)")
    config = CaptureSettings.from_settings(project_settings())
    try:
        store = store_for(_with_store(config, args.store), DataRoot.at(root))
    except SettingsError as exc:
        raise CliError(str(exc)) from None
    catalog = open_catalog(args, root)
    options = _options(args, config, catalog.engine)
    text = not args.json
    report = audit(catalog.engine, store, options, _printer() if text else None)
    saved = _save(root, report, options)
    if text:
        _summary(report, options, saved)
    else:
        print(json.dumps({**report.to_dict(), "report": str(saved)}, indent=2))
    if report.stopped == "interrupted":
        return EXIT_INTERRUPTED
    if report.files and report.counts[Result.UNREADABLE.value] == report.files:
        return EXIT_FAILED
    return EXIT_PROBLEMS if report.problems else EXIT_OK


def _with_store(config: CaptureSettings, uri: str | None) -> CaptureSettings:
    if uri is None:
        return config
    from dataclasses import replace

    return replace(config, store=uri)


def _options(args: argparse.Namespace, config: CaptureSettings, engine: Any) -> Options:
    started = now()
    due_before = None
    partial = args.sample is not None or args.since is not None
    if not args.full and not partial and config.verify_interval_days > 0:
        cutoff = datetime.now(UTC) - timedelta(days=config.verify_interval_days)
        due_before = cutoff.isoformat(timespec="microseconds")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    archives = None
    if args.archive:
        with engine.connect() as conn:
            domain = conn.execute(
                select(files.c.domain).where(files.c.archive == args.archive).limit(1)
            ).scalar()
        if domain is None:
            raise CliError(f"no files of archive {args.archive!r} in the catalog")
        archives = {args.archive: domain}
    domains = tuple(args.domains or DOMAINS)
    selection = Selection(
        started=started,
        archive=args.archive,
        domains=tuple(args.domains or ()),
        since=args.since,
        due_before=due_before,
        sample=args.sample,
        seed=seed,
    )
    rate = args.rate if args.rate is not None else config.verify_rate_mb
    return Options(
        selection=selection,
        max_bytes=int(args.max_gb * GB) if args.max_gb else None,
        rate=rate * 1e6,
        extras=not (args.no_extras or partial),
        archives=archives,
        domains=domains,
        requeue=args.requeue,
        deep=args.deep,
    )


def _printer() -> Any:
    def show(v: Verdict) -> None:
        if v.result in PROBLEMS:
            where = f" -> {v.quarantined_at}" if v.quarantined_at else ""
            print(f"{v.result.value.upper():10} {v.target.location}  {v.finding.message}{where}")

    return show


def _save(root: Path, report: Report, options: Options) -> Path:
    """The report next to the runs' reports (reports/verify_<time>.json)."""
    out = root / "reports"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{report.audit_id}.json"
    data = report.to_dict()
    if options.selection.sample is not None:
        data["sample"] = {"fraction": options.selection.sample, "seed": options.selection.seed}
    path.write_text(json.dumps(data, indent=2))
    return path


def _summary(report: Report, options: Options, saved: Path) -> None:
    for p in report.problems:
        if p["result"] == Result.EXTRA.value:
            print(f"{'EXTRA':10} {p['location']}  {p['message']}")
    counts = " · ".join(f"{k} {n}" for k, n in sorted(report.counts.items())) or "nothing due"
    print(
        f"verified {report.files} file(s), {human_bytes(report.bytes)} in "
        f"{report.seconds:.2f} s ({report.mb_per_s:.1f} MB/s): {counts}"
    )
    sel = options.selection
    if not report.files and sel.due_before and report.stopped is None:
        print(
            f"no stored file is due (all verified since {sel.due_before[:10]}, "
            "CAPTURE_VERIFY_INTERVAL_DAYS); --full reads them anyway"
        )
    if sel.sample is not None:
        print(f"sample {sel.sample:g} with --seed {sel.seed}")
    if report.stopped == "budget":
        print("stopped at --max-gb; the next audit goes on with the least recently verified")
    elif report.stopped == "interrupted":
        print("interrupted; what was verified is recorded")
    if not report.extras_checked:
        print("extra files not looked for (--sample, --since or --no-extras)")
    if report.requeued:
        print(f"re-queued {report.requeued} file(s): the next crawl of their archive fetches them")
    elif any(p.get("file_id") for p in report.problems):
        print("capture failures --cause fixity lists them; capture verify --requeue re-queues")
    print(f"report: {saved}")
