"""Host allow-lists: requests and listing entries may only go to their archive's hosts."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21}
#: Ports an allow-list entry without a port admits, per scheme.
STANDARD_PORTS = {"http": (80, 443), "https": (80, 443), "ftp": (21,)}


def host_allowed(url: str, allowed: Iterable[str]) -> bool:
    """``allowed`` holds ``host``, ``host:port`` or ``.domain`` (any subdomain) entries.

    An open cloud replica ``s3://bucket/key`` is allowed only by the entry ``s3://bucket``
    (a bucket is no host: naming it explicitly keeps ``stpubdata`` from matching a web host).
    Otherwise only http(s) and ftp URLs with a host are ever allowed; userinfo in a URL
    (``user@host``) is refused because it is a classic way to smuggle another host past naive
    checks. An entry without a port admits the scheme's standard ports only (80 and 443 for the
    web: the archive's http-to-https redirects; 21 for ftp), never another port of the same
    host (another service, perhaps another owner).
    Credentials use the stricter same-origin rule of :mod:`capture.credentials`.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return False
    if parts.scheme == "s3":
        bucket = parts.netloc.lower()
        return (
            bool(bucket)
            and "@" not in bucket
            and f"s3://{bucket}" in {e.lower().strip().rstrip("/") for e in allowed}
        )
    if parts.scheme not in DEFAULT_PORTS or not host or "@" in parts.netloc:
        return False
    default_port = DEFAULT_PORTS[parts.scheme]
    web_port = (port or default_port) in STANDARD_PORTS[parts.scheme]
    for entry in allowed:
        entry = entry.lower().strip()
        if not entry:
            continue
        if entry.startswith("."):
            if web_port and (host.endswith(entry) or host == entry[1:]):
                return True
            continue
        if ":" in entry and not entry.startswith("["):
            e_host, _, e_port = entry.rpartition(":")
            if host == e_host and (port or default_port) == int(e_port):
                return True
        elif host == entry and web_port:
            return True
    return False


def netloc_entry(url: str) -> str:
    """The allow-list entry for a base URL: ``host`` or ``host:port`` when a port is given."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host
