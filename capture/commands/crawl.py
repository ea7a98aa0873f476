"""``scrapy crawl`` for capture spiders.

Scrapy's own command prints a traceback when a spider argument is bad and exits 0 whatever
happened to the files. This one checks the arguments against the spider's declared
parameters before anything starts (``error: kegg: max_entries must be a positive integer,
got 'abc'``, exit 2) and exits with the code of the crawl's outcome
(:mod:`capture.outcomes`): 0 completed or skipped, 3 partial, 4 failed or unreachable,
130 interrupted.
"""

from __future__ import annotations

import sys
from typing import Any

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from capture.outcomes import EXIT_INTERRUPTED, EXIT_USAGE, crawl_outcome
from spiders.params import SpiderArgumentError

EXIT_FOR = {"completed": 0, "skipped": 0, "partial": 3, "failed": 4, "unreachable": 4}


class Command(ScrapyCrawl):
    def process_options(self, args: list[str], opts: Any) -> None:
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
        if check is not None:
            try:
                check(dict(opts.spargs))
            except SpiderArgumentError as exc:
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(EXIT_USAGE)

    def run(self, args: list[str], opts: Any) -> None:
        if len(args) != 1:
            return super().run(args, opts)
        assert self.crawler_process
        spidercls = self.crawler_process.spider_loader.load(args[0])
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
            return None
        stats = crawler.stats.get_stats() if crawler.stats else {}
        reason = stats.get("finish_reason")
        if reason == "shutdown":
            self.exitcode = EXIT_INTERRUPTED
            return None
        outcome, why = crawl_outcome(reason, stats)
        self.exitcode = EXIT_FOR.get(outcome, 1)
        if outcome != "completed":
            print(f"{spidercls.name}: {outcome}" + (f": {why}" if why else ""), file=sys.stderr)
        return None
