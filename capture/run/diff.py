"""``capture diff``: a round's discovery compared with the catalog, downloading nothing.

The round machinery of :class:`~capture.run.orchestrator.RoundRun` (config, mirrors, spider
arguments and settings, domains in priority order) with ``CAPTURE_DIFF``: every spider lists
its archive, the register stage decides as an update round would without writing a file row
(capture/diff.py), and the run collects what each crawl wrote under ``diffs/<run id>/``. No
JOBDIR (a diff starts fresh each time), no run state, reports or ops bundle; the ``runs`` table
records the diff's crawls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from capture.outcomes import exit_code_for
from capture.reports import diff as diff_report
from capture.run import verdict
from capture.run.config import RunOptions
from capture.run.orchestrator import RoundRun
from capture.runids import new_run_id


class DiffRun(RoundRun):
    def __init__(
        self, options: RunOptions, spiders: list[str] | None = None, since: str | None = None
    ):
        options.run_id = options.run_id or new_run_id("diff")
        options.dry_run = True
        super().__init__(options)
        self.only = set(spiders or ())
        self.since = since
        self.earlier: list[dict[str, Any]] | None = None
        if since is not None:
            self.earlier = diff_report.load(self.root, since)
            if not self.earlier:
                raise FileNotFoundError(
                    f"no recorded diff or update run {since!r} under {self.root / 'diffs'}"
                )

    def base_settings(self) -> Settings:
        settings = super().base_settings()
        settings.setdict(
            {"CAPTURE_DIFF": True, "CAPTURE_DRY_RUN": True, "FEEDS": {}}, priority="cmdline"
        )
        return settings

    def spider_overrides(self, process: CrawlerProcess) -> dict[str, dict[str, Any]]:
        out = super().spider_overrides(process)
        for ov in out.values():
            ov.pop("JOBDIR", None)
        return out

    def plan(self) -> list[tuple[str, list[str]]]:
        plan = super().plan()
        if not self.only:
            return plan
        return [(d, [n for n in names if n in self.only]) for d, names in plan]

    def _save_state(self) -> None:
        """A diff keeps no run state (nothing to resume)."""

    def finish(self) -> dict[str, Any]:
        for name in self.crawlers:
            if "outcome" not in self.state.spiders.get(name, {}):
                self.settle_spider(name)
        archives = {n: self.state.spiders[n] for n in self.crawlers}
        interrupted = bool(self.stop_reason and "Ctrl-C" in self.stop_reason)
        status = verdict.run_status(archives, interrupted) if archives else "failed"
        reports = diff_report.load(self.root, self.run_id)
        document = diff_report.assemble(self.run_id, reports, self.since, self.earlier)
        missing = sorted(set(archives) - {r["spider"] for r in reports})
        return {
            **document,
            "status": status,
            "exit_code": exit_code_for(status),
            "not_recorded": missing,
            "data_dir": str(Path(self.root)),
        }
