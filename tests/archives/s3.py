"""Open cloud replicas for tests: moto's S3 server (real HTTP on 127.0.0.1) holding the public
buckets' layouts, and a pacing TCP proxy in front of it that records each request's method,
path and ``Range``/``If-Match`` headers (moto keeps no request log) and can slow the bytes
down (to kill a crawl mid-object).

The test process writes objects with moto's dummy credentials; the crawls under test read
them unsigned, as they read the real buckets.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MiB = 1024 * 1024
#: moto's smallest multipart part (all but the last), as S3's.
PART_MIN = 5 * MiB
#: Open data: anyone may read (moto, like S3, refuses anonymous reads of private objects).
PUBLIC = "public-read"


class MotoS3:
    """moto's ``ThreadedMotoServer`` on a free port of 127.0.0.1, and a client to fill it."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.port = int(port)
        self.client = self._client()

    def _client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="moto",
            aws_secret_access_key="moto",
        )

    def bucket(self, name: str) -> None:
        try:
            self.client.create_bucket(Bucket=name)
        except self.client.exceptions.BucketAlreadyOwnedByYou:
            pass

    def put(self, bucket: str, key: str, data: bytes, *, parts: int = 1) -> str:
        """Store ``data``, readable anonymously (one PutObject, or a multipart upload of
        ``parts`` parts); its ETag."""
        self.bucket(bucket)
        if parts <= 1:
            answer = self.client.put_object(Bucket=bucket, Key=key, Body=data, ACL=PUBLIC)
            return str(answer["ETag"])
        size = max(PART_MIN, -(-len(data) // parts))
        assert len(data) > size * (parts - 1), "too few bytes for that many parts"
        up = self.client.create_multipart_upload(Bucket=bucket, Key=key, ACL=PUBLIC)
        done = []
        for n in range(parts):
            chunk = data[n * size : (n + 1) * size if n < parts - 1 else len(data)]
            etag = self.client.upload_part(
                Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n + 1, Body=chunk
            )["ETag"]
            done.append({"ETag": etag, "PartNumber": n + 1})
        answer = self.client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": done}
        )
        return str(answer["ETag"])

    def stop(self) -> None:
        self._server.stop()


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class PacingProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream_port``: it logs request heads (requests
    only, no bodies: the crawls under test only GET and HEAD) and paces the answer bytes at
    ``bandwidth`` bytes/s when set (changeable while running)."""

    upstream_port: int
    bandwidth: float | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def gets(self, key_suffix: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == "GET" and s.path.endswith(key_suffix)]

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client), daemon=True).start()

    def _requests(self, src: socket.socket, dst: socket.socket) -> None:
        buf = b""
        try:
            while data := src.recv(65536):
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    self._note(head)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shut(dst)

    def _note(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) < 2:
            return
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        with self._lock:
            self.seen.append(Seen(parts[0], parts[1].split("?", 1)[0], headers))

    def _answers(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(64 * 1024):
                dst.sendall(data)
                if self.bandwidth:
                    time.sleep(len(data) / self.bandwidth)
        except OSError:
            pass
        finally:
            _shut(dst)

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
