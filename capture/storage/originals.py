"""The archive's original bytes of a stored file, whatever its encoding at rest.

``capture cat``, the BagIt export and anything else that hands files to people read through
:func:`original_bytes`: it decodes what the store holds and checks, as the last chunk goes
out, that the bytes were the archive's (size and sha256 recorded at capture). Nothing is
buffered beyond one chunk.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from capture.catalog.schema import file_versions, files
from capture.status import FileStatus
from capture.storage import codec as codecs  # not imported by capture.storage itself
from capture.storage.base import Store

CHUNK = 4 << 20
SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class NotOriginal(ValueError):
    """The bytes read back are not the archive's (corrupt or lost since capture)."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where a file's bytes are and what they must decode to."""

    location: str
    codec: str | None
    size: int | None
    sha256: str | None
    archive: str
    archive_path: str
    version: int | None


def lookup(engine: Engine, key: str) -> StoredFile | None:
    """The stored file named by ``key``: a sha256 (any stored file or kept version with that
    content), the path the catalog records (relative to the data root), or where its bytes are
    stored (``<path>.zst``, ``versions/...``)."""
    f, v = files.c, file_versions.c
    names = [key, *(key[: -len(s)] for s in codecs.SUFFIXES.values() if key.endswith(s))]
    cols = (f.path, f.codec, f.size, f.sha256, f.archive, f.archive_path, f.version)
    vcols = (v.stored_at, v.codec, v.size, v.sha256, f.archive, f.archive_path, v.version)
    if SHA256.match(key):
        match: Any = f.sha256 == key.lower()
        vmatch: Any = v.sha256 == key.lower()
    else:
        match, vmatch = f.path.in_(names), v.stored_at == key
    with engine.connect() as conn:
        row = conn.execute(
            select(*cols).where(match, f.state == FileStatus.STORED.value).order_by(f.id).limit(1)
        ).first()
        if row is not None:
            path, codec = row[0], row[1]
            if SHA256.match(key) or codecs.location(path, codec) == key or path == key:
                return StoredFile(codecs.location(path, codec), *row[1:])
        vrow = conn.execute(
            select(*vcols)
            .join(files, files.c.id == v.file_id)
            .where(vmatch, v.stored_at.is_not(None))
            .order_by(v.id)
            .limit(1)
        ).first()
    return StoredFile(*vrow) if vrow is not None else None


def original_bytes(store: Store, stored: StoredFile, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """The archive's bytes, decoded from the store in chunks; raises :class:`NotOriginal` after
    the last chunk when they do not hash to the recorded sha256 and size (a consumer that
    must not keep bad bytes, like a bag, drops what it wrote)."""
    digest, size = hashlib.sha256(), 0
    for chunk in codecs.decode(store.read(stored.location, chunk_size), stored.codec):
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    if stored.size is not None and size != stored.size:
        raise NotOriginal(f"{stored.location}: {size} bytes, {stored.size} recorded")
    if stored.sha256 and digest.hexdigest() != stored.sha256.lower():
        raise NotOriginal(
            f"{stored.location}: sha256 {digest.hexdigest()}, {stored.sha256} recorded"
        )
