"""What every streamed transfer shares, whatever the protocol: the restart loop around a
``.part`` file and its sidecar, the limits an attempt runs under, and how a cut attempt ends.

A protocol handler (HTTP in :mod:`capture.transfer.handler`, FTP in :mod:`capture.transfer.ftp`)
mixes in :class:`PartialTransfers` and implements ``_attempt``: send the request (resuming at
``offset`` when the sidecar's validators still describe the server's object), feed the body to a
:class:`~capture.transfer.receiver.BodyReceiver`, and return a :class:`StreamedResponse`; raise
:class:`Restart` to start over from byte 0.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from scrapy import Request
from scrapy.http import Response
from twisted.internet import defer

from capture.liveness import liveness_of
from capture.replicas import REPLICA_KEY, add_segment, served_ranges
from capture.transfer import EVENTS_KEY, META_KEY, TRANSFER_DONE_KEY
from capture.transfer.errors import (
    BodyTooLong,
    LocalStorageError,
    TransferInterrupted,
    TransferTooLong,
)
from capture.transfer.receiver import BodyReceiver, TransferLimits
from capture.transfer.result import StreamSpec, TransferResult
from capture.transfer.sidecar import PartialState

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from twisted.python.failure import Failure

    from capture.config import CaptureSettings
    from capture.storage import Sink, Store
    from capture.transfer.io import IOPool
    from capture.waiters import Waiter

logger = logging.getLogger(__name__)

MAX_RESTARTS = 3
MiB = 1024 * 1024


#: Request meta key: the requester awaits ``StreamedResponse.written`` (capture.fetch does), so
#: a small body may be written after the response returns.
WRITE_AFTER_KEY = "capture_write_after"


class StreamedResponse(Response):
    """A response whose body is on disk; ``transfer`` describes the file. ``written``, when
    set, is a Deferred that fires once the body is on disk (or fails with the local error)."""

    attributes: tuple[str, ...] = (*Response.attributes, "transfer")

    def __init__(self, *args: Any, transfer: TransferResult | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.transfer = transfer
        self.written: Waiter[Any] | None = None


class Restart(Exception):
    """Start the file over from byte 0 (the server object changed, or cannot resume)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class PartialTransfers:
    """The protocol-independent half of a streaming download handler (see the module doc)."""

    _config: CaptureSettings
    _crawler: Crawler
    _io: IOPool
    _store: Store
    _stats: StatsCollector

    async def _attempt(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        offset: int,
        state: PartialState | None,
        events: list[dict[str, Any]],
    ) -> Response:
        raise NotImplementedError

    def _sink(self, spec: StreamSpec) -> Sink:
        """The sink the crawl's store builds for this part (a local file, an S3 upload)."""
        # A file new to the catalog: its fsync joins the batch the metadata stage syncs before
        # the catalog commit that records it (CAPTURE_GROUP_DURABILITY).
        sync = not (spec.clean and self._config.group_durability)
        return self._store.sink(
            spec.part, spec.algorithms, checkpoint_bytes=self._config.checkpoint_bytes, sync=sync
        )

    # -- the streamed path -----------------------------------------------------------------
    async def _stream(self, request: Request) -> Response:
        spec_dict: dict[str, Any] = request.meta[META_KEY]
        spec = StreamSpec.from_meta(spec_dict)
        events: list[dict[str, Any]] = request.meta.setdefault(EVENTS_KEY, [])
        fresh = spec.fresh
        for _ in range(MAX_RESTARTS):
            sink = self._sink(spec)
            if spec.clean and not fresh:
                offset, state = sink.start_clean()  # no partial data can exist: no IO yet
            else:
                offset, state = await self._io.run(sink.prepare, fresh)
            if isinstance(spec_dict, dict):
                # Later retries of this request probe for (and may resume) partial data.
                spec_dict["fresh"] = spec_dict["clean"] = False
            fresh = False
            if offset and REPLICA_KEY in request.meta:
                offset, state = await self._across_replicas(
                    request, spec, sink, offset, state, events
                )
            if offset:
                events.append({"at": now(), "kind": "resume", "offset": offset})
                self._stats.inc_value("capture/transfer/resumed")
            try:
                response = await self._attempt(request, spec, sink, offset, state, events)
            except Restart as restart:
                await self._io.run(sink.close)
                events.append({"at": now(), "kind": "restart", "reason": restart.reason})
                self._stats.inc_value(f"capture/transfer/restarted/{restart.reason}")
                logger.info("Restarting %s from byte 0: %s", request.url, restart.reason)
                fresh = True
                continue
            transfer = getattr(response, "transfer", None)
            if transfer is not None and sink.state is not None and sink.state.ranges:
                transfer.ranges = served_ranges(sink.state.ranges, transfer.size) or None
            return response
        raise TransferInterrupted(f"gave up after {MAX_RESTARTS} restarts of {request.url}")

    # -- replicas (capture/replicas.py) ----------------------------------------------------
    async def _across_replicas(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        offset: int,
        state: PartialState | None,
        events: list[dict[str, Any]],
    ) -> tuple[int, PartialState | None]:
        """A partial written from another replica: continue it here only when it is bound to
        the file's identity (publisher digest + size), which verifies the whole at the end;
        the first replica's validators mean nothing here, so none is sent. Otherwise start
        over from byte 0: bytes of two servers are never spliced unverifiable."""
        assert state is not None
        name = request.meta[REPLICA_KEY]
        same = state.replica == name if state.replica else state.url == request.url
        if same:
            return offset, state
        if spec.identity and state.identity == spec.identity:
            events.append(
                {
                    "at": now(),
                    "kind": "replica_switch",
                    "from": state.replica,
                    "to": name,
                    "offset": offset,
                }
            )
            self._stats.inc_value("capture/replica/resumed_across")
            state.etag = state.last_modified = None  # the new replica's are bound on answer
            return offset, state
        await self._io.run(sink.restart)
        events.append({"at": now(), "kind": "restart", "reason": "replica_changed", "to": name})
        self._stats.inc_value("capture/transfer/restarted/replica_changed")
        return 0, None

    def _bind(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        offset: int,
        *,
        etag: str | None,
        last_modified: str | None,
        length: int | None,
    ) -> None:
        """Bind the part to the server object that answered (first answer, or a replica that
        continues another's partial), and note which replica serves from ``offset``."""
        name = request.meta.get(REPLICA_KEY)
        state = sink.state
        if state is None:
            state = PartialState(
                url=request.url, etag=etag, last_modified=last_modified, length=length
            )
            sink.bind(state)
        elif name and state.replica not in (None, name):
            state.url, state.etag, state.last_modified = request.url, etag, last_modified
            state.length = length if length is not None else state.length
        if name:
            state.replica, state.identity = name, spec.identity
            state.ranges = add_segment(state.ranges, offset, name, request.url)

    def _write_after(self, request: Request, sink: Sink, offset: int, size: int) -> bool:
        """Whether this body may be written after the response returns (see ``_receive``):
        a fetcher request that awaits it, a fresh local part with nothing on disk yet, and a
        body small enough to hold in memory until an IO thread hashes and writes it."""
        return (
            bool(request.meta.get(WRITE_AFTER_KEY))
            and sink.write_after
            and offset == 0
            and sink.size == 0
            and size <= self._config.write_after_max_bytes
        )

    # -- limits ----------------------------------------------------------------------------
    def _limits(self, request: Request, spec: StreamSpec, total: int | None) -> TransferLimits:
        c = self._config
        cap, means = self._size_cap(spec, total)
        meta = request.meta[META_KEY]
        spent = float((meta.get("elapsed") if isinstance(meta, dict) else spec.elapsed) or 0.0)
        left = c.max_transfer_seconds - spent if c.max_transfer_seconds > 0 else None
        return TransferLimits(
            max_size=cap,
            max_size_means=means,
            seconds_left=left,
            min_speed=c.min_speed,
            speed_window=c.min_speed_window,
            label=request.url,
        )

    def _size_cap(self, spec: StreamSpec, total: int | None) -> tuple[int | None, str]:
        """The most bytes the part file may hold, and what that number stands for.

        An exact listed size wins even over a larger Content-Length: a body of another size
        can never verify, so fetching it only fills the disk and the quarantine.
        """
        c = self._config
        if spec.expected_size is not None:
            return spec.expected_size + c.body_slack_bytes, f"the listed {spec.expected_size} bytes"
        caps: list[tuple[int, str]] = []
        if c.max_file_bytes > 0:
            caps.append((c.max_file_bytes, f"CAPTURE_MAX_FILE_BYTES={c.max_file_bytes}"))
        if spec.size_estimate is not None and c.estimate_size_factor > 0:
            estimate = int(spec.size_estimate * c.estimate_size_factor) + MiB
            caps.append((estimate, f"the listing's estimate of {spec.size_estimate} bytes"))
        if total is not None:
            caps.append((total + c.body_slack_bytes, f"the announced {total} bytes"))
        return min(caps) if caps else (None, "")

    async def _start_body(
        self,
        request: Request,
        spec: StreamSpec,
        sink: Sink,
        offset: int,
        total: int | None,
        attempt: dict[str, Any],
        announced_by: str,
    ) -> BodyReceiver:
        """The receiver for an attempt's body, within this file's limits; a body the server
        announces (``total``, said by ``announced_by``) as longer than the file can be is
        refused before a byte is written (:class:`BodyTooLong`, nothing kept)."""
        limits = self._limits(request, spec, total)
        if total is not None and limits.max_size is not None and total > limits.max_size:
            await self._io.run(sink.discard)
            attempt["outcome"] = "too_long"
            self._stats.inc_value("capture/transfer/cut/BodyTooLong")
            raise BodyTooLong(
                f"body longer than {limits.max_size_means}: {announced_by} {total} "
                "bytes; nothing kept"
            )
        return BodyReceiver(
            sink=sink,
            pool=self._io,
            flush_bytes=self._config.write_buffer,
            stall_timeout=self._config.stall_timeout,
            crawler=self._crawler,
            meter=meter(spec.budget_key),
            limits=limits,
            offset=offset,
            complete_at=total,
            on_complete=request.meta.get(TRANSFER_DONE_KEY),
            liveness=liveness_of(self._crawler),
        )

    async def _end_body(
        self,
        request: Request,
        sink: Sink,
        pending: list[bytes],
        *,
        offset: int,
        total: int | None,
        received: int,
        attempt: dict[str, Any],
        abort: Exception | None,
        write_error: Failure | None,
        clean: bool,
        why: str,
        what: str = "body",
        refused: Exception | None = None,
    ) -> tuple[dict[str, str], Waiter[Any] | None, int]:
        """End an attempt's body the same way for every protocol: a local write error fails
        it, a cut body is handled by :meth:`_aborted`, a refusal before any byte (``refused``)
        is raised, a body that ended early (``clean`` False, or shorter than ``total``) is
        suspended for a resume, one longer than announced restarts; a complete body is
        sealed. Returns ``(digests, written, size)``: ``written`` fires with the digests once a
        small body written after the response returns is on disk (None: already sealed;
        ``digests`` is then empty until it fires)."""
        if write_error is not None:
            await self._io.run(sink.close)
            attempt["outcome"] = "local_error"
            err = write_error.value
            if isinstance(err, LocalStorageError):
                raise err  # keeps its type (UnsafeLocalPath) and its cause (ENOSPC)
            raise LocalStorageError(str(err)) from err
        size = sink.size + sum(len(c) for c in pending)  # pending: not yet on disk
        if abort is not None:
            await self._aborted(sink, pending, abort, size, received, total, attempt)
        if refused is not None:
            await self._io.run(sink.close)
            raise refused
        if not clean or (total is not None and size < total):
            await self._io.run(sink.suspend, pending)
            attempt["outcome"] = "interrupted"
            raise TransferInterrupted(
                f"{what} of {request.url} ended at byte {size}"
                + (f" of {total}" if total is not None else "")
                + f": {why}",
                offset=durable(sink, size),
                progress=received,
            )
        if total is not None and size > total:
            await self._io.run(sink.close)
            attempt["outcome"] = "restart"
            raise Restart("body_longer_than_announced")

        done = request.meta.get(TRANSFER_DONE_KEY)
        if done is not None:
            done()  # the whole body is here: the connection and the slot go to the next file
        written: Waiter[Any] | None = None
        if self._write_after(request, sink, offset, size):
            # Small body, all of it in memory: hashed and written by an IO thread after the
            # response returns, so the connection and the transfer slot go to the next file
            # at once instead of waiting for the thread hand-off (measured: 3.5 ms per file,
            # 18% of a 50 ms round trip), and the reactor thread does not hash (hashlib
            # releases the GIL: the digests are taken on the other core). ``written`` fires
            # with the digests; the fetcher awaits it and fills them in (capture.fetch).
            digests = {}
            written = self._io.start(sink.complete, pending)
            note_local_error(written, attempt)
        else:
            digests = await self._io.run(sink.complete, pending)
        attempt["outcome"] = "complete"
        return digests, written, size

    async def _aborted(
        self,
        sink: Sink,
        pending: list[bytes],
        abort: Exception,
        size: int,
        received: int,
        total: int | None,
        attempt: dict[str, Any],
    ) -> NoReturn:
        """End an attempt the receiver cut: keep the part for resume unless it is worthless
        (longer than the file can be, or of unknown length and out of time)."""
        self._stats.inc_value(f"capture/transfer/cut/{type(abort).__name__}")
        if isinstance(abort, BodyTooLong) or (isinstance(abort, TransferTooLong) and total is None):
            await self._io.run(sink.discard)
            attempt["outcome"] = "too_long"
            raise abort
        await self._io.run(sink.suspend, pending)
        attempt["outcome"] = OUTCOMES.get(type(abort).__name__, "stalled")
        if isinstance(abort, TransferInterrupted):
            abort.offset, abort.progress = durable(sink, size), received
        raise abort


