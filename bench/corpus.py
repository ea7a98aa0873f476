"""The benchmark corpus: random files laid out like the 1000 Genomes FTP tree.

``www/vol1/ftp/bench/big/...`` and ``www/vol1/ftp/bench/small/...`` hold the files, and
``www/vol1/ftp/current.tree`` lists each of them in IGSR's real 5-field format (path relative
to ``vol1/``, ``file``, size, date, md5, trailing tab), so the real ``thousand_genomes`` spider
crawls it with ``-a prefix=ftp/bench/big`` or ``-a prefix=ftp/bench/small``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CHUNK = 8 * 1024 * 1024
SMALL_SIZE = 51200
UPDATED = "2024-01-01 00:00:00"
BIG_PREFIX = "ftp/bench/big"
SMALL_PREFIX = "ftp/bench/small"
TREE = "vol1/ftp/current.tree"


@dataclass(frozen=True)
class CorpusFile:
    """One served file: ``rel`` is relative to ``vol1/`` (``ftp/bench/...``)."""

    rel: str
    size: int
    md5: str
    sha256: str

    @property
    def url_path(self) -> str:
        return f"vol1/{self.rel}"

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    def url(self, base_url: str) -> str:
        return f"{base_url}/{self.url_path}"


@dataclass
class Corpus:
    www: Path
    big: list[CorpusFile] = field(default_factory=list)
    small: list[CorpusFile] = field(default_factory=list)

    def files(self, prefix: str) -> list[CorpusFile]:
        return self.big if prefix == BIG_PREFIX else self.small

    def summary(self) -> dict[str, Any]:
        return {
            "big": [asdict(f) for f in self.big],
            "small": {"count": len(self.small), "size_each": SMALL_SIZE},
        }


#: First bytes of the formats capture's quality stage recognises by content (gzip/BGZF, zip,
#: FITS "SIMPLE", HDF5/netCDF-4 "\x89HDF", classic netCDF "CDF", bzip2, xz, zstd, PDF).
MAGIC_FIRST_BYTES = {b"\x1f", b"P", b"S", b"\x89", b"C", b"B", b"\xfd", b"(", b"%"}


def write_random(www: Path, rel: str, size: int) -> CorpusFile:
    """Write ``size`` random bytes to ``www/vol1/<rel>`` in 8 MiB chunks, hashing (md5, sha256)
    as they are written."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    path = www / "vol1" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(CHUNK, left))
            if left == size and block[:1] in MAGIC_FIRST_BYTES:
                # Random bytes that happen to open with a known signature (gzip's 1f 8b about
                # once in 65,536 files) are scored as that format and quarantined as broken:
                # the bench would then fail verification by chance. Keep them signature-free.
                block = b"\0" + block[1:]
            md5.update(block)
            sha.update(block)
            fh.write(block)
            left -= len(block)
    return CorpusFile(rel=rel, size=size, md5=md5.hexdigest(), sha256=sha.hexdigest())


def tree_line(f: CorpusFile) -> str:
    return f"{f.rel}\tfile\t{f.size}\t{UPDATED}\t{f.md5}\t"


def generate(www: Path, *, big_mib: int | None, small_count: int | None) -> Corpus:
    """Create the corpus under ``www``; ``None`` skips a part (``--only``)."""
    ftp = www / "vol1" / "ftp"
    corpus = Corpus(www=www)
    if big_mib:
        corpus.big.append(write_random(www, f"{BIG_PREFIX}/big_{big_mib}MiB.bin", big_mib << 20))
    for i in range(small_count or 0):
        corpus.small.append(write_random(www, f"{SMALL_PREFIX}/small_{i:05d}.bin", SMALL_SIZE))
    dirs = ("ftp/bench", BIG_PREFIX, SMALL_PREFIX)
    lines = [f"{d}\tdirectory\t4096\t{UPDATED}\t\t" for d in dirs]
    lines += [tree_line(f) for f in corpus.big + corpus.small]
    (ftp / "current.tree").write_text("\n".join(lines) + "\n")
    return corpus
