"""Add an archive's API key to POST form bodies at request time, never to the item.

Some archives take their key as a form field (NASA PSG: ``key=<API key>`` next to ``file`` and
``type``), not as a header, so :mod:`middlewares.credentials` cannot carry it. Items, with their
``fetch`` body, are stored in the catalog and written to feeds; the key must be in neither. A
spider declares ``form_credentials = {"env": "PSG_API_KEY", "field": "key"}`` (optionally
``"paths": ["/api.php"]``, default: any path; ``"hosts"``, default: the archive's own hosts)
(the middleware is in the project's chain and does nothing for other spiders). The key is
read from the environment (and so masked in every log line by :mod:`capture.secrets`), added
only to url-encoded POST requests to those hosts, and only once per request (retries reuse the
keyed copy).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler

from capture.hosts import host_allowed
from capture.secrets import secret_from_env

DONE = "capture_form_credentials"
FORM = b"application/x-www-form-urlencoded"


class FormCredentialsMiddleware:
    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FormCredentialsMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> Request | None:
        spider = self.crawler.spider
        spec = getattr(spider, "form_credentials", None)
        if not spec or request.meta.get(DONE) or request.method != "POST":
            return None
        content_type = request.headers.get(b"Content-Type", b"") or b""
        if content_type.split(b";")[0].strip().lower() != FORM:
            return None
        hosts = spec.get("hosts") or getattr(spider, "archive_hosts", None) or []
        paths = spec.get("paths")
        if not host_allowed(request.url, hosts):
            return None
        if paths and urlsplit(request.url).path not in paths:
            return None
        value = secret_from_env(spec["env"])
        if not value:
            return None
        body = request.body
        extra = urlencode({spec.get("field", "key"): value}).encode()
        keyed = request.replace(body=body + b"&" + extra if body else extra)
        keyed.meta[DONE] = True
        # Returning a request makes Scrapy send this copy instead (through every middleware).
        return keyed
