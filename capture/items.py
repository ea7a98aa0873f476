"""The item every spider emits: one file of an archive, on its way to the data root.

Spiders fill in what the listing knows (url, archive path, expected size and digest,
archive-specific metadata); the pipelines fill in the rest. Fields are the stable interface
read from feeds (``-O out.jsonl``); ``capture/schemas/captured_file.schema.json`` is their
contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from capture.status import FileStatus

DOMAINS: tuple[str, ...] = (
    "astronomy",
    "astrophysics",
    "spectroscopy",
    "climate_science",
    "astrobiology",
    "genomics",
    "geochemistry",
    "planetary_interior",
    "software_ops",
)


def _checksum() -> dict[str, Any]:
    return {"algorithm": None, "expected": None, "actual": None, "source": None, "verified": None}


def _http() -> dict[str, Any]:
    return {"etag": None, "last_modified": None, "final_url": None}


@dataclass(eq=False)
class CapturedFile:
    """One archive file. ``eq=False`` keeps identity hashing, so stages can key work by item."""

    archive: str
    domain: str
    url: str
    archive_path: str
    path: str = ""
    size: int | None = None
    expected_size: int | None = None
    sha256: str | None = None
    checksum: dict[str, Any] = field(default_factory=_checksum)
    format: str | None = None
    quality: dict[str, Any] | None = None
    status: str = FileStatus.DISCOVERED  # a FileStatus; plain str when read back from JSON
    run_id: str | None = None
    retrieved_at: str | None = None
    http: dict[str, Any] = field(default_factory=_http)
    spider: str | None = None
    content_type: str | None = None
    attempts: int = 0
    resumed_from: int | None = None
    bytes_transferred: int = 0
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Scrapy request priority for the file transfer (higher is fetched sooner).
    priority: int = 0
    # How to fetch when a plain GET of ``url`` is not enough (computed results such as PSG):
    # {"method": "POST", "body": "<urlencoded form>", "headers": {"Content-Type": ...}}.
    fetch: dict[str, Any] | None = None
    # The dataset citation the archive publishes for this file (capture/citation.py: doi,
    # kind, title, authors, publisher, year, version, url, identifiers, text, related, source).
    citation: dict[str, Any] | None = None
    # Where else the same file can be fetched (capture/replicas.py): [{"name", "url"}] in the
    # configured order, the spider's own URL named "origin"; None: from ``url`` only.
    replicas: list[dict[str, str]] | None = None
    # How the bytes are stored when not as fetched (compression at rest, capture/storage/
    # compress.py): {"codec", "path", "size", "sha256"} of the stored object; None: as fetched.
    stored: dict[str, Any] | None = None

    def expect_digest(self, algorithm: str, value: str, source: str) -> CapturedFile:
        """Record the publisher's digest for this file (e.g. md5 from an index file)."""
        self.checksum.update(
            {"algorithm": algorithm.lower(), "expected": value.strip().lower(), "source": source}
        )
        return self


def _plain(value: Any) -> Any:
    """A deep copy of a JSON-like value (dicts, lists, tuples, scalars)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CapturedFile))


def item_dict(item: CapturedFile) -> dict[str, Any]:
    """The item as a plain dict, deep-copied, as ``ItemAdapter(item).asdict()`` gives it.

    On the per-file hot path (validation, catalog row, final record) several times per file:
    itemadapter's generic walk asks every nested value whether it is an item of any kind, which
    cost ~0.5 ms per call on a small-file crawl; item fields only hold JSON values, so a plain
    recursive copy is enough (``tests/test_items_and_security.py`` checks both agree).
    """
    return {name: _plain(getattr(item, name)) for name in _FIELD_NAMES}
