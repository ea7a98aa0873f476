"""capture.addons: the control-port extensions are left out only while they are off."""

from __future__ import annotations

import pytest
from scrapy.crawler import Crawler
from scrapy.spiders import Spider
from scrapy.utils.project import get_project_settings

REMOTE = "scrapy.extensions.remote_control.RemoteControl"
TELNET = "scrapy.extensions.telnet.TelnetConsole"


def _extension_classes(**overrides: object) -> set[str]:
    settings = get_project_settings()
    settings.setdict(overrides, priority="cmdline")
    crawler = Crawler(Spider, settings)
    crawler.addons.load_settings(crawler.settings)  # what Crawler._apply_settings does
    ext = crawler.settings.getwithbase("EXTENSIONS")
    return {path for path, order in ext.items() if order is not None}


def test_disabled_control_ports_are_not_even_imported() -> None:
    enabled = _extension_classes()
    assert REMOTE not in enabled and TELNET not in enabled
    assert "capture.extensions.CaptureRunExtension" in enabled


@pytest.mark.parametrize(
    ("flag", "path"), [("REMOTE_CONTROL_ENABLED", REMOTE), ("TELNETCONSOLE_ENABLED", TELNET)]
)
def test_turning_a_control_port_on_brings_its_extension_back(flag: str, path: str) -> None:
    assert path in _extension_classes(**{flag: True})


COOKIES = "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"


def _middleware_classes(**overrides: object) -> set[str]:
    settings = get_project_settings()
    settings.setdict(overrides, priority="cmdline")
    crawler = Crawler(Spider, settings)
    crawler.addons.load_settings(crawler.settings)
    mws = crawler.settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    return {path for path, order in mws.items() if order is not None}


def test_cookies_middleware_only_while_cookies_are_on() -> None:
    assert COOKIES not in _middleware_classes()
    assert "middlewares.guard.ArchiveHostGuardMiddleware" in _middleware_classes()
    assert COOKIES in _middleware_classes(COOKIES_ENABLED=True)