OUTCOMES = {
    "TransferAborted": "aborted",
    "BudgetExceeded": "aborted",
    "TransferTooSlow": "too_slow",
    "TransferTooLong": "too_long",
}


def note_local_error(written: Waiter[Any], attempt: dict[str, Any]) -> None:
    """Should a body written after its response returned fail to be written, say so in its
    attempt event; the error itself goes on to the fetcher awaiting ``written``."""

    def failed(_: Any = None) -> Any:
        attempt["outcome"] = "local_error"
        return _

    if isinstance(written, defer.Deferred):
        written.addErrback(failed)
    else:
        written.add_done_callback(
            lambda f: None if f.cancelled() or f.exception() is None else failed()
        )


def durable(sink: Sink, size: int) -> int:
    """The offset the next attempt resumes from: ``size`` if the sidecar can bind a resume
    (validators known), else 0 (the next attempt starts over)."""
    state = sink.state
    return size if state is not None and state.if_range() else 0


def spend(request: Request, seconds: float) -> None:
    """Add an attempt's seconds to the file's total (kept in its spec dict, which every copy
    of the request shares, so the time budget holds across retries)."""
    spec = request.meta.get(META_KEY)
    if isinstance(spec, dict):
        spec["elapsed"] = round(float(spec.get("elapsed") or 0.0) + seconds, 3)


def meter(budget_key: str | None) -> Any:
    """The run budget's per-byte meter for transfers of unknown size (None: unmetered)."""
    if not budget_key:
        return None
    from capture.budget import lookup

    budget = lookup(budget_key)
    return budget.charge if budget is not None else None
