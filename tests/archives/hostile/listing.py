"""Hostile directory listings (issue 13, attack 7 and the listing gzip bomb).

* :class:`BranchingLoop`: an Apache-style autoindex where *every* directory below the mount
  lists ``a/`` and ``b/`` (and optionally one small file), to any depth, like a server-side
  symlink loop that branches. With ``distinct=True`` each level's listing differs (its file is
  named after the depth), so a loop cannot be recognised by content and only the crawl's
  request / directory bounds stop it; with ``distinct=False`` every listing is identical to
  its parent's, which content-based cycle detection must catch after a few requests.
* :func:`gzip_bomb`: an HTML listing page of ``expanded`` bytes (an Apache ``<pre>`` page whose
  body is mostly blanks) gzip-compressed about 1000:1, built once, streaming, with zlib.
* :class:`ListingBomb`: serves the bomb with ``Content-Encoding: gzip`` at a directory URL.

Every request is in ``server.log`` (see :class:`~tests.archives.server.ArchiveServer`), so
tests count listing requests from what crossed the wire.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

from tests.archives.autoindex import DATE
from tests.archives.content import Blob
from tests.archives.server import ArchiveServer, Reply, Request

HTML = "text/html;charset=UTF-8"
HEAD = (
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
    "  <title>Index of {path}</title>\n </head>\n <body>\n<h1>Index of {path}</h1>\n<pre>"
    '<img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>'
    '                    <a href="?C=M;O=A">Last modified</a>      '
    '<a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr>'
    '<img src="/icons/back.gif" alt="[PARENTDIR]"> <a href="{parent}">Parent Directory</a>'
    "                             -   \n"
)
TAIL = "<hr></pre>\n</body></html>\n"
FILE_BYTES = b"x" * 100


def _dir_line(name: str, date: str = DATE) -> str:
    return (
        f'<img src="/icons/folder.gif" alt="[DIR]" width="20" height="20"> '
        f'<a href="{name}/">{name}/</a>{" " * max(1, 24 - len(name) - 1)}{date}    -   '
    )


def _file_line(name: str, size: int) -> str:
    return (
        f'<img src="/icons/blank.gif" alt="[   ]" width="20" height="20"> '
        f'<a href="{name}">{name}</a>{" " * max(1, 27 - len(name))}{DATE}  {size}  '
    )


@dataclass
class BranchingLoop:
    """Every directory under ``mount`` lists ``a/`` and ``b/``; nothing ever ends."""

    server: ArchiveServer
    mount: str = "/grids/"
    distinct: bool = True  # each level lists a differently named file: content never repeats
    with_file: bool = True  # one small file per directory (captured as the crawl goes)

    def __post_init__(self) -> None:
        self.server.add_prefix(self.mount, self._handle)

    def _handle(self, req: Request) -> Blob | Reply:
        rel = req.path[len(self.mount) :]
        if rel and not rel.endswith("/"):
            if rel.rsplit("/", 1)[-1].startswith("file"):
                return Reply(FILE_BYTES, 200, content_type="text/plain")
            return Reply(b"", 301, {"Location": req.path + "/"}, "text/html")
        depth = rel.count("/")
        # Distinct levels differ in their subdirectories' dates too (no file needed).
        date = f"{1 + depth % 28:02d}-Apr-{2000 + depth // 28} 15:07" if self.distinct else DATE
        lines = [_dir_line("a", date), _dir_line("b", date)]
        if self.with_file:
            name = f"file-{depth}.txt" if self.distinct else "file.txt"
            lines.append(_file_line(name, len(FILE_BYTES)))
        parent = "/".join(req.path.rstrip("/").split("/")[:-1]) + "/"
        page = HEAD.format(path=req.path, parent=parent) + "\n".join(lines) + "\n" + TAIL
        return Reply(page.encode(), 200, content_type=HTML)

    def listing_requests(self) -> list[str]:
        """Paths of the directory listings requested so far (GET, below the mount)."""
        with self.server._lock:
            return [
                e.path
                for e in self.server.log
                if e.method == "GET" and e.path.startswith(self.mount) and e.path.endswith("/")
            ]


@functools.lru_cache(maxsize=4)
def gzip_bomb(expanded: int = 1024**3, block: int = 4 * 1024 * 1024) -> bytes:
    """A gzip stream of an HTML listing page ``expanded`` bytes long (mostly blanks inside
    ``<pre>``, so it is a valid page if ever fully decoded), compressed block by block so
    building a 1 GiB bomb never holds more than ``block`` bytes of plain text."""
    head = HEAD.format(path="/grids/bomb/", parent="/grids/").encode()
    tail = (_dir_line("a") + "\n" + TAIL).encode()
    gz = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [gz.compress(head)]
    blanks = b" " * block
    left = expanded - len(head) - len(tail)
    while left > 0:
        parts.append(gz.compress(blanks[: min(block, left)]))
        left -= block
    parts.append(gz.compress(tail))
    parts.append(gz.flush())
    return b"".join(parts)


@dataclass
class ListingBomb:
    """A directory at ``path`` whose listing page is a gzip bomb of ``expanded`` bytes."""

    server: ArchiveServer
    path: str = "/grids/bomb/"
    expanded: int = 1024**3

    def __post_init__(self) -> None:
        body = gzip_bomb(self.expanded)
        self.compressed = len(body)
        self.server.add(
            self.path,
            Reply(body, 200, {"Content-Encoding": "gzip"}, content_type=HTML),
        )


def serve_empty_index(server: ArchiveServer, path: str = "/grids.html") -> None:
    """An index page without links (the Kurucz spider also reads ``/grids.html``)."""
    server.add(path, Reply(b"<html><body></body></html>", 200, content_type="text/html"))
