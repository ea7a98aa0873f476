"""``S3ReplicaDownloadHandler``: files of the archives' open cloud replicas (``s3://bucket/key``).

The public buckets (JWST in ``s3://stpubdata/jwst/public/``, 1000 Genomes in
``s3://1000genomes/``) are read anonymously with boto3: unsigned requests
(``botocore.UNSIGNED``, as astroquery's ``CloudAccess`` does), so no AWS account is needed
and no credential is ever looked up, sent or logged. The handler is the streaming HTTP
handler with another wire: only :meth:`_send` differs, so an S3 body goes through the same
engine (``.part`` file and sidecar, in-stream digests, stall timeout, size and speed limits,
retry classes, restart rules; :mod:`capture.transfer.handler`).

Resume is a ranged GET bound to the object's validators: ``Range: bytes=N-`` with
``If-Match: <ETag>`` from the sidecar. S3 answers a changed object with ``412``; the handler
then GETs the whole object and hands it on as a ``200``, which the engine treats exactly as
an HTTP server's ``200`` to an ``If-Range`` request: the part restarts from byte 0 with the
new bytes, never spliced (a changed length or ETag in a ``206`` restarts too).

boto3 calls block, so they (and the body reads, :mod:`capture.transfer.s3body`) run on a
dedicated bounded thread pool (``CAPTURE_S3_REPLICA_THREADS``), never on the reactor thread
and never on the IO pool that writes to disk. botocore's own retries are off: capture's retry
middleware (backoff, progress-aware resumes) handles every failure the same way for every
protocol. Errors map to Scrapy's download exceptions (connection refused, timeout, failed),
so the circuit breaker and the retry middleware see an S3 replica like any other host.
"""

from __future__ import annotations

import email.utils
import logging
import threading
from time import monotonic
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from scrapy.exceptions import (
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
)
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy.utils.defer import maybe_deferred_to_future

from capture.transfer import META_KEY
from capture.transfer.handler import StreamingDownloadHandler
from capture.transfer.io import IOPool
from capture.transfer.receiver import BoundedBodyReader
from capture.transfer.s3body import CHUNK, S3Reply

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from twisted.web.client import Response as TxResponse

    from capture.config import CaptureSettings
    from capture.transfer.result import StreamSpec
    from capture.transfer.sidecar import PartialState

logger = logging.getLogger(__name__)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")`` (the key percent-decoded)."""
    parts = urlsplit(url)
    key = unquote(parts.path.lstrip("/"))
    if parts.scheme != "s3" or not parts.netloc or not key or parts.query or "@" in parts.netloc:
        raise ValueError(f"not an s3://bucket/key URL: {url!r}")
    return parts.netloc, key


