"""Live progress of a run: per domain files and bytes done, rate and ETA.

On a terminal a rich live table; otherwise (logs, CI, scrapyd) a plain log line every
``interval`` seconds. The same samples feed ``performance_metrics/<run_id>.json``
(throughput over time).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scrapy.crawler import Crawler
from twisted.internet import task

from capture.outcomes import crawler_stats
from capture.status import FINAL_ORDER, status_counts
from capture.units import human_bytes

logger = logging.getLogger("capture.progress")


@dataclass
class DomainProgress:
    files: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes: int = 0
    expected_bytes: int = 0
    planned_bytes: int = 0


class RunProgress:
    def __init__(
        self,
        run_id: str,
        *,
        tty: bool | None = None,
        log_interval: float = 30.0,
        sample_interval: float = 5.0,
    ):
        self.run_id = run_id
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.log_interval = log_interval
        self.sample_interval = sample_interval
        self.crawlers: list[tuple[str, Crawler]] = []
        self.samples: list[dict[str, Any]] = []
        self.started = time.monotonic()
        self._last_log = 0.0
        self._last_sample = -1e9
        self._rates: dict[str, tuple[float, int]] = {}
        self._loop: task.LoopingCall | None = None
        self._live: Any = None

    def attach(self, domain: str, crawler: Crawler) -> None:
        self.crawlers.append((domain, crawler))

    # -- aggregation -----------------------------------------------------------------------
    def snapshot(self) -> dict[str, DomainProgress]:
        out: dict[str, DomainProgress] = defaultdict(DomainProgress)
        for domain, crawler in self.crawlers:
            stats = crawler_stats(crawler)
            d = out[domain]
            for s, n in status_counts(stats).items():
                d.files[s] += n
            d.bytes += int(stats.get("capture/transfer/bytes", 0) or 0)
            d.expected_bytes += int(stats.get("capture/register/expected_bytes", 0) or 0)
            d.planned_bytes += int(stats.get("capture/planned_bytes", 0) or 0)
        return out

    def rate(self, domain: str, done: int, now: float) -> float:
        prev = self._rates.get(domain)
        self._rates[domain] = (now, done)
        if prev is None or now <= prev[0]:
            return 0.0
        return max(0.0, (done - prev[1]) / (now - prev[0]))

    def tick(self, final: bool = False) -> None:
        now = time.monotonic()
        snap = self.snapshot()
        if final or now - self._last_sample >= self.sample_interval:
            self._last_sample = now
            self.samples.append(
                {
                    "t": round(now - self.started, 2),
                    "domains": {
                        d: {"bytes": p.bytes, "files": dict(p.files)} for d, p in snap.items()
                    },
                    "bytes": sum(p.bytes for p in snap.values()),
                }
            )
        rows = []
        for domain, p in snap.items():
            rate = self.rate(domain, p.bytes, now)
            remaining = max(0, p.expected_bytes - p.bytes)
            eta = remaining / rate if rate > 0 and remaining else None
            rows.append((domain, p, rate, eta))
        if self._live is not None:
            self._live.update(self._table(rows))
        elif final or now - self._last_log >= self.log_interval:
            self._last_log = now
            for domain, p, rate, eta in rows:
                logger.info(
                    "progress %s: %s; %s at %s/s%s",
                    domain,
                    ", ".join(f"{p.files[s]} {s}" for s in FINAL_ORDER),
                    human_bytes(p.bytes),
                    human_bytes(rate),
                    f", ETA {eta:.0f}s" if eta is not None else "",
                )

    def _table(self, rows: list[tuple[str, DomainProgress, float, float | None]]) -> Any:
        from rich.table import Table

        table = Table(title=f"capture run {self.run_id}", expand=False)
        for col in ("domain", *FINAL_ORDER, "bytes", "rate", "ETA"):
            table.add_column(col, justify="right" if col != "domain" else "left")
        for domain, p, rate, eta in rows:
            table.add_row(
                domain,
                *(str(p.files[s]) for s in FINAL_ORDER),
                human_bytes(p.bytes),
                f"{human_bytes(rate)}/s",
                f"{eta:.0f}s" if eta is not None else "-",
            )
        return table

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(stderr=True), refresh_per_second=2, transient=False)
            self._live.start()
        self._loop = task.LoopingCall(self.tick)
        self._loop.start(1.0, now=True)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.tick(final=True)
        if self._live is not None:
            self._live.stop()
            self._live = None
