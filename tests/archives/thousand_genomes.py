"""1000 Genomes emulator: ``/vol1/ftp/current.tree`` plus the files it lists.

``current.tree`` is produced in the real format (``path<TAB>type<TAB>size<TAB>updated<TAB>md5``,
paths relative to ``vol1/``, trailing tabs on most lines, directory lines mixed in, and the
tree's own entry under a server path ``/nfs/1000g-work/...`` as in the real file).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.archives.content import Blob
from tests.archives.server import ArchiveServer

UPDATED = "2015-09-17 16:15:09"


@dataclass
class TreeEntry:
    path: str  # relative to vol1/, e.g. "ftp/release/x.vcf.gz"
    blob: Blob | None
    kind: str = "file"
    md5: str | None = None  # override (e.g. a wrong md5); default: the blob's real md5
    size: int | None = None  # override of the listed size
    served: bool = True


@dataclass
class ThousandGenomesArchive:
    server: ArchiveServer
    entries: list[TreeEntry] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)

    def add_file(self, path: str, blob: Blob, **kw: object) -> TreeEntry:
        entry = TreeEntry(path, blob, **kw)  # type: ignore[arg-type]
        self.entries.append(entry)
        if entry.served:
            self.server.add(f"/vol1/{path}", blob)
        return entry

    def add_directory(self, path: str) -> None:
        self.entries.append(TreeEntry(path, None, kind="directory"))

    def tree_text(self) -> str:
        lines = [
            "/nfs/1000g-work/G1K/archive_staging/ftp/current.tree\tfile\t115513189\t"
            "2020-12-09 14:58:10\t83c60f0266fac94f39385f0076435c1e\t"
        ]
        for e in self.entries:
            if e.kind == "directory":
                lines.append(f"{e.path}\tdirectory\t4096\t{UPDATED}\t\t")
                continue
            assert e.blob is not None
            size = e.size if e.size is not None else e.blob.size
            md5 = e.md5 if e.md5 is not None else e.blob.md5
            lines.append(f"{e.path}\tfile\t{size}\t{UPDATED}\t{md5}\t")
        lines.extend(self.raw_lines)
        return "\n".join(lines) + "\n"

    def publish(self) -> str:
        """(Re)build current.tree from the entries; returns the archive's base URL."""
        data = self.tree_text().encode()
        self.server.add("/vol1/ftp/current.tree", Blob.of(data), content_type="text/plain")
        return self.server.base_url
