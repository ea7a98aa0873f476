"""Health monitors in process: each check on hand-built stats, and the extension on a crawler
from ``get_crawler`` (no subprocess, no reactor) alerting a local webhook once per condition."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from twisted.internet import defer

import capture.monitors as mon
import capture.settings as capture_settings
from capture.monitors import (
    MONITORS,
    BudgetStopMonitor,
    CaptureHealthMonitor,
    DiskFullMonitor,
    ErrorRateMonitor,
    QuarantineRateMonitor,
    StallMonitor,
    enabled_monitors,
)

DEFAULTS = {k: getattr(capture_settings, k) for k in dir(capture_settings) if k.isupper()}


def settings(**overrides: Any) -> Settings:
    return Settings({**DEFAULTS, **overrides})


def files(stored: int = 0, failed: int = 0, quarantined: int = 0, **more: int) -> dict[str, Any]:
    counts = {"stored": stored, "failed": failed, "quarantined": quarantined, **more}
    return {f"capture/status/{k}": v for k, v in counts.items()}


# -- each monitor's check --------------------------------------------------------------------
def test_error_rate_fires_above_its_threshold_only() -> None:
    m = ErrorRateMonitor(settings(CAPTURE_MONITOR_MAX_ERROR_RATE=0.1))
    alert = m.check(files(stored=17, failed=3), now=0)
    assert alert is not None and alert.kind == "error_rate"
    assert alert.message == "3 of 20 files failed (15% > 10%)"
    assert m.check(files(stored=18, failed=2), now=0) is None  # 10% is not above 10%
    # unchanged and planned files cost no transfer: they do not dilute the rate
    assert m.check(files(stored=17, failed=3, unchanged=1000, planned=1000), now=0) is not None


def test_quarantine_rate_fires_above_its_threshold_only() -> None:
    m = QuarantineRateMonitor(settings(CAPTURE_MONITOR_MAX_QUARANTINE_RATE=0.2))
    alert = m.check(files(stored=5, quarantined=5), now=0)
    assert alert is not None and alert.kind == "quarantine_rate"
    assert alert.message == "5 of 10 files quarantined (50% > 20%)"
    assert m.check(files(stored=8, quarantined=2), now=0) is None


@pytest.mark.parametrize("cls", [ErrorRateMonitor, QuarantineRateMonitor])
def test_rates_are_quiet_before_min_files(cls: type[ErrorRateMonitor]) -> None:
    m = cls(settings(CAPTURE_MONITOR_MIN_FILES=10))
    assert m.check(files(failed=5, quarantined=4), now=0) is None  # 9 files: too few to judge
    assert m.check(files(failed=5, quarantined=5), now=0) is not None


def test_the_mission_default_error_rate_is_two_percent() -> None:
    m = ErrorRateMonitor(settings())
    assert m.max_rate == 0.02 and m.min_files == 10
    assert m.check(files(stored=97, failed=3), now=0) is not None
    assert m.check(files(stored=98, failed=2), now=0) is None


def test_stall_fires_after_its_seconds_without_progress() -> None:
    m = StallMonitor(settings(CAPTURE_MONITOR_STALL_SECONDS=900))
    busy = {"capture/transfer/bytes": 10, "item_scraped_count": 1}
    assert m.check(busy, now=1000) is None  # first look: remembers the progress
    assert m.check(busy, now=1900) is None  # exactly the limit: not yet
    alert = m.check(busy, now=1901)
    assert alert is not None and alert.kind == "stall"
    assert alert.message == "no progress for 901s (no bytes, items or responses)"
    for key in StallMonitor.PROGRESS:  # any kind of progress resets the clock
        moved = {**busy, key: int(busy.get(key, 0)) + 1}
        assert m.check(moved, now=5000) is None
        assert m.check(moved, now=5900) is None
        busy = moved
    assert not StallMonitor.at_close


def test_budget_and_disk_full_stops_fire_on_their_finish_reason() -> None:
    budget, disk = BudgetStopMonitor(settings()), DiskFullMonitor(settings())
    why = {"capture/budget/stop_reason": "download cap 5 bytes", "finish_reason": ""}
    assert budget.check({**why, "finish_reason": "finished"}, now=0) is None
    alert = budget.check({**why, "finish_reason": "budget_exhausted"}, now=0)
    assert alert == mon.Alert("budget_stop", "stopped by the run budget: download cap 5 bytes")
    full = {"finish_reason": "disk_full", "capture/disk_full/reason": "data root /d is full"}
    assert disk.check(full, now=0) == mon.Alert(
        "disk_full", "stopped, disk full: data root /d is full"
    )
    assert disk.check({"finish_reason": "disk_full"}, now=0) == mon.Alert(
        "disk_full", "stopped, disk full: disk_full"
    )
    assert disk.check({**full, "finish_reason": "budget_exhausted"}, now=0) is None
    assert not budget.periodic and budget.at_close


@pytest.mark.parametrize("name", [m.name for m in MONITORS])
def test_each_monitor_is_turned_off_by_its_setting(name: str) -> None:
    on = [m.name for m in enabled_monitors(settings())]
    assert on == ["error_rate", "quarantine_rate", "stall", "budget_stop", "disk_full"]
    for off in (False, "false", "0"):
        left = [m.name for m in enabled_monitors(settings(CAPTURE_MONITORS={name: off}))]
        assert left == [n for n in on if n != name]
    # as given on the command line: -s 'CAPTURE_MONITORS={"stall": false}'
    left = enabled_monitors(settings(CAPTURE_MONITORS=json.dumps({name: False})))
    assert name not in [m.name for m in left]


def test_monitor_switches_refuse_unknown_names_and_all_off_disables_the_extension() -> None:
    with pytest.raises(ValueError, match="stal"):
        enabled_monitors(settings(CAPTURE_MONITORS={"stal": False}))
    all_off = {m.name: False for m in MONITORS}
    with pytest.raises(NotConfigured):
        CaptureHealthMonitor.from_crawler(
            get_crawler(settings_dict=DEFAULTS | {"CAPTURE_MONITORS": all_off})
        )


# -- the extension ---------------------------------------------------------------------------
@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def inline_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """No reactor runs in this test: the webhook POST runs inline instead of in its pool."""
    monkeypatch.setattr(mon.threads, "deferToThread", defer.maybeDeferred)


def crawler(**overrides: Any) -> Crawler:
    c = get_crawler(settings_dict={**DEFAULTS, "CAPTURE_RUN_ID": "run-1", **overrides})
    c.spider = Spider(name="arc")
    return c


def test_the_extension_alerts_once_per_condition(
    webhook: tuple[str, list[dict[str, Any]]],
    inline_threads: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, received = webhook
    c = crawler(CAPTURE_NOTIFY_WEBHOOK=url, CAPTURE_MONITOR_STALL_SECONDS=0)
    ext = CaptureHealthMonitor.from_crawler(c)
    assert c.stats is not None
    for key, value in files(stored=5, failed=5, quarantined=5).items():
        c.stats.set_value(key, value)
    ext.check()  # rates fire; stall only remembers the progress
    ext.check()
    ext.check()  # the stall, once, however often the condition still holds
    c.stats.set_value("capture/budget/stop_reason", "download cap 1 bytes")
    closing = ext.spider_closed(c.spider, "budget_exhausted")
    assert isinstance(closing, defer.Deferred)  # Scrapy waits for the webhooks
    kinds = [r["kind"] for r in received]
    assert kinds == ["error_rate", "quarantine_rate", "stall", "budget_stop"]
    first = received[0]
    assert first["spider"] == "arc" and first["run_id"] == "run-1"
    assert first["message"] == "5 of 15 files failed (33% > 2%)"
    assert first["counts"] == {
        "stored": 5,
        "unchanged": 0,
        "quarantined": 5,
        "failed": 5,
        "planned": 0,
    }
    stats = c.stats.get_stats()
    assert stats["capture/monitor/alerts"] == 4
    assert stats["capture/monitor/budget_stop"] == (
        "stopped by the run budget: download cap 1 bytes"
    )
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 4 and errors[0].startswith("Health monitor [arc] error_rate: 5 of 15")


def test_a_disabled_monitor_sends_nothing(
    webhook: tuple[str, list[dict[str, Any]]], inline_threads: None
) -> None:
    url, received = webhook
    c = crawler(CAPTURE_NOTIFY_WEBHOOK=url, CAPTURE_MONITORS={"error_rate": False})
    ext = CaptureHealthMonitor.from_crawler(c)
    assert c.stats is not None
    for key, value in files(stored=5, failed=10).items():
        c.stats.set_value(key, value)
    ext.spider_closed(c.spider, "disk_full")
    assert [r["kind"] for r in received] == ["disk_full"]
    assert "capture/monitor/error_rate" not in c.stats.get_stats()


def test_a_failing_webhook_is_a_warning_and_e_mail_goes_through_scrapy_mail(
    inline_threads: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent: list[dict[str, Any]] = []

    class Mailer:
        @classmethod
        def from_crawler(cls, crawler: Crawler) -> Mailer:
            return cls()

        def send(self, **kw: Any) -> None:
            sent.append(kw)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scrapy.mail is deprecated in Scrapy 2.19
        import scrapy.mail

    monkeypatch.setattr(scrapy.mail, "MailSender", Mailer)
    c = crawler(
        CAPTURE_NOTIFY_WEBHOOK="http://127.0.0.1:9/refused", CAPTURE_NOTIFY_EMAIL="ops@example.org"
    )
    ext = CaptureHealthMonitor.from_crawler(c)
    ext.spider_closed(c.spider, "disk_full")
    assert any("Webhook failed" in r.getMessage() for r in caplog.records)
    assert len(sent) == 1 and sent[0]["to"] == ["ops@example.org"]
    assert sent[0]["subject"] == "[capture] arc: disk_full"
    assert json.loads(sent[0]["body"])["kind"] == "disk_full"
