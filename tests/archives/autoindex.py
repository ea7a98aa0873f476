"""HTML directory-listing emulator: serves a tree of files as Apache / nginx index pages.

``style="apache"`` reproduces Apache's FancyIndexing ``<pre>`` page (icons, sort links
``?C=N;O=D``, "Parent Directory", ``DD-Mon-YYYY HH:MM`` dates, human sizes such as ``4.2M``),
matching the verbatim Kurucz line in ``shared/samples/kurucz/SOURCE.md``; ``"apache-table"``
is Apache 2.4's HTMLTable variant; ``"nginx"`` is nginx's autoindex (exact sizes, ``../``).
Directory URLs without a trailing slash redirect (301) to the slash form, as Apache does.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.archives.content import Blob
from tests.archives.server import ArchiveServer, Reply, Request

DATE = "13-Apr-2011 15:07"


def human(size: int) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return (
                f"{size:.0f}"
                if unit == ""
                else (f"{size:.1f}{unit}" if size < 10 else f"{size:.0f}{unit}")
            )
        size /= 1024  # type: ignore[assignment]
    return str(size)


@dataclass
class DirectoryTree:
    server: ArchiveServer
    mount: str = "/"
    style: str = "apache"
    files: dict[str, Blob] = field(default_factory=dict)  # path below mount -> blob
    extra_links: dict[str, list[str]] = field(default_factory=dict)  # dir -> raw hrefs
    hidden_dirs: set[str] = field(default_factory=set)  # listing answers 404 (unavailable)

    def __post_init__(self) -> None:
        self.mount = "/" + self.mount.strip("/") + "/" if self.mount.strip("/") else "/"
        self.server.add_prefix(self.mount, self._handle)

    def add(self, path: str, blob: Blob) -> str:
        self.files[path.lstrip("/")] = blob
        return self.server.url(self.mount + quote(path.lstrip("/")))

    def _children(self, rel_dir: str) -> tuple[list[str], list[str]]:
        dirs, files = set(), []
        for path in self.files:
            if not path.startswith(rel_dir):
                continue
            rest = path[len(rel_dir) :]
            if "/" in rest:
                dirs.add(rest.split("/", 1)[0])
            else:
                files.append(rest)
        return sorted(dirs), sorted(files)

    def _handle(self, req: Request) -> Blob | Reply:
        rel = req.path[len(self.mount) :]
        from urllib.parse import unquote

        rel = unquote(rel)
        if rel in self.files:
            return self.files[rel]
        rel_dir = rel if rel.endswith("/") or rel == "" else rel + "/"
        dirs, files = self._children(rel_dir)
        if not dirs and not files and rel_dir not in self.extra_links:
            return Reply(
                b"<html><body><h1>Not Found</h1></body></html>", 404, content_type="text/html"
            )
        if rel and not rel.endswith("/"):
            return Reply(b"", 301, {"Location": req.path + "/"}, "text/html")
        if rel_dir.rstrip("/") in self.hidden_dirs:
            return Reply(
                b"<html><body><h1>Forbidden</h1></body></html>", 403, content_type="text/html"
            )
        page = self.render(self.mount + rel_dir, dirs, files, rel_dir)
        return Reply(page.encode(), 200, content_type="text/html;charset=UTF-8")

    def render(self, url_path: str, dirs: list[str], files: list[str], rel_dir: str) -> str:
        title = f"Index of {html.escape(url_path.rstrip('/') or '/')}"
        extra = self.extra_links.get(rel_dir, [])
        if self.style == "nginx":
            rows = ['<a href="../">../</a>']
            rows += [
                f'<a href="{quote(d)}/">{html.escape(d)}/</a>{" " * 40}01-Jan-2024 12:00{" " * 19}-'
                for d in dirs
            ]
            rows += [
                f'<a href="{quote(f)}">{html.escape(f)}</a>{" " * 40}01-Jan-2024 12:00'
                f"{self.files[rel_dir + f].size:>20}"
                for f in files
            ]
            rows += [f'<a href="{h}">{html.escape(h)}</a>' for h in extra]
            return (
                f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<h1>{title}</h1>"
                f"<hr><pre>{chr(10).join(rows)}\n</pre><hr></body>\r\n</html>\r\n"
            )
        parent = "/".join(url_path.rstrip("/").split("/")[:-1]) + "/"
        if self.style == "apache-table":
            rows = [
                f'<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
                f'<td><a href="{parent}">Parent Directory</a></td><td>&nbsp;</td>'
                f'<td align="right">  - </td><td>&nbsp;</td></tr>'
            ]
            rows += [
                f'<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td>'
                f'<td><a href="{quote(d)}/">{html.escape(d)}/</a></td>'
                f'<td align="right">2011-04-13 15:07  </td><td align="right">  - </td>'
                f"<td>&nbsp;</td></tr>"
                for d in dirs
            ]
            rows += [
                f'<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td>'
                f'<td><a href="{quote(f)}">{html.escape(f)}</a></td>'
                f'<td align="right">2011-04-13 15:07  </td>'
                f'<td align="right">{human(self.files[rel_dir + f].size)}</td>'
                f"<td>&nbsp;</td></tr>"
                for f in files
            ]
            rows += [
                f'<tr><td></td><td><a href="{h}">{html.escape(h)}</a></td></tr>' for h in extra
            ]
            head = (
                '<tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>'
                '<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a>'
                '</th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description'
                "</a></th></tr>"
            )
            return (
                f'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
                f"  <title>{title}</title>\n </head>\n <body>\n<h1>{title}</h1>\n  <table>\n"
                f"   {head}\n   " + "\n".join(rows) + "\n</table>\n</body></html>\n"
            )
        lines = [
            '<img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>'
            '                    <a href="?C=M;O=A">Last modified</a>      '
            '<a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr>'
            f'<img src="/icons/back.gif" alt="[PARENTDIR]"> <a href="{parent}">Parent '
            "Directory</a>                             -   "
        ]
        for d in dirs:
            name = f"{d}/"
            lines.append(
                f'<img src="/icons/folder.gif" alt="[DIR]" width="20" height="20"> '
                f'<a href="{quote(d)}/">{html.escape(name)}</a>'
                f"{' ' * max(1, 24 - len(name))}{DATE}    -   "
            )
        for f in files:
            lines.append(
                f'<img src="/icons/blank.gif" alt="[   ]" width="20" height="20"> '
                f'<a href="{quote(f)}">{html.escape(f)}</a>'
                f"{' ' * max(1, 27 - len(f))}{DATE}  "
                f"{human(self.files[rel_dir + f].size)}  "
            )
        lines += [f'<a href="{h}">{html.escape(h)}</a>' for h in extra]
        return (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
            f"  <title>{title}</title>\n </head>\n <body>\n<h1>{title}</h1>\n<pre>"
            + "\n".join(lines)
            + "\n<hr></pre>\n</body></html>\n"
        )
