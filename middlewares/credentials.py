"""Attach an archive's credentials from the environment, and only to that archive's hosts.

A spider declares ``credentials = {"env": "MAST_API_TOKEN", "header": "Authorization",
"template": "token {}"}`` (optionally ``"hosts": [...]``, default: the archive's own hosts).
The header is set on requests to those hosts and stripped from any other request (such as a
redirect to a CDN), whatever an earlier component put there.
"""

from __future__ import annotations

from scrapy import Request, Spider
from scrapy.crawler import Crawler

from capture.hosts import host_allowed
from capture.secrets import secret_from_env


class ArchiveCredentialsMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArchiveCredentialsMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        spider = self.crawler.spider
        spec = getattr(spider, "credentials", None)
        if not spec:
            return None
        header = spec.get("header", "Authorization")
        hosts = spec.get("hosts") or getattr(spider, "archive_hosts", None) or []
        value = secret_from_env(spec["env"])
        if value and host_allowed(request.url, hosts):
            request.headers[header] = spec.get("template", "{}").format(value)
        elif header in request.headers:
            del request.headers[header]
        return None
