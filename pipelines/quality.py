"""Stage 5b: score every verified file (see :mod:`capture.quality`) and quarantine what falls
below the quality threshold. Runs after checksum/inspect, before store; never on the reactor
thread: a small file of a pure-Python format is scored on a thread of the crawl process, any
other in a worker process (:mod:`capture.quality.runner`)."""

from __future__ import annotations

from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future

from capture.items import CapturedFile
from capture.quality.runner import QualityRunner
from capture.quality.scorers.base import ScoreContext
from capture.work import work_of
from pipelines.base import CaptureStage


class QualityPipeline(CaptureStage):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        c = self.config
        self.enabled = c.quality_enabled
        self.quality = c.quality_threshold
        self.nasa = c.nasa_grade_threshold
        self.budget = c.quality_time_budget
        self.sample_bytes = c.quality_sample_bytes
        self.plugins = dict(c.quality_plugins)
        self._runner: QualityRunner | None = None
        crawler.signals.connect(self._close, signal=signals.spider_closed)

    @property
    def runner(self) -> QualityRunner:
        if self._runner is None:
            c = self.config
            self._runner = QualityRunner(
                mode=c.quality_mode,
                workers=c.quality_workers,
                hard_factor=c.quality_hard_timeout_factor,
                grace=c.quality_hard_timeout_grace,
                io=self.ctx.io,
                memory_limit=c.quality_memory_limit,
                inline_max_bytes=c.quality_inline_max_bytes,
                idle_seconds=c.quality_worker_idle_seconds,
            )
        return self._runner

    def _close(self) -> None:
        if self._runner is not None:
            self._runner.close()

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CapturedFile):
            return item
        work = work_of(item)
        if item.status == "quarantined" and work.problems and item.quality is None:
            # Failed transport verification or inspection: score 0 with those reasons.
            item.quality = {"score": 0.0, "grade": "quarantined", "reasons": list(work.problems)}
            return item
        if not self.enabled or item.status != "discovered" or work.transfer is None:
            return item
        part, store = work.transfer.part, self.ctx.store
        remote = store.remote
        # A local part is scored in place: no thread hand-off to "copy" it (two per file).
        local = await self.ctx.io.run(store.scratch_copy, part, item.size) if remote else part
        if local is None:  # too big to fetch back from S3: transport checks only
            local = ""
        ctx = ScoreContext(
            path=local,
            name=item.archive_path,
            format=item.format,
            archive=item.archive,
            size=item.size,
            expected_size=item.expected_size,
            digest_algorithm=item.checksum.get("algorithm"),
            digest_verified=item.checksum.get("verified"),
            sha256=item.sha256,
            length_verified=work.transfer.length_verified,
            metadata=dict(item.metadata),
            budget_seconds=self.budget,
            plugins=dict(self.plugins),
            sample_bytes=self.sample_bytes,
        )
        try:
            report = await maybe_deferred_to_future(self.runner.score(ctx, self.quality, self.nasa))
        finally:
            if remote:
                await self.ctx.io.run(store.drop_scratch, local, part)
        work.quality = report
        item.quality = report.summary()
        self.inc(f"quality/grade/{report.grade}")
        runner = self.runner
        self.stats.set_value("capture/quality/scored_in_process", runner.inline_files)
        self.stats.set_value("capture/quality/scored_in_workers", runner.isolated_files)
        self.stats.set_value("capture/quality/workers_started", runner.workers_started)
        self.stats.max_value("capture/quality/checks_max", len(report.checks))
        if report.grade == "quarantined":
            item.status = "quarantined"
            work.problems = report.reasons()
            item.error = "quality below threshold: " + "; ".join(report.reasons(3))
            self.logger.warning(
                "Quarantining %s (score %.3f): %s",
                item.url,
                report.score,
                "; ".join(report.reasons(3)),
            )
        return item
