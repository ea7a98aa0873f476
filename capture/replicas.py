"""Replicas: one archive file served by several mirrors, fetched and verified as one file.

A file's identity is its archive path plus the publisher's digest and size; its *replicas*
are the URLs it can be fetched from (``CapturedFile.replicas``: ``[{"name", "url"}]`` in the
configured order, the spider's own URL named ``origin``). This module holds what the crawl
decides about them, with no protocol in it:

* which replica a transfer starts on (:meth:`ReplicaBoard.order`): the configured order, with
  replicas that failed ``CAPTURE_REPLICA_DEMOTE_AFTER`` times in a row moved behind the others
  and replicas proven to serve wrong bytes moved last (deterministic: no throughput guessing);
* which replica the next attempt of a failed transfer goes to (:meth:`ReplicaBoard.next`);
* the identity that lets a partial file continue on another replica (:func:`identity`): only
  a publisher digest plus size, which verify the spliced whole at the end; without one a
  replica switch restarts from byte 0;
* which replica served which byte range (:func:`served_ranges`, from the partial's sidecar),
  and which replica to blame for a digest mismatch: only one whose range differs from a copy
  that verified (:func:`blame`), never a guess.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

#: The spider's own URL for a file (its base_url, or its cloud bucket with -a replica=cloud).
ORIGIN = "origin"
#: ``CAPTURE_REPLICAS`` entry standing for every replica the spider declares.
ALL_DECLARED = "all"
#: Request meta keys: the file's replicas (``[{"name", "url"}]``) and the one this attempt uses.
REPLICAS_KEY = "capture_replicas"
REPLICA_KEY = "capture_replica"
#: Request meta key: names of replicas this request chain already tried.
TRIED_KEY = "capture_replicas_tried"
SCHEMES = ("http", "https", "ftp", "s3")


class ReplicaConfigError(ValueError):
    """A ``CAPTURE_REPLICAS`` entry that names no declared replica or no usable URL."""


@dataclass(frozen=True)
class Replica:
    """A mirror: ``url`` is the prefix the file's path below the archive's replica root is
    appended to (e.g. ``https://ftp-trace.ncbi.nih.gov/1000genomes/ftp/``); empty for the
    origin, whose URL is the one the spider built."""

    name: str
    url: str = ""


def parse_entries(entries: Iterable[str], declared: Mapping[str, str]) -> list[Replica]:
    """``CAPTURE_REPLICAS`` entries (``name`` of a declared replica, ``name=url``, or ``all``)
    as replicas in the given order; ``origin`` comes first unless an entry places it."""
    out: dict[str, Replica] = {}
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        if entry == ALL_DECLARED:
            for name, url in declared.items():
                out.setdefault(name, Replica(name, url))
            continue
        name, sep, url = entry.partition("=")
        name, url = name.strip(), url.strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ReplicaConfigError(f"CAPTURE_REPLICAS: bad replica name in {entry!r}")
        if name == ORIGIN:
            if sep:
                raise ReplicaConfigError("CAPTURE_REPLICAS: origin is the spider's own URL")
            out[name] = Replica(ORIGIN)
            continue
        if not sep:
            if name not in declared:
                known = ", ".join(declared) or "none"
                raise ReplicaConfigError(
                    f"CAPTURE_REPLICAS: {name!r} is no replica this archive declares "
                    f"(declared: {known}); give name=url for another one"
                )
            url = declared[name]
        check_url(name, url)
        out[name] = Replica(name, url)
    if not out:
        return []
    replicas = list(out.values())
    if ORIGIN not in out:
        replicas.insert(0, Replica(ORIGIN))
    return replicas


def check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.netloc or "@" in parts.netloc:
        raise ReplicaConfigError(
            f"CAPTURE_REPLICAS: replica {name!r} needs an http(s), ftp or s3 URL prefix, "
            f"got {url!r}"
        )


def host_entry(url: str) -> str:
    """The host allow-list entry (capture/hosts.py) that admits a replica's URLs."""
    parts = urlsplit(url)
    if parts.scheme == "s3":
        return f"s3://{parts.netloc}"
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def identity(item_checksum: Mapping[str, Any], size: int | None) -> str | None:
    """What binds partial bytes to the file rather than to one server: the publisher's digest
    and size (both needed: the digest verifies the spliced whole, the size bounds it)."""
    algorithm, expected = item_checksum.get("algorithm"), item_checksum.get("expected")
    if not algorithm or not expected or size is None:
        return None
    return f"{algorithm}:{expected}:{size}"


# -- byte ranges --------------------------------------------------------------------------------
def add_segment(
    segments: Sequence[Sequence[Any]] | None, offset: int, name: str, url: str
) -> list[list[Any]]:
    """The sidecar's ``[[start, replica, url], ...]`` after an attempt starts at ``offset`` on
    replica ``name``: segments past the offset were truncated away."""
    kept = [list(s) for s in (segments or []) if int(s[0]) < offset]
    if not kept or kept[-1][1] != name:
        kept.append([offset, name, url])
    return kept


def served_ranges(segments: Sequence[Sequence[Any]] | None, size: int) -> list[dict[str, Any]]:
    """``[{"replica", "url", "from", "to"}]`` (``to`` exclusive) covering ``[0, size)``."""
    out: list[dict[str, Any]] = []
    starts = [s for s in (segments or []) if int(s[0]) < size]
    for i, (start, name, url) in enumerate(starts):
        end = int(starts[i + 1][0]) if i + 1 < len(starts) else size
        if end > int(start):
            out.append({"replica": name, "url": url, "from": int(start), "to": end})
    return out


def range_digests(path: str | os.PathLike[str], ranges: Sequence[Mapping[str, Any]]) -> list[str]:
    """sha256 of each range of a local file (only on the rare mismatch path: to tell later
    which replica's bytes differ from a copy that verified)."""
    out = []
    with open(path, "rb", buffering=0) as f:
        for r in ranges:
            f.seek(int(r["from"]))
            h, left = hashlib.sha256(), int(r["to"]) - int(r["from"])
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                h.update(chunk)
                left -= len(chunk)
            out.append(h.hexdigest())
    return out


def blame(
    bad_ranges: Sequence[Mapping[str, Any]], bad_digests: Sequence[str], good_digests: Sequence[str]
) -> list[str]:
    """Replicas whose bytes differ from a verified copy's same range (no verified copy: no
    blame, e.g. a publisher digest that is itself wrong)."""
    pairs = zip(bad_ranges, bad_digests, good_digests, strict=True)
    return sorted({r["replica"] for r, bad, good in pairs if bad != good})


# -- the crawl's view of its replicas ----------------------------------------------------------
@dataclass
class _Health:
    failures: int = 0  # in a row, since the last success
    bad: bool = False
    demoted: bool = False


@dataclass
class ReplicaBoard:
    """Per crawl (``CrawlServices.replicas``): which replicas failed, which are demoted, which
    served wrong bytes. Used from the reactor thread; a lock keeps it safe anyway."""

    demote_after: int = 2
    health: dict[str, _Health] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _of(self, name: str) -> _Health:
        h = self.health.get(name)
        if h is None:
            h = self.health[name] = _Health()
        return h

    def order(
        self, candidates: Sequence[Mapping[str, str]], avoid: Iterable[str] = ()
    ) -> list[dict[str, str]]:
        """The candidates best first: configured order, then demoted, then ``avoid`` (the ones
        that served a copy that did not verify), then replicas proven bad."""
        avoided = set(avoid)
        with self._lock:

            def rank(pair: tuple[int, Mapping[str, str]]) -> tuple[int, int]:
                i, c = pair
                h = self.health.get(c["name"]) or _Health()
                return (3 if h.bad else 2 if c["name"] in avoided else 1 if h.demoted else 0, i)

            return [dict(c) for _, c in sorted(enumerate(candidates), key=rank)]

    def next(
        self, candidates: Sequence[Mapping[str, str]], current: str, tried: Iterable[str]
    ) -> dict[str, str] | None:
        """Where the next attempt goes after one on ``current`` failed: the best replica not
        tried yet, else the best other than ``current``; None with a single replica."""
        ranked = [c for c in self.order(candidates) if c["name"] != current]
        seen = set(tried)
        fresh = [c for c in ranked if c["name"] not in seen]
        best = fresh or ranked
        return best[0] if best else None

    def failed(self, name: str, why: str) -> None:
        with self._lock:
            h = self._of(name)
            h.failures += 1
            if not h.demoted and h.failures >= self.demote_after:
                h.demoted = True
                logger.warning("Replica %s demoted after %d failures (%s)", name, h.failures, why)

    def succeeded(self, name: str) -> None:
        with self._lock:
            h = self._of(name)
            h.failures = 0

    def mark_bad(self, name: str) -> bool:
        """A replica served bytes that differ from a verified copy; True the first time."""
        with self._lock:
            h = self._of(name)
            first, h.bad, h.demoted = not h.bad, True, True
            return first

    def is_bad(self, name: str) -> bool:
        h = self.health.get(name)
        return bool(h and h.bad)