def replica_client(config: CaptureSettings, connections: int, timeout: float) -> Any:
    """An anonymous S3 client for open data: unsigned, no retries of its own, the replica
    endpoint (``CAPTURE_S3_REPLICA_ENDPOINT``) or AWS, never the store's endpoint."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    endpoint = config.s3_replica_endpoint or None
    return boto3.session.Session().client(
        "s3",
        region_name=config.s3_replica_region or "us-east-1",
        endpoint_url=endpoint,
        config=Config(
            signature_version=UNSIGNED,
            retries={"max_attempts": 1, "mode": "standard"},
            max_pool_connections=max(1, connections),
            connect_timeout=min(timeout, 60.0),
            read_timeout=max(1.0, config.stall_timeout),
            # AWS_ENDPOINT_URL and friends configure CAPTURE_STORE's client, not open data.
            ignore_configured_endpoint_urls=True,
            s3={"addressing_style": "path" if endpoint else "auto"},
            tcp_keepalive=True,
        ),
    )


class S3ReplicaDownloadHandler(StreamingDownloadHandler):
    lazy = True  # boto3 is imported and its client built on the first s3:// request only

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        threads = max(1, self._config.s3_replica_threads)
        self._threads = threads
        self._s3_pool = IOPool(threads)
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._chunk = min(CHUNK, max(64 * 1024, self._config.write_buffer))

    def client(self) -> Any:
        """The crawl's one anonymous client (thread-safe), built by the first pool thread."""
        with self._client_lock:
            if self._client is None:
                timeout = float(self._crawler.settings.getfloat("DOWNLOAD_TIMEOUT", 180))
                self._client = replica_client(self._config, self._threads, timeout)
            return self._client

    async def download_request(self, request: Request) -> Response:
        # Anonymous: no credential of the spider goes to a replica (no _wire_request here).
        if META_KEY in request.meta:
            return await self._stream(request)
        return await self._in_memory(request)

    async def close(self) -> None:
        await super().close()
        self._s3_pool.stop()

    # -- the wire --------------------------------------------------------------------------
    async def _send(
        self, request: Request, spec: StreamSpec, offset: int, state: PartialState | None
    ) -> TxResponse:
        started = monotonic()
        conditional = spec.conditional if spec is not None and not offset else None
        reply = await self._s3_pool.run(self._request, request, offset, state, conditional)
        request.meta["download_latency"] = monotonic() - started
        return cast("TxResponse", reply)

    def _request(
        self,
        request: Request,
        offset: int,
        state: PartialState | None,
        conditional: dict[str, str] | None,
    ) -> S3Reply:
        """One GET (or HEAD) on a pool thread; S3's error answers become replies with their
        status, failures to reach S3 become Scrapy's download exceptions."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = parse_s3_url(request.url)
        args: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if offset and state is not None:
            args["Range"] = f"bytes={offset}-"
            if state.etag:
                args["IfMatch"] = state.etag
        elif conditional:
            if conditional.get("etag"):
                args["IfNoneMatch"] = conditional["etag"]
            since = _http_date(conditional.get("last_modified"))
            if since is not None:
                args["IfModifiedSince"] = since
        client = self.client()
        try:
            if request.method == "HEAD":
                return self._reply(client.head_object(**args), None)
            try:
                return self._reply(client.get_object(**args), args)
            except ClientError as exc:
                return self._answer_error(client, exc, args)
        except ClientError as exc:
            return _error_reply(exc)
        except BotoCoreError as exc:
            raise _download_error(request.url, exc) from exc

    def _answer_error(self, client: Any, exc: Any, args: dict[str, Any]) -> S3Reply:
        status = _status(exc)
        if status == 412 and "Range" in args:
            # If-Match failed: the object changed since the partial was written. Answer as
            # an If-Range server would: the whole new object, as a 200.
            whole = {k: v for k, v in args.items() if k not in ("Range", "IfMatch")}
            return self._reply(client.get_object(**whole), whole)
        if status == 416 and "Range" in args:
            # Nothing left past the offset: say how long the object is (bytes */N), with its
            # ETag, so the engine can tell "already complete" from "changed".
            head = client.head_object(Bucket=args["Bucket"], Key=args["Key"])
            headers = dict(head["ResponseMetadata"].get("HTTPHeaders", {}))
            headers["content-range"] = f"bytes */{head['ContentLength']}"
            headers.pop("content-length", None)
            return S3Reply(416, headers)
        return _error_reply(exc)

    def _reply(self, answer: dict[str, Any], args: dict[str, Any] | None) -> S3Reply:
        meta = answer.get("ResponseMetadata", {})
        headers = dict(meta.get("HTTPHeaders", {}))
        status = int(meta.get("HTTPStatusCode", 200))
        stream = answer.get("Body") if args is not None else None
        if stream is None:
            return S3Reply(status, headers)
        return S3Reply(
            status, headers, stream=stream, pool=self._s3_pool.executor, chunk=self._chunk
        )

    # -- ordinary (in-memory) requests: a HEAD, a small object ----------------------------
    async def _in_memory(self, request: Request) -> Response:
        tx = cast(S3Reply, await self._send(request, None, 0, None))  # type: ignore[arg-type]
        reader = BoundedBodyReader(self._default_maxsize or 1024 * 1024 * 1024)
        tx.deliverBody(reader)
        body = await maybe_deferred_to_future(reader.finished)
        headers = Headers(tx.headers.getAllRawHeaders())
        respcls = responsetypes.from_args(headers=headers, url=request.url, body=body)
        return respcls(url=request.url, status=tx.code, headers=headers, body=body, request=request)


def _download_error(url: str, exc: Exception) -> Exception:
    """botocore's failure to reach or read S3 as Scrapy's download exception, so the circuit
    breaker and the retry middleware judge a replica as they judge any host."""
    from botocore import exceptions as e

    if isinstance(exc, (e.ConnectTimeoutError, e.ReadTimeoutError)):
        return DownloadTimeoutError(f"S3 replica did not answer for {url}: {exc}")
    if isinstance(exc, e.EndpointConnectionError):
        return DownloadConnectionRefusedError(f"S3 replica unreachable for {url}: {exc}")
    return DownloadFailedError(f"S3 replica request failed for {url}: {exc}")


def _status(exc: Any) -> int:
    response = getattr(exc, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)


def _error_reply(exc: Any) -> S3Reply:
    """S3's error answer (NoSuchKey, AccessDenied, SlowDown, 304 Not Modified...) as a reply:
    the engine and the retry middleware judge its status as they would an HTTP one's."""
    response = getattr(exc, "response", None) or {}
    status = _status(exc)
    headers = dict(response.get("ResponseMetadata", {}).get("HTTPHeaders", {}))
    headers.pop("content-length", None)
    headers.pop("transfer-encoding", None)
    error = response.get("Error", {})
    body = b"" if status == 304 else f"{error.get('Code')}: {error.get('Message')}\n".encode()
    headers["content-type"] = "text/plain"
    return S3Reply(status, headers, body=body)


def _http_date(value: str | None) -> Any:
    """An HTTP date (the stored Last-Modified) as the datetime boto3 wants, or None."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
