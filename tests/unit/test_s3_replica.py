"""The open-cloud-replica pieces in process: ETag meaning, s3:// allow-list entries, URL and
key mapping, the checksum stage's ETag check, and the threaded body's back-pressure."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone

from capture.hosts import host_allowed
from capture.transfer.etag import multipart_parts, single_part_md5
from capture.transfer.result import TransferResult
from capture.transfer.s3 import parse_s3_url
from capture.transfer.s3body import ThreadedBody
from pipelines.checksum import s3_etag_note, s3_etag_problem
from spiders.mast_portal import cloud_key, path_lookup_url

MD5 = hashlib.md5(b"abc").hexdigest()


def test_single_part_etag_is_an_md5_and_a_multipart_one_never_is() -> None:
    assert single_part_md5(f'"{MD5}"') == MD5
    assert single_part_md5(f'"{MD5.upper()}"') == MD5
    assert single_part_md5(f'"{MD5}-3"') is None
    assert multipart_parts(f'"{MD5}-3"') == 3
    assert multipart_parts(f'"{MD5}"') is None
    assert single_part_md5('"0a64beb94547-2d00-v1"') is None  # an HTTP server's ETag
    assert single_part_md5(None) is None


def transfer(etag: str, md5: str, url: str = "s3://b/k") -> TransferResult:
    return TransferResult(
        part="/x.part", size=3, digests={"md5": md5, "sha256": "s"}, status=200, etag=etag,
        final_url=url,
    )  # fmt: skip


def test_checksum_compares_only_single_part_etags_of_s3_objects() -> None:
    other = hashlib.md5(b"abd").hexdigest()
    assert s3_etag_problem(transfer(f'"{MD5}"', MD5)) is None
    problem = s3_etag_problem(transfer(f'"{MD5}"', other))
    assert problem is not None and "single-part ETag" in problem and MD5 in problem
    # A multipart ETag whose hex happens to differ from the md5: never a mismatch.
    assert s3_etag_problem(transfer(f'"{other}-2"', MD5)) is None
    # An HTTP server's ETag that looks like an md5 is no S3 ETag.
    assert s3_etag_problem(transfer(f'"{other}"', MD5, url="https://h/k")) is None
    note = s3_etag_note(transfer(f'"{other}-2"', MD5))
    assert note == {"etag": f'"{other}-2"', "multipart_parts": 2, "compared_as_md5": False}


def test_a_bucket_is_allowed_only_by_its_s3_entry() -> None:
    assert host_allowed("s3://stpubdata/jwst/public/x.fits", ["mast.stsci.edu", "s3://stpubdata"])
    assert not host_allowed("s3://stpubdata/jwst/public/x.fits", ["stpubdata", ".stpubdata"])
    assert not host_allowed("s3://other/x", ["s3://stpubdata"])
    assert not host_allowed("https://stpubdata/x", ["s3://stpubdata"])
    assert not host_allowed("s3://u@stpubdata/x", ["s3://u@stpubdata", "s3://stpubdata"])


def test_s3_urls_and_mast_cloud_keys() -> None:
    assert parse_s3_url("s3://1000genomes/release/20130502/a%20b.txt") == (
        "1000genomes",
        "release/20130502/a b.txt",
    )
    for bad in ("s3://bucket", "s3:///key", "https://b/k", "s3://b/k?x=1"):
        with pytest.raises(ValueError):
            parse_s3_url(bad)
    # astroquery: path.lstrip("/") for JWST paths
    assert (
        cloud_key("/jwst/public/jw02727/L3/t/o002/f.fits") == "jwst/public/jw02727/L3/t/o002/f.fits"
    )
    assert cloud_key(None) is None and cloud_key("/") is None
    assert cloud_key("/jwst/../etc/passwd") is None
    url = path_lookup_url(
        "https://mast.stsci.edu", ["mast:JWST/product/a.fits", "mast:JWST/product/b.fits"]
    )
    assert url == (
        "https://mast.stsci.edu/api/v0.1/path_lookup/?uri=mast:JWST/product/a.fits"
        "&uri=mast:JWST/product/b.fits"
    )


class _Collector(Protocol):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.done = threading.Event()
        self.reason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.reason = reason
        self.done.set()


def _run_calls(calls: list[tuple[object, tuple[object, ...]]]) -> None:
    for fn, args in calls:
        fn(*args)  # type: ignore[operator]


def test_threaded_body_reads_ahead_at_most_its_window_and_stops_when_paused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a reactor: callFromThread is captured, so nothing is consumed and the reader
    must stop after ``window`` chunks (bounded memory, whatever the object's size)."""
    from twisted.internet import reactor

    queued: list[tuple[object, tuple[object, ...]]] = []
    lock = threading.Lock()

    def capture_call(fn: object, *args: object) -> None:
        with lock:
            queued.append((fn, args))

    monkeypatch.setattr(reactor, "callFromThread", capture_call)
    stream = io.BytesIO(b"x" * (64 * 1024 * 40))
    pool = ThreadPoolExecutor(1)
    body = ThreadedBody(stream, pool, chunk=64 * 1024, window=3)
    proto = _Collector()
    body.deliver(proto)
    time.sleep(0.5)
    assert body.read == 3 * 64 * 1024  # window reached: no more reads
    with lock:
        first, queued[:] = list(queued), []
    body.pauseProducing()
    _run_calls(first)  # the reactor consumes them: slots free, but paused
    time.sleep(0.5)
    assert body.read == 3 * 64 * 1024
    body.resumeProducing()
    deadline = time.monotonic() + 5
    while not proto.done.is_set() and time.monotonic() < deadline:
        with lock:
            batch, queued[:] = list(queued), []
        _run_calls(batch)
        time.sleep(0.01)
    assert b"".join(proto.chunks) == b"x" * (64 * 1024 * 40)
    assert proto.reason is not None and proto.reason.check(ResponseDone)
    pool.shutdown()
