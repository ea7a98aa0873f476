"""Scrapy add-ons: settings adjustments that depend on the final (command line, per-spider)
settings, which a settings module cannot see."""

from __future__ import annotations

from scrapy.settings import Settings

#: Extensions that Scrapy lists by default and that find out they are off only after their
#: module is imported: the remote control's imports aiohttp (~0.19 s of every crawl's start).
_SWITCHED: dict[str, str] = {
    "REMOTE_CONTROL_ENABLED": "scrapy.extensions.remote_control.RemoteControl",
    "TELNETCONSOLE_ENABLED": "scrapy.extensions.telnet.TelnetConsole",
}


class LeanStart:
    """Leave out extensions whose enabling setting is off (capture/settings.py turns both
    control ports off); setting the flag back on brings the extension back."""

    def update_settings(self, settings: Settings) -> None:
        for flag, path in _SWITCHED.items():
            if not settings.getbool(flag):
                # Off the base list, not set to None: merging EXTENSIONS with its base
                # imports every class named in either to normalise the keys.
                base = settings["EXTENSIONS_BASE"]
                if path in base:
                    base.delete(path, priority="addon")
