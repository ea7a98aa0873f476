"""Parse HTML directory listings: Apache fancy indexes (``<pre>`` and ``<table>`` styles),
nginx autoindex, and plain link lists such as NASA NCCS datashare pages.

Only links to *children* of the listed directory are returned: sort links (``?C=N;O=D``),
the parent directory, absolute links elsewhere and fragments are dropped here, so a crawler
built on this can never walk upwards or loop. Sizes in listings (``4.2M``) are human-rounded
estimates and are returned as such, never as exact sizes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote, urljoin, urlsplit

from parsel import Selector

# "13-Apr-2011 15:07", "2011-04-13 15:07", "2011-04-13 15:07:45", "13-Apr-2011 15:07:45"
DATE = (
    r"(?P<date>\d{2}-[A-Za-z]{3}-\d{4} \d{2}:\d{2}(?::\d{2})?"
    r"|\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?)"
)
SIZE = r"(?P<size>\d+(?:\.\d+)?\s?[KMGTP]?i?B?|-)"
ROW_TAIL = re.compile(r"^\s*" + DATE + r"\s+" + SIZE, re.I)
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


@dataclass(frozen=True)
class IndexEntry:
    url: str
    name: str
    is_dir: bool
    size_estimate: int | None = None  # bytes, from a rounded listing size
    size_text: str | None = None
    modified: str | None = None  # ISO 8601 when the listing gave a date


def parse_size(text: str | None) -> int | None:
    if not text or text.strip() == "-":
        return None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s?([KMGTP]?)", text.strip(), re.I)
    if not m:
        return None
    return int(float(m.group(1)) * UNITS[m.group(2).upper()])


def parse_date(text: str | None) -> str | None:
    if not text:
        return None
    for fmt in ("%d-%b-%Y %H:%M", "%d-%b-%Y %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip(), fmt).isoformat()
        except ValueError:
            continue
    return None


def _normalise_dir(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


def is_child(dir_url: str, url: str) -> bool:
    """True when ``url`` lies strictly below ``dir_url`` on the same origin."""
    base, target = urlsplit(_normalise_dir(dir_url)), urlsplit(url)
    if (base.scheme, base.netloc) != (target.scheme, target.netloc):
        return False
    path = target.path
    if "/../" in path or path.endswith("/..") or "/./" in path:
        return False
    return path.startswith(base.path) and len(path) > len(base.path)


def parse_index(html: str, page_url: str) -> list[IndexEntry]:
    """Entries of a directory listing page, children only, in page order, deduplicated."""
    sel = Selector(text=html)
    dir_url = _normalise_dir(page_url)
    entries: dict[str, IndexEntry] = {}
    for a in sel.css("a[href]"):
        href = (a.attrib.get("href") or "").strip()
        if not href or href.startswith(("?", "#", "mailto:", "javascript:")):
            continue
        url = urljoin(dir_url, href).split("#", 1)[0]
        if "?" in url:
            continue  # sort links and other query pages are not files of the tree
        if not is_child(dir_url, url):
            continue
        rel = url[len(dir_url) :]
        is_dir = rel.endswith("/")
        name = unquote(rel.rstrip("/"))
        if not name or "/" in rel.rstrip("/"):
            continue  # only direct children; deeper entries are found by recursing
        size_text = modified = None
        tail = _text_after(a)
        m = ROW_TAIL.match(tail) if tail else None
        if m:
            modified, size_text = m.group("date"), m.group("size")
        else:
            cells = [c.strip() for c in a.xpath("ancestor::tr[1]/td//text()").getall() if c.strip()]
            for i, cell in enumerate(cells):
                if parse_date(cell):
                    modified = cell
                    if i + 1 < len(cells):
                        size_text = cells[i + 1]
                    break
        entry = IndexEntry(
            url=url,
            name=name,
            is_dir=is_dir,
            size_estimate=None if is_dir else parse_size(size_text),
            size_text=None if is_dir else size_text,
            modified=parse_date(modified),
        )
        entries.setdefault(url, entry)
    return list(entries.values())


def _text_after(anchor: Selector) -> str:
    """The text that follows a link on the same line (Apache ``<pre>`` and nginx listings)."""
    texts = anchor.xpath("following-sibling::text()[1]").getall()
    if not texts:
        return ""
    return texts[0].split("\n", 1)[0]


def listing_fingerprint(entries: list[IndexEntry]) -> str:
    """A short hash of what a listing shows (entry names, kinds, sizes, dates), independent of
    the directory's URL: a directory whose fingerprint equals an ancestor's is a server-side
    symlink loop (``a/b/`` -> ``a/``) even though every URL on the way is new. Empty listings
    give ``""``: empty directories are alike without being loops."""
    if not entries:
        return ""
    rows = sorted(
        f"{e.name}\0{e.is_dir:d}\0{e.size_text or ''}\0{e.modified or ''}" for e in entries
    )
    return hashlib.sha256("\n".join(rows).encode("utf-8", "surrogatepass")).hexdigest()[:16]
