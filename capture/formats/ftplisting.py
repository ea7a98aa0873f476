"""FTP directory listings as :class:`~capture.formats.autoindex.IndexEntry` rows, so a
directory-listing spider walks an ``ftp://`` tree as it walks an HTML autoindex.

Two dialects, named by the download handler in the ``X-FTP-Listing`` header of the response:

* ``MLSD`` (RFC 3659 section 7): ``fact=value;...; name`` per line, machine-readable; ``type``
  is ``file``, ``dir``, ``cdir``/``pdir`` (the directory itself and its parent, skipped) or an
  OS-specific type (symlinks, devices: skipped); ``size`` is exact, ``modify`` is UTC.
* ``LIST``: the Unix ``ls -l`` lines almost every server sends, parsed by Twisted's own
  :class:`~twisted.protocols.ftp.FTPFileListProtocol` line pattern; lines it cannot read (other
  formats, ``total N``) are skipped. Symlinks are not followed: their targets are listed where
  they live, and a link to an ancestor would loop.

Names with a ``/`` (or ``.``/``..``) are refused: an entry is always a child of its directory.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from capture.formats.autoindex import IndexEntry

HEADER = "X-FTP-Listing"
MLSD, LIST = "MLSD", "LIST"


def _child(dir_url: str, name: str, is_dir: bool) -> str | None:
    if not name or name in (".", "..") or "/" in name or any(c in name for c in "\r\n\0"):
        return None
    base = dir_url if dir_url.endswith("/") else dir_url + "/"
    return base + quote(name, safe="!$&'()*+,;=:@-._~") + ("/" if is_dir else "")


def _mlsd_time(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:14], "%Y%m%d%H%M%S").isoformat()
    except ValueError:
        return None


def parse_mlsd(text: str, dir_url: str) -> list[IndexEntry]:
    entries = []
    for line in text.splitlines():
        facts_text, sep, name = line.partition(" ")
        if not sep:
            continue
        facts = {}
        for fact in facts_text.split(";"):
            key, eq, value = fact.partition("=")
            if eq:
                facts[key.strip().lower()] = value.strip()
        kind = facts.get("type", "").lower()
        if kind not in ("file", "dir"):
            continue
        url = _child(dir_url, name, kind == "dir")
        if url is None:
            continue
        size = facts.get("size")
        exact = int(size) if size and size.isdigit() and kind == "file" else None
        entries.append(
            IndexEntry(
                url=url,
                name=name,
                is_dir=kind == "dir",
                size_estimate=exact,
                size_text=str(exact) if exact is not None else None,
                modified=_mlsd_time(facts.get("modify")),
            )
        )
    return entries


def _list_time(text: str) -> str | None:
    for fmt in ("%b %d %Y", "%b %d %H:%M"):
        try:
            when = datetime.strptime(" ".join(text.split()), fmt)
        except ValueError:
            continue
        return when.isoformat() if "%Y" in fmt else None  # no year: not a date we can give
    return None


def parse_list(text: str, dir_url: str) -> list[IndexEntry]:
    # Imported here: twisted.protocols.ftp imports the reactor, and spiders import this module
    # before Scrapy installs the asyncio reactor.
    from twisted.protocols.ftp import FTPFileListProtocol

    parser = FTPFileListProtocol()
    entries = []
    for line in text.splitlines():
        row = parser.parseDirectoryLine(line)
        if not row or row["filetype"] not in ("-", "d"):
            continue
        is_dir = row["filetype"] == "d"
        url = _child(dir_url, row["filename"], is_dir)
        if url is None:
            continue
        size = None if is_dir else int(row["size"])
        entries.append(
            IndexEntry(
                url=url,
                name=row["filename"],
                is_dir=is_dir,
                size_estimate=size,
                size_text=str(size) if size is not None else None,
                modified=_list_time(row["date"]),
            )
        )
    return entries


def parse_listing(text: str, dir_url: str, dialect: str) -> list[IndexEntry]:
    """The children of ``dir_url`` from an FTP listing in ``dialect`` (``MLSD`` or ``LIST``)."""
    if dialect.upper() == MLSD:
        return parse_mlsd(text, dir_url)
    return parse_list(text, dir_url)
