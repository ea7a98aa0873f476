"""Archive credentials, added to the bytes on the wire only, and only for their exact origin.

A spider declares where its secret goes:

* ``credentials = {"env": "MAST_API_TOKEN", "header": "Authorization", "template": "token {}"}``
* ``form_credentials = {"env": "PSG_API_KEY", "field": "key", "paths": ["/api.php"]}`` (an API
  key that travels as a url-encoded POST field)
* ``ftp_credentials = {"user": "name", "env": "ARCHIVE_FTP_PASSWORD"}`` (an FTP login; any
  spider also takes one from the settings ``CAPTURE_FTP_USER`` and ``CAPTURE_FTP_PASSWORD_ENV``
  for its ``base_url``; without one, FTP logs in anonymously)

Both may name ``"origins": ["https://host[:port]", ...]``; the default is the origin of the
spider's ``base_url``. An origin is scheme + host + port, compared exactly (RFC 6454), as
browsers and ``requests`` do for ``Authorization`` on redirects: a redirect to another port,
or from ``https`` to ``http``, gets nothing.

Why at send time: a :class:`~scrapy.Request` that carries a secret can be pickled into JOBDIR's
queue (a retry scheduled before Ctrl-C), copied by redirects and retries, or reach a feed. So the
request objects the crawl keeps never hold it: the download handler calls
:meth:`WireCredentials.for_wire` and sends a private copy; nothing else ever sees that copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from scrapy import Request

from capture.config import config_of
from capture.secrets import secret_from_env

FORM = b"application/x-www-form-urlencoded"
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin | None:
        """The origin of an http(s) or ftp URL, or None (other schemes, userinfo, bad ports)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").lower().rstrip(".")
        if scheme not in DEFAULT_PORTS or not host or "@" in parts.netloc:
            return None
        return cls(scheme, host, port or DEFAULT_PORTS[scheme])

    def __str__(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")


def origins_for(spec: dict[str, Any], base_url: str) -> frozenset[Origin]:
    """The exact origins a credential spec may be sent to (default: ``base_url``'s)."""
    urls: Iterable[str] = spec.get("origins") or [base_url]
    return frozenset(o for o in (Origin.of(u) for u in urls) if o is not None)


def same_origin(url: str, allowed: frozenset[Origin]) -> bool:
    origin = Origin.of(url)
    return origin is not None and origin in allowed


class WireCredentials:
    """Builds the copy of a request that goes on the wire, with the spider's secrets added."""

    def __init__(self, spider: Any):
        self.spider = spider
        base = getattr(spider, "base_url", "") or ""
        self.header = getattr(spider, "credentials", None) or None
        self.form = getattr(spider, "form_credentials", None) or None
        self.header_origins = origins_for(self.header, base) if self.header else frozenset()
        self.form_origins = origins_for(self.form, base) if self.form else frozenset()
        self.ftp = getattr(spider, "ftp_credentials", None) or _ftp_from_settings(spider)
        self.ftp_origins = origins_for(self.ftp, base) if self.ftp else frozenset()

    def ftp_login(self, url: str) -> tuple[str, str] | None:
        """``(user, password)`` for an ``ftp://`` URL on the credential's exact origin, else
        None (the handler then logs in anonymously). The password is masked in logs."""
        spec = self.ftp
        if not spec or not same_origin(url, self.ftp_origins):
            return None
        password = secret_from_env(spec["env"]) if spec.get("env") else None
        if not spec.get("user") or password is None:
            return None
        return str(spec["user"]), password

    def for_wire(self, request: Request) -> Request:
        """``request`` itself when nothing is to be added, else a copy carrying the secret."""
        headers = self._header(request)
        body = self._form_body(request)
        if headers is None and body is None:
            return request
        changes: dict[str, Any] = {}
        if headers is not None:
            merged = request.headers.copy()
            merged.update(headers)
            changes["headers"] = merged
        if body is not None:
            changes["body"] = body
        replaced: Request = request.replace(**changes)
        return replaced

    def _header(self, request: Request) -> dict[str, str] | None:
        spec = self.header
        if not spec or not same_origin(request.url, self.header_origins):
            return None
        value = secret_from_env(spec["env"])
        if not value:
            return None
        return {spec.get("header", "Authorization"): spec.get("template", "{}").format(value)}

    def _form_body(self, request: Request) -> bytes | None:
        spec = self.form
        if not spec or request.method != "POST":
            return None
        content_type = request.headers.get(b"Content-Type", b"") or b""
        if content_type.split(b";")[0].strip().lower() != FORM:
            return None
        if not same_origin(request.url, self.form_origins):
            return None
        paths = spec.get("paths")
        if paths and urlsplit(request.url).path not in paths:
            return None
        value = secret_from_env(spec["env"])
        if not value:
            return None
        extra = urlencode({spec.get("field", "key"): value}).encode()
        return request.body + b"&" + extra if request.body else extra


def _ftp_from_settings(spider: Any) -> dict[str, Any] | None:
    """The crawl's FTP login from ``CAPTURE_FTP_USER`` / ``CAPTURE_FTP_PASSWORD_ENV``."""
    crawler = getattr(spider, "crawler", None)
    if crawler is None:
        return None
    config = config_of(crawler)
    user, env = config.ftp_user, config.ftp_password_env
    return {"user": user, "env": env} if user and env else None
