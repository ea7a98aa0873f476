"""Scrapy add-ons: settings adjustments that depend on the final (command line, per-spider)
settings, which a settings module cannot see."""

from __future__ import annotations

from scrapy.settings import Settings

#: Components that Scrapy lists by default and that find out they are off only after their
#: module is imported, by the base setting that lists them: the remote control imports
#: aiohttp (~0.19 s of every crawl's start), the cookies middleware tldextract, requests and
#: urllib3 (~0.06 s; capture's file requests never carry cookies, COOKIES_ENABLED is off).
_SWITCHED: dict[str, tuple[str, str]] = {
    "REMOTE_CONTROL_ENABLED": ("EXTENSIONS_BASE", "scrapy.extensions.remote_control.RemoteControl"),
    "TELNETCONSOLE_ENABLED": ("EXTENSIONS_BASE", "scrapy.extensions.telnet.TelnetConsole"),
    "COOKIES_ENABLED": (
        "DOWNLOADER_MIDDLEWARES_BASE",
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    ),
}


class LeanStart:
    """Leave out components whose enabling setting is off (capture/settings.py turns the
    control ports and cookies off); setting the flag back on brings the component back."""

    def update_settings(self, settings: Settings) -> None:
        for flag, (base_name, path) in _SWITCHED.items():
            if not settings.getbool(flag):
                # Off the base list, not set to None: merging a component dict with its base
                # imports every class named in either to normalise the keys.
                base = settings[base_name]
                if path in base:
                    base.delete(path, priority="addon")
