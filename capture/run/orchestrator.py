"""Drive a whole round in one process: one Scrapy crawler per spider, domains started in
priority order with at most ``max_concurrent_domains`` at a time, budgets shared by all.

Built on Scrapy's own machinery: a :class:`~scrapy.crawler.CrawlerProcess` whose crawlers get
per-spider settings at ``cmdline`` priority (run options, then the config's
``spider_settings``), ``JOBDIR`` under ``checkpoints/<run_id>/<spider>``, FEEDS manifests per
run, and Scrapy's graceful Ctrl-C. After the reactor stops, the run writes its summary,
reports and the software_ops bundle.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future
from twisted.internet.defer import Deferred, DeferredList, DeferredSemaphore
from twisted.python.failure import Failure

from capture import budget as budget_mod
from capture.catalog import Catalog, catalog_url_for
from capture.catalog.store import utcnow
from capture.config import CaptureSettings, SettingsError, check_settings
from capture.context import CrawlServices
from capture.domains import spiders_of
from capture.outcomes import crawl_outcome, crawler_stats, exit_code_for, is_disk_full
from capture.project import project_settings
from capture.run import verdict
from capture.run.config import ConfigError, RunOptions
from capture.run.progress import RunProgress
from capture.run.state import RunState
from capture.runids import new_run_id
from capture.status import status_counts
from feeds import DEFAULT_FEED_TEMPLATE

if TYPE_CHECKING:
    from spiders.base import CaptureSpider

logger = logging.getLogger(__name__)
LOG_NAME = "first_round_data_capture.log"


class RoundProcess(CrawlerProcess):
    """A CrawlerProcess whose crawlers each get their own settings overrides."""

    def __init__(self, settings: Settings, overrides: dict[str, dict[str, Any]]):
        super().__init__(settings)
        self.overrides = overrides

    def _create_crawler(self, spidercls: Any) -> Crawler:
        if isinstance(spidercls, str):
            spidercls = self.spider_loader.load(spidercls)
        settings = self.settings.copy()
        settings.setdict(self.overrides.get(spidercls.name, {}), priority="cmdline")
        init_reactor = not self._initialized_reactor
        self._initialized_reactor = True
        return Crawler(spidercls, settings, init_reactor=init_reactor)


class RoundRun:
    def __init__(self, options: RunOptions, *, resume: bool = False):
        self.options = options
        self.root = Path(options.data_dir).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_id = options.run_id or new_run_id("round1")
        options.run_id = self.run_id
        state = RunState.load(self.root, self.run_id) if resume else None
        if resume and state is None:
            raise FileNotFoundError(f"no run {self.run_id!r} under {self.root / 'checkpoints'}")
        if state is None:
            state = RunState(self.run_id, options.to_dict())
        else:
            state.resumes += 1
            state.status, state.reason, state.finished_at = "running", None, None
            for name, entry in state.spiders.items():
                if not state.spider_done(name):  # runs again: its old verdict is void
                    entry.pop("outcome", None)
                    entry.pop("why", None)
            state.options = options.to_dict()
        self.state = state
        self.progress = RunProgress(self.run_id)
        self.crawlers: dict[str, Crawler] = {}
        self.stop_reason: str | None = None

    # -- settings --------------------------------------------------------------------------
    def base_settings(self) -> Settings:
        o = self.options
        settings = project_settings().copy()
        logs = self.root / "acquisition_logs" / self.run_id
        logs.mkdir(parents=True, exist_ok=True)
        feed = o.feed_uri or str(self.root / DEFAULT_FEED_TEMPLATE)
        settings.setdict(
            {
                "CAPTURE_DATA_DIR": str(self.root),
                "CAPTURE_RUN_ID": self.run_id,
                "CAPTURE_DRY_RUN": o.dry_run,
                "CAPTURE_UPDATE": o.update and not o.dry_run,
                "CAPTURE_QUALITY_ENABLED": o.enable_quality_validation,
                "CAPTURE_QUALITY_THRESHOLD": o.quality_threshold,
                "CAPTURE_NASA_GRADE_THRESHOLD": o.nasa_grade_threshold,
                "CAPTURE_MAX_DOWNLOAD_BYTES": 0 if o.dry_run else (o.max_download_bytes or 0),
                "CAPTURE_MAX_STORAGE_BYTES": 0 if o.dry_run else (o.max_storage_bytes or 0),
                "LOG_FILE": str(self.root / LOG_NAME),
                "LOG_FILE_APPEND": True,
                "FEEDS": {feed: {"format": "jsonlines", "overwrite": False, "store_empty": True}},
            },
            priority="cmdline",
        )
        if o.notify_webhook:
            settings.set("CAPTURE_NOTIFY_WEBHOOK", o.notify_webhook, priority="cmdline")
        if o.notify_email:
            settings.set("CAPTURE_NOTIFY_EMAIL", o.notify_email, priority="cmdline")
        if not o.enable_metadata_tracking:
            pipelines = dict(settings.getdict("ITEM_PIPELINES"))
            pipelines["pipelines.inspect.InspectPipeline"] = None
            settings.set("ITEM_PIPELINES", pipelines, priority="cmdline")
        return settings

    def spider_overrides(self, process: CrawlerProcess) -> dict[str, dict[str, Any]]:
        o = self.options
        out: dict[str, dict[str, Any]] = {}
        for name in process.spider_loader.list():
            cls = process.spider_loader.load(name)
            ov: dict[str, Any] = {"JOBDIR": str(RunState.directory(self.root, self.run_id) / name)}
            if o.rate_limit_delay is not None:
                own = float((getattr(cls, "custom_settings", None) or {}).get("DOWNLOAD_DELAY", 0))
                ov["DOWNLOAD_DELAY"] = max(own, o.rate_limit_delay)
            if name in o.replicas:
                ov["CAPTURE_REPLICAS"] = list(o.replicas[name])
            ov.update(o.spider_settings.get(name, {}))
            out[name] = ov
        return out

    # -- the round -------------------------------------------------------------------------
    def plan(self) -> list[tuple[str, list[str]]]:
        """(domain, spiders to run) in priority order, after resume/real-source filters."""
        plan = []
        for domain in self.options.ordered_domains:
            names = []
            for name in spiders_of(domain):
                if self.state.spider_done(name):
                    continue
                if not self.options.enable_real_data_sources and "base_url" not in self.spider_args(
                    name
                ):
                    self.state.spiders[name] = {
                        "domain": domain,
                        "finish_reason": "skipped",
                        "outcome": "skipped",
                        "why": "enable_real_data_sources is false and no base_url mirror was given",
                    }
                    continue
                names.append(name)
            plan.append((domain, names))
        return plan

    def spider_args(self, name: str) -> dict[str, Any]:
        """The spider's ``-a`` arguments: the config's ``spider_args``, with the run's mirror
        map (``mirrors``: spider or archive name -> base_url) as ``base_url``."""
        args = dict(self.options.spider_args.get(name, {}))
        mirror = self.options.mirrors.get(name)
        if mirror and "base_url" not in args:
            args["base_url"] = mirror
        return args

    def check_spider_args(self, process: CrawlerProcess) -> None:
        """The arguments of every planned spider and of every spider the config names,
        checked before anything starts (one line on error)."""
        from spiders.params import SpiderArgumentError

        known = set(process.spider_loader.list())
        for name in [*self.options.spider_args, *self.options.mirrors, *self.options.replicas]:
            if name not in known:
                raise ConfigError(
                    f"spider_args/mirrors/replicas name unknown spider {name!r} "
                    f"(known: {', '.join(sorted(known))})"
                )
        planned = [n for _domain, names in self.plan() for n in names]
        for name in dict.fromkeys([*planned, *self.options.spider_args, *self.options.mirrors]):
            cls = cast("type[CaptureSpider]", process.spider_loader.load(name))
            try:
                cls.check_args(self.spider_args(name))
                if name in self.options.replicas:
                    entries = {"CAPTURE_REPLICAS": list(self.options.replicas[name])}
                    cls.replicas_for(CaptureSettings.from_settings(entries))
            except SpiderArgumentError as exc:
                raise ConfigError(str(exc)) from None

    def run(self) -> dict[str, Any]:
        settings = self.base_settings()
        from scrapy.utils.reactor import install_reactor

        # The reactor Scrapy asks for must be installed before anything imports the default one.
        install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
        process = RoundProcess(settings, {})
        self.check_spider_args(process)
        try:
            check_settings(settings)
        except SettingsError as exc:
            raise ConfigError(str(exc)) from None
        self._save_state()
        process.overrides = self.spider_overrides(process)
        from twisted.internet import reactor

        def drive() -> None:
            d = deferred_from_coro(self._drive(process))
            d.addErrback(lambda f: logger.error("Run driver failed: %s", f.getTraceback()))
            d.addBoth(lambda _: reactor.stop() if reactor.running else None)

        reactor.callWhenRunning(drive)
        process.start(stop_after_crawl=False)
        return self.finish()

    async def _drive(self, process: CrawlerProcess) -> None:
        self.progress.start()
        semaphore = DeferredSemaphore(self.options.max_concurrent_domains)
        jobs = [
            semaphore.run(self._run_domain, process, domain, names) for domain, names in self.plan()
        ]
        await maybe_deferred_to_future(DeferredList(jobs, consumeErrors=True))
        self.progress.stop()

    def _run_domain(self, process: CrawlerProcess, domain: str, names: list[str]) -> Deferred[None]:
        return deferred_from_coro(self._domain(process, domain, names))

    async def _domain(self, process: CrawlerProcess, domain: str, names: list[str]) -> None:
        if self.stop_reason or not names:
            for name in names:
                self.state.spiders.setdefault(name, {}).update(
                    domain=domain,
                    finish_reason="not_started",
                    outcome="skipped",
                    why=f"not started: {self.stop_reason}",
                )
            return
        logger.info("Run %s: starting domain %s (%s)", self.run_id, domain, ", ".join(names))
        waits = []
        for name in names:
            crawler = process.create_crawler(name)
            self.crawlers[name] = crawler
            self.progress.attach(domain, crawler)
            self.state.spiders[name] = {
                "domain": domain,
                "started_at": utcnow(),
                "finish_reason": "running",
            }
            self._save_state()
            waits.append(process.crawl(crawler, **self.spider_args(name)))
        results = await maybe_deferred_to_future(DeferredList(waits, consumeErrors=True))
        for name, (ok, value) in zip(names, results, strict=True):
            if not ok:
                failure = cast(Failure, value)  # consumeErrors: a failed crawl's Failure
                logger.error("Spider %s failed: %s", name, failure.getTraceback())
                self.state.spiders[name]["error"] = failure.getErrorMessage()
        for name in names:
            self.settle_spider(name)
        self._save_state()

    def settle_spider(self, name: str) -> None:
        """Record how one archive's crawl ended: reason, outcome and why, counts."""
        crawler = self.crawlers[name]
        entry = self.state.spiders[name]
        stats = crawler_stats(crawler)
        reason = stats.get("finish_reason")
        outcome, why = crawl_outcome(reason, stats)
        if entry.get("error") and outcome == "failed":
            why = f"the crawl crashed: {entry['error']}"
        entry.update(
            finish_reason=reason or "error",
            finished_at=utcnow(),
            outcome=outcome,
            why=why,
            counts=status_counts(stats),
        )
        if reason == "shutdown":
            self.stop_reason = "interrupted (Ctrl-C)"
        elif reason == "budget_exhausted" and not self.stop_reason:
            self.stop_reason = stats.get("capture/budget/stop_reason")
        elif reason == "disk_full" and not self.stop_reason:
            # Every later archive would fill the same disk: start none of them.
            self.stop_reason = stats.get("capture/disk_full/reason") or "the data root is full"
        log = logger.info if outcome in ("completed", "skipped") else logger.error
        log("Run %s: %s %s%s", self.run_id, name, outcome, f": {why}" if why else "")

    # -- after the reactor -----------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        from capture.reports import failures
        from capture.reports import run as run_report

        plan = [(d, list(spiders_of(d))) for d in self.options.ordered_domains]
        # Ctrl-C: Scrapy stops the reactor as soon as the running crawls have closed, before
        # the driver records them; settle those from their stats, and record what never
        # started so that --resume runs it.
        for name in self.crawlers:
            if "outcome" not in self.state.spiders.get(name, {}):
                self.settle_spider(name)
        for domain, names in plan:
            for name in names:
                self.state.spiders.setdefault(name, {}).setdefault("outcome", None)
                entry = self.state.spiders[name]
                if entry["outcome"] is None:
                    entry.update(
                        domain=domain,
                        finish_reason="not_started",
                        outcome="skipped",
                        why=f"not started: {self.stop_reason or 'the run ended before it'}",
                    )
        archives = {n: v for n, v in self.state.spiders.items() if any(n in ns for _, ns in plan)}
        interrupted = bool(self.stop_reason and "Ctrl-C" in self.stop_reason)
        status = verdict.run_status(archives, interrupted)
        if status == "finished" and self.stop_reason:
            status = "partial"  # a budget stop left archives not started
        self.state.status, self.state.reason = status, self.stop_reason or self._why(archives)
        self.state.finished_at = utcnow()
        self._save_state()
        catalog = Catalog(
            catalog_url_for(self.root, self.base_settings().get("CAPTURE_CATALOG_URL"))
        )
        try:
            budget = next(
                (b for c in self.crawlers.values() if (b := crawl_budget(c)) is not None), None
            )
            monitor_alerts = []
            for name, crawler in self.crawlers.items():
                stats = crawler_stats(crawler)
                self.state.spiders[name]["stats"] = {
                    k: v for k, v in stats.items() if k.startswith("capture/")
                }
                monitor_alerts += [
                    f"{name}: {v}"
                    for k, v in stats.items()
                    if k.startswith("capture/monitor/") and isinstance(v, str)
                ]
            settings = self.base_settings()
            alerts = verdict.alerts(
                archives,
                settings.getfloat("CAPTURE_MONITOR_MAX_QUARANTINE_RATE"),
                monitor_alerts,
            )
            summary: dict[str, Any] = {
                "run_id": self.run_id,
                "status": status,
                "exit_code": exit_code_for(status),
                "reason": self.state.reason,
                "started_at": self.state.started_at,
                "finished_at": self.state.finished_at,
                "resumes": self.state.resumes,
                "options": self.options.to_dict(),
                "budget": budget.snapshot() if budget else None,
                "domains": verdict.domain_outcomes(plan, archives),
                "spiders": self.state.spiders,
                "alerts": alerts,
                "outcomes": run_report.outcomes(catalog, self.run_id),
                "failures": failures.failure_report(catalog, self.run_id),
                "bytes_transferred": sum(
                    int(crawler_stats(c).get("capture/transfer/bytes", 0) or 0)
                    for c in self.crawlers.values()
                ),
            }
            if self.options.update and not self.options.dry_run:
                from capture.reports import diff as diff_report

                summary["changes"] = diff_report.assemble(
                    self.run_id, diff_report.load(self.root, self.run_id)
                )
            if self.options.dry_run:
                summary["plan"] = verdict.dry_run_plan(
                    [(d, [n for n in ns if n in archives]) for d, ns in plan],
                    archives,
                    self.options.max_download_bytes,
                )
            if not self.options.dry_run and self.options.enable_metadata_tracking:
                from capture.catalog.links import compute_links

                try:
                    summary["links"] = compute_links(catalog, self.root, self.run_id)
                except Exception as exc:  # links are derived data: never lose the run for them
                    logger.error("Computing cross-domain links failed: %s", exc)
                    summary["links"] = {"error": str(exc)}
            try:
                self._write_reports(catalog, summary)
            except Exception as exc:
                if not is_disk_full(exc):
                    raise
                # The verdict stands (and is printed); only the files about it are missing.
                why = f"reports and the ops bundle not written: the data root is full ({exc})"
                logger.error(
                    "Run %s: %s; free some space, then --resume %s", self.run_id, why, self.run_id
                )
                summary["reports_not_written"] = why
                summary.setdefault("alerts", []).append({"kind": "disk_full", "message": why})
            notify(settings, summary)
        finally:
            catalog.close()
            budget_mod.forget(self.run_id)
        return summary

    def _save_state(self) -> None:
        """Save the run state for --resume; a full disk is said once, and is no crash (the
        catalog still knows every file, so a resume re-checks the archives instead)."""
        try:
            self.state.save(self.root)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            if not getattr(self, "_state_unsaved", False):
                self._state_unsaved = True
                logger.error(
                    "Run %s: run state not saved, the data root is full (%s); free some space: "
                    "--resume %s then re-checks every archive against the catalog",
                    self.run_id,
                    exc,
                    self.run_id,
                )

    def _write_reports(self, catalog: Any, summary: dict[str, Any]) -> None:
        """Performance samples, quality report, run report (JSON, HTML) and the software_ops
        bundle."""
        from capture import ops
        from capture.reports import run as run_report

        metrics = self.root / "performance_metrics"
        metrics.mkdir(exist_ok=True)
        (metrics / f"{self.run_id}.json").write_text(
            json.dumps({"run_id": self.run_id, "samples": self.progress.samples}, indent=2)
        )
        if self.options.enable_quality_validation and not self.options.dry_run:
            from capture.reports.quality import write_report

            write_report(
                catalog,
                self.root,
                self.run_id,
                (self.options.quality_threshold, self.options.nasa_grade_threshold),
            )
        json_path, html_path = run_report.write(self.root, summary, self.progress.samples)
        summary["report"] = {"json": str(json_path), "html": str(html_path)}
        summary["ops_bundle"] = [r["path"] for r in ops.bundle(catalog, self.root, self.run_id)]
        json_path.write_text(json.dumps(summary, indent=2, default=str))

    @staticmethod
    def _why(archives: dict[str, dict[str, Any]]) -> str | None:
        """One line: which archives did not complete, by outcome (each archive's own reason
        is in its entry)."""
        by: dict[str, list[str]] = {}
        for name, a in archives.items():
            by.setdefault(a.get("outcome", "failed"), []).append(name)
        bad = [o for o in ("unreachable", "failed", "partial") if o in by]
        if not bad:
            return None
        total = len(archives)
        return "; ".join(f"{len(by[o])} of {total} archives {o}: {', '.join(by[o])}" for o in bad)


def notify(settings: Settings, summary: dict[str, Any]) -> None:
    """Alerts go to the log, the terminal (stderr) and the configured webhook."""
    import sys

    from capture.monitors import post_json

    for alert in summary["alerts"]:
        logger.error("ALERT [%s] %s", alert["kind"], alert["message"])
        print(f"ALERT [{alert['kind']}] {alert['message']}", file=sys.stderr)
    webhook = settings.get("CAPTURE_NOTIFY_WEBHOOK")
    if webhook and (summary["alerts"] or summary["status"] != "finished"):
        payload = {
            "run_id": summary["run_id"],
            "status": summary["status"],
            "reason": summary["reason"],
            "alerts": summary["alerts"],
        }
        try:
            post_json(webhook, payload)
        except Exception as exc:  # the run's own record must not be lost to a webhook
            logger.warning("Webhook %s failed: %s", webhook, exc)


def crawl_budget(crawler: Crawler) -> budget_mod.Budget | None:
    """The run's budget as one crawler's services hold it (None: no limit, or the crawler
    never started)."""
    services = getattr(crawler, "capture_services", None)
    return services.budget if isinstance(services, CrawlServices) else None
