"""``scrapy crawl`` for capture spiders.

Scrapy's own command prints a traceback when a spider argument is bad and exits 0 whatever
happened to the files. This one checks the arguments against the spider's declared
parameters before anything starts (``error: kegg: max_entries must be a positive integer,
got 'abc'``, exit 2) and exits with the code of the crawl's outcome
(:mod:`capture.outcomes`): 0 completed or skipped, 3 partial, 4 failed or unreachable,
130 interrupted. A crawl stopped by a full disk (reason ``disk_full``) is partial (3) when it
stored something, failed (4) when it stored nothing: never 0.

Ctrl-C and SIGTERM mean "interrupted" (130) from the moment the command parses its options:
Scrapy installs its graceful-shutdown handlers only once the reactor runs, so a signal that
arrives while the crawler is being built is recorded here and handed to Scrapy's handler as
soon as it is installed, instead of killing the process (-15) or ending as "failed" (4).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from capture.config import SettingsError, check_settings
from capture.outcomes import EXIT_INTERRUPTED, EXIT_USAGE, crawl_outcome
from spiders.params import SpiderArgumentError

EXIT_FOR = {"completed": 0, "skipped": 0, "partial": 3, "failed": 4, "unreachable": 4}
SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """The shutdown signals this process received (Ctrl-C, SIGTERM from scrapyd or systemd)."""

    received: list[int] = []

    @classmethod
    def record(cls, signum: int, _frame: FrameType | None = None) -> None:
        cls.received.append(signum)

    @classmethod
    def install_recorder(cls) -> None:
        """Until Scrapy's handlers exist, a signal is only recorded (nothing has started)."""
        for sig in SHUTDOWN_SIGNALS:
            signal.signal(sig, cls.record)

    @classmethod
    def chain_to_scrapy(cls) -> None:
        """Run after Scrapy installed its handlers (reactor startup): keep recording, and
        deliver a signal that arrived earlier to Scrapy's graceful shutdown now."""
        for sig in SHUTDOWN_SIGNALS:
            scrapy_handler = signal.getsignal(sig)
            if not callable(scrapy_handler) or scrapy_handler == cls.record:
                continue

            def chained(
                signum: int, frame: FrameType | None, handler: Any = scrapy_handler
            ) -> None:
                cls.record(signum)
                handler(signum, frame)

            signal.signal(sig, chained)
        if cls.received:
            handler = signal.getsignal(cls.received[0])
            if callable(handler):
                handler(cls.received[0], None)


class Command(ScrapyCrawl):
    def process_options(self, args: list[str], opts: Any) -> None:
        Interrupts.install_recorder()
        super().process_options(args, opts)
        if len(args) != 1:
            return
        # Runs before Scrapy sets up logging and the crawler process: a bad argument is one
        # line on stderr, nothing else.
        from scrapy.spiderloader import get_spider_loader

        assert self.settings is not None
        try:
            spidercls = get_spider_loader(self.settings).load(args[0])
        except KeyError as exc:
            raise UsageError(f"no spider named {args[0]!r}", print_help=False) from exc
        check = getattr(spidercls, "check_args", None)
        try:
            if check is not None:
                check(dict(opts.spargs))
            config = check_settings(self.settings)
            replicas_for = getattr(spidercls, "replicas_for", None)
            if replicas_for is not None:
                replicas_for(config)
        except (SpiderArgumentError, SettingsError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(EXIT_USAGE)

    def run(self, args: list[str], opts: Any) -> None:
        if len(args) != 1:
            return super().run(args, opts)
        self._run(args, opts)
        assert self.settings is not None
        if self.settings.getbool("CAPTURE_FAST_EXIT") and not getattr(opts, "profile", None):
            from capture.procexit import exit_now

            exit_now(self.exitcode)
        return None

    def _run(self, args: list[str], opts: Any) -> None:
        assert self.crawler_process
        spidercls = self.crawler_process.spider_loader.load(args[0])
        if Interrupts.received:  # stopped before anything started
            self.exitcode = EXIT_INTERRUPTED
            return None
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        from twisted.internet import reactor

        # Scrapy installs its handlers in an "after startup" trigger registered by start():
        # chain to them one reactor turn later, once they are in place.
        reactor.addSystemEventTrigger(
            "after", "startup", reactor.callLater, 0, Interrupts.chain_to_scrapy
        )
        self.crawler_process.start()
        # Twisted put the default handlers back when the reactor stopped: a SIGTERM while the
        # process winds down (thread pools, workers) is recorded, not a kill (-15).
        Interrupts.install_recorder()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return None
        stats = crawler.stats.get_stats() if crawler.stats else {}
        reason = stats.get("finish_reason")
        # No close reason and no bootstrap failure: the reactor was stopped from outside
        # before the spider could close (a signal while Twisted's own handler was installed).
        stopped = reason is None or (Interrupts.received and reason != "finished")
        if reason == "shutdown" or stopped:
            self.exitcode = EXIT_INTERRUPTED
            return None
        outcome, why = crawl_outcome(reason, stats)
        self.exitcode = EXIT_FOR.get(outcome, 1)
        if outcome != "completed":
            print(f"{spidercls.name}: {outcome}" + (f": {why}" if why else ""), file=sys.stderr)
        return None
