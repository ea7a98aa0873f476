"""``capture watch --every 1d``: continuous monitoring of the archives (capture/watch.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from capture.cli.common import CliError, data_dir
from capture.items import DOMAINS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "watch",
        help="run `capture diff` on a schedule; notify only when something changed or broke",
        description="Every interval, run `capture diff --json` for the chosen domains in a "
        "fresh process and compare: a new list of upstream changes is notified once "
        "(webhook and/or e-mail), a failing or partial diff once (then `recovered`), and "
        "nothing otherwise. A status.json heartbeat (state, last tick, next tick, "
        "consecutive failures) is rewritten atomically after every step for external "
        "monitors. With --update each new change is fetched by `capture run --update`.",
        epilog="Exit codes: with --max-ticks, 0 if the last tick was healthy, else the diff's "
        "code (3 partial, 4 failed); 130 when stopped by Ctrl-C or SIGTERM; 2 bad arguments.",
    )
    p.add_argument("--every", required=True, help="interval: 30s, 15m, 6h, 1d, 1w or seconds")
    p.add_argument("--domains", nargs="+", choices=DOMAINS, metavar="DOMAIN")
    p.add_argument("--spiders", nargs="+", metavar="SPIDER", help="only these spiders")
    p.add_argument("--config", help="JSON config file (as capture run)")
    p.add_argument("--mirror", action="append", default=None, metavar="SPIDER=URL")
    p.add_argument("--data-dir", default=None, help="data root (as capture run)")
    p.add_argument(
        "--update",
        action="store_true",
        help="fetch what a diff lists with `capture run --update` (retried every tick)",
    )
    p.add_argument(
        "--webhook",
        default=None,
        help="POST a JSON notification here (default: CAPTURE_NOTIFY_WEBHOOK)",
    )
    p.add_argument(
        "--email",
        default=None,
        help="mail notifications to this address through MAIL_HOST/MAIL_PORT "
        "(default: CAPTURE_NOTIFY_EMAIL)",
    )
    p.add_argument(
        "--status-file",
        default=None,
        help="heartbeat (default: <data root>/watch/status.json)",
    )
    p.add_argument("--timeout", default=None, help="give up on one diff after this long (6h)")
    p.add_argument("--max-ticks", type=int, default=None, help="stop after N ticks")
    p.set_defaults(func=cmd_watch)


def _common(args: argparse.Namespace, root: str) -> list[str]:
    out = ["--data-dir", root]
    if args.domains:
        out += ["--domains", *args.domains]
    if args.config:
        out += ["--config", args.config]
    for mirror in args.mirror or ():
        out += ["--mirror", mirror]
    return out


def cmd_watch(args: argparse.Namespace) -> int:
    from capture.config import CaptureSettings
    from capture.project import project_settings
    from capture.watch import Mail, Notifier, Watch, parse_interval

    try:
        every = parse_interval(args.every)
        timeout = parse_interval(args.timeout) if args.timeout else None
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.max_ticks is not None and args.max_ticks < 1:
        raise CliError("--max-ticks must be a positive integer")
    if args.update and args.spiders:
        raise CliError("--update runs whole domains (capture run --update); use --domains")
    settings = project_settings()
    config = CaptureSettings.from_settings(settings)
    root = data_dir(args)
    common = _common(args, str(root))
    me = [sys.executable, "-m", "capture"]
    diff = [*me, "diff", "--json", *common]
    if args.spiders:
        diff += ["--spiders", *args.spiders]
    update = [*me, "run", "--update", *common] if args.update else None
    notifier = Notifier(
        webhook=args.webhook if args.webhook is not None else config.notify_webhook,
        email=args.email if args.email is not None else config.notify_email,
        mail=Mail.from_settings(settings),
    )
    status = Path(args.status_file) if args.status_file else root / "watch" / "status.json"
    watch = Watch(
        diff,
        every,
        status,
        notifier,
        update_cmd=update,
        timeout=timeout,
        max_ticks=args.max_ticks,
    )
    print(
        f"capture watch: every {args.every}, heartbeat {watch.status_path}, "
        f"notify {'webhook ' if notifier.webhook else ''}{'email ' if notifier.email else ''}"
        f"{'(no channel: log only)' if not (notifier.webhook or notifier.email) else ''}",
        file=sys.stderr,
        flush=True,
    )
    return watch.run()
