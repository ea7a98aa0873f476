"""The sidecar that binds a partial file to the server object it came from.

A ``.part`` file is only ever continued if the server still identifies the same object: the
sidecar records the ETag / Last-Modified / total length of the first response and the
*durable* offset (bytes known to be on disk after an fsync). Resumes send ``If-Range`` with
the validator, so a changed file comes back as a full ``200`` and restarts from zero instead of
being spliced (wget's and aria2's classic corruption). Written atomically (temp, fsync,
rename) so a crash never leaves a half-written journal (aria2 #790), and read, written and
removed without following symlinks (:mod:`capture.safefs`): a journal path planted as a
link must neither overwrite the link's target nor feed us a forged resume offset.

With replicas the partial is also bound to the file's identity (publisher digest + size):
another mirror may continue it (its own validators replace the first one's), and the ranges
each replica served are kept here (capture/replicas.py, capture/transfer/engine.py).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from capture import safefs

SIDECAR_SUFFIX = ".json"
FORMAT_VERSION = 1


PARTIAL_AREA = ".partial"


def sidecar_path(part: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(part)}{SIDECAR_SUFFIX}")


def trusted_base(part: str | os.PathLike[str]) -> Path:
    """The directory a part file's path is walked from without following links: the data root
    (the parent of its ``.partial`` area, resolved when the crawl starts), else ``/``. Either
    way no link between the base and the file is followed; the data root only makes error
    messages name paths relative to it."""
    path = Path(os.path.abspath(part))
    for parent in reversed(path.parents):
        if parent.name == PARTIAL_AREA:
            return parent.parent
    return safefs.ROOT


def is_strong_etag(etag: str | None) -> bool:
    return etag is not None and etag != "" and not etag.startswith(("W/", "w/"))


@dataclass
class PartialState:
    url: str
    etag: str | None
    last_modified: str | None
    length: int | None
    durable_offset: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = FORMAT_VERSION
    # With replicas (capture/replicas.py): the replica these validators are from, the file's
    # identity (publisher digest + size) the bytes are bound to, and which replica served
    # which bytes (``[[start, replica, url], ...]``), so a kill loses none of it.
    replica: str | None = None
    identity: str | None = None
    ranges: list[list[Any]] | None = None

    def if_range(self) -> str | None:
        """The validator to send in If-Range (RFC 9110 requires a strong ETag or a date)."""
        if is_strong_etag(self.etag):
            return self.etag
        return self.last_modified or None

    def resumable(self) -> bool:
        return self.if_range() is not None and self.durable_offset > 0

    def matches(self, etag: str | None, last_modified: str | None, length: int | None) -> bool:
        """True when a response describes the same server object as this sidecar."""
        if self.etag and etag and self.etag != etag:
            return False
        if self.last_modified and last_modified and self.last_modified != last_modified:
            return False
        return not (self.length is not None and length is not None and self.length != length)

    @classmethod
    def load(cls, part: str | os.PathLike[str]) -> PartialState | None:
        path = sidecar_path(part)
        try:
            data: dict[str, Any] = json.loads(safefs.read_bytes(path, trusted_base(part)))
            if data.get("version") != FORMAT_VERSION:
                return None
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None

    def save(self, part: str | os.PathLike[str]) -> None:
        self.updated_at = time.time()
        if not self.created_at:
            self.created_at = self.updated_at
        data = json.dumps(asdict(self), sort_keys=True).encode()
        safefs.write_atomic(sidecar_path(part), data, trusted_base(part))

    @staticmethod
    def remove(part: str | os.PathLike[str]) -> None:
        safefs.unlink(sidecar_path(part), trusted_base(part))
