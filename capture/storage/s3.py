"""S3 storage: files stream from the archive into an S3 multipart upload as they download.

``CAPTURE_STORE=s3://bucket/prefix`` makes every transfer go to S3 instead of local disk:

* **Bounded memory.** Bytes are gathered into parts of ``CAPTURE_S3_PART_SIZE`` (>= 5 MiB)
  and uploaded with ``UploadPart`` as each fills; the whole file is never held.
* **Same pass digests.** sha256 (and the publisher's algorithm) are computed on the bytes as
  they stream, exactly as for local files.
* **Resume.** The upload id and the parts already uploaded are journaled next to the staged
  object (``<staging key>.json``). After a crash the transfer continues from the end of the last
  uploaded part (re-downloading at most one part), after ``ListParts`` confirms the parts. A
  hash cannot be carried across processes, so a resumed upload is verified in a second pass:
  the completed object is read back and hashed (git-annex does the same for resumed
  retrieves). An upload that is gone, or whose server object changed, restarts cleanly.
* **Publication** mirrors the local layout: the staged object (``<prefix>/.partial/<rel>.part``)
  is completed, then copied server-side to ``<prefix>/<rel>`` (or ``quarantine/``,
  ``versions/``) with the digests as object metadata, and the staging object is removed.
  Multipart ETags are not MD5s and are never used as content digests.
* **S3-compatible stores and security** come from boto3's standard configuration
  (``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, credentials chain); server-side encryption with
  ``CAPTURE_S3_SSE`` (``AES256`` or ``aws:kms`` + ``CAPTURE_S3_SSE_KMS_KEY_ID``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from capture.storage.base import StoredObject
from capture.storage.codec import ChunkReader
from capture.storage.compress import Encoded, Plan, encode
from capture.transfer.basesink import BaseSink
from capture.transfer.errors import LocalStorageError
from capture.transfer.sidecar import PartialState
from capture.transfer.sink import FileSink

if TYPE_CHECKING:
    from capture.config import CaptureSettings
    from capture.paths import DataRoot

MIN_PART = 5 * 1024 * 1024
SCHEME = "s3://"
_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()


def split_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3:// URI: {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def client() -> Any:
    """One boto3 client per process (thread-safe), configured the standard boto3 way."""
    with _LOCK:
        c = _CLIENTS.get("s3")
        if c is None:
            import boto3
            from botocore.config import Config

            c = _CLIENTS["s3"] = boto3.session.Session().client(
                "s3",
                config=Config(
                    retries={"max_attempts": 10, "mode": "adaptive"}, max_pool_connections=32
                ),
            )
        return c


@dataclass
class S3Settings:
    part_size: int = 16 * 1024 * 1024
    sse: str | None = None
    kms_key_id: str | None = None

    @classmethod
    def from_settings(cls, config: CaptureSettings) -> S3Settings:
        return cls(
            part_size=config.s3_part_size,
            sse=config.s3_sse or None,
            kms_key_id=config.s3_sse_kms_key_id or None,
        )

    def extra(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.sse:
            out["ServerSideEncryption"] = self.sse
            if self.sse == "aws:kms" and self.kms_key_id:
                out["SSEKMSKeyId"] = self.kms_key_id
        return out


@dataclass
class UploadJournal:
    upload_id: str
    parts: list[dict[str, Any]] = field(default_factory=list)  # PartNumber, ETag, Size
    server: dict[str, Any] = field(default_factory=dict)  # PartialState of the archive object

    @property
    def durable(self) -> int:
        return sum(p["Size"] for p in self.parts)


class S3Sink(BaseSink):
    """A :class:`~capture.storage.base.Sink` writing to an S3 multipart upload."""

    def __init__(self, uri: str, algorithms: list[str], conf: S3Settings):
        super().__init__(algorithms)
        self.uri = uri
        self.bucket, self.key = split_uri(uri)
        self.journal_key = self.key + ".json"
        self.algorithms = algorithms
        self.conf = conf
        self.part_size = max(MIN_PART, conf.part_size)
        self.s3 = client()
        self.journal: UploadJournal | None = None
        self.buffer = bytearray()
        self.verify_after = False  # resumed: digests need a read-back pass

    # -- journal ---------------------------------------------------------------------------
    def _load(self) -> UploadJournal | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.journal_key)["Body"].read()
            return UploadJournal(**json.loads(body))
        except Exception:
            return None

    def _save(self) -> None:
        assert self.journal is not None
        if self.state is not None:
            self.journal.server = asdict(self.state)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.journal_key,
            Body=json.dumps(asdict(self.journal)).encode(),
            **self.conf.extra(),
        )

    def _abort(self, journal: UploadJournal | None) -> None:
        if journal is not None:
            try:
                self.s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=journal.upload_id
                )
            except Exception:
                pass
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.journal_key)
        except Exception:
            pass

    def _new_upload(self) -> None:
        created = self.s3.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, **self.conf.extra()
        )
        self.journal = UploadJournal(created["UploadId"])

    # -- sink interface --------------------------------------------------------------------
    def prepare(self, fresh: bool) -> tuple[int, PartialState | None]:
        try:
            journal = self._load()
            if fresh or journal is None or not self._parts_intact(journal):
                self._abort(journal)
                self._new_upload()
                self.state, self.size, self.verify_after = None, 0, False
                return 0, None
            self.journal = journal
            state = PartialState(**journal.server) if journal.server else None
            if state is None or not state.if_range() or not journal.parts:
                self._abort(journal)
                self._new_upload()
                return 0, None
            state.durable_offset = journal.durable
            self.state, self.size, self.verify_after = state, journal.durable, True
            return journal.durable, state
        except Exception as exc:
            raise LocalStorageError(f"cannot prepare S3 upload {self.uri}: {exc}") from exc

    def _parts_intact(self, journal: UploadJournal) -> bool:
        try:
            listed = self.s3.list_parts(
                Bucket=self.bucket, Key=self.key, UploadId=journal.upload_id
            ).get("Parts", [])
        except Exception:
            return False
        have = {p["PartNumber"]: (p["ETag"], p["Size"]) for p in listed}
        return all(have.get(p["PartNumber"]) == (p["ETag"], p["Size"]) for p in journal.parts)

    def _ensure_upload(self) -> None:
        if self._lazy:
            self._lazy = False
            self._abort(self._load())
            self._new_upload()

    def restart(self) -> None:
        self._ensure_upload()
        self._abort(self.journal)
        self._new_upload()
        self.buffer = bytearray()
        self._forget()
        self.verify_after = False

    def write(self, chunks: list[bytes], *, hashed: bool = False) -> None:
        try:
            self._ensure_upload()
            for chunk in chunks:
                if not (self.verify_after or hashed):
                    self.hasher.update(chunk)
                self.buffer += chunk
                self.size += len(chunk)
                while len(self.buffer) >= self.part_size:
                    self._upload(bytes(self.buffer[: self.part_size]))
                    del self.buffer[: self.part_size]
        except LocalStorageError:
            raise
        except Exception as exc:
            raise LocalStorageError(f"S3 upload of {self.uri} failed: {exc}") from exc

    def _upload(self, body: bytes) -> None:
        assert self.journal is not None
        number = len(self.journal.parts) + 1
        reply = self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            PartNumber=number,
            UploadId=self.journal.upload_id,
            Body=body,
        )
        self.journal.parts.append({"PartNumber": number, "ETag": reply["ETag"], "Size": len(body)})
        self._save()  # the durable offset moves only once S3 holds the part

    def checkpoint(self) -> None:  # parts are the checkpoints
        return None

    def _keep(self) -> None:
        """Interrupted: whole parts are on S3; the partial buffer is dropped (< one part)."""
        if self.journal is not None:
            self._save()

    def _seal(self) -> None:
        try:
            self._ensure_upload()
            assert self.journal is not None
            if self.buffer or not self.journal.parts:
                self._upload(bytes(self.buffer))
                self.buffer = bytearray()
            self.s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.journal.upload_id,
                MultipartUpload={
                    "Parts": [
                        {"PartNumber": p["PartNumber"], "ETag": p["ETag"]}
                        for p in self.journal.parts
                    ]
                },
            )
            if self.verify_after:
                self._rehash()
        except Exception as exc:
            raise LocalStorageError(f"cannot complete S3 upload {self.uri}: {exc}") from exc

    def _rehash(self) -> None:
        self.hasher.reset()
        body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        for chunk in body.iter_chunks(8 * 1024 * 1024):
            self.hasher.update(chunk)

    def discard(self) -> None:
        """Abort the upload and drop its journal."""
        self._abort(self.journal)
        self.close()

    def close(self) -> None:
        self.buffer = bytearray()


class S3Store:
    """Publication, quarantine and versions on S3 (a :class:`~capture.storage.base.Store`).

    Scorers and inspectors read a scratch copy under ``scratch`` (the data root's private
    area), fetched only for files up to ``scratch_max`` bytes."""

    remote = True

    def __init__(self, base_uri: str, conf: S3Settings, *, scratch: Path, scratch_max: int):
        self.bucket, prefix = split_uri(base_uri.rstrip("/") + "/")
        self.prefix = prefix.rstrip("/")
        self.conf = conf
        self.s3 = client()
        self.scratch = scratch
        self.scratch_max = scratch_max

    @classmethod
    def from_settings(cls, uri: str, config: CaptureSettings, data: DataRoot) -> S3Store:
        return cls(
            uri,
            S3Settings.from_settings(config),
            scratch=data.internal / "scratch",
            scratch_max=config.s3_scratch_max,
        )

    def owns(self, location: str) -> bool:
        """Any ``s3://`` location: its staging keys, published and quarantined objects."""
        return location.startswith(SCHEME)

    def part_location(self, rel: str) -> str:
        """The staging key; its journal is ``<key>.json`` (see :class:`S3Sink`)."""
        return self.uri(rel, ".partial", ".part")

    def sink(
        self, part: str, algorithms: list[str], *, checkpoint_bytes: int, sync: bool
    ) -> S3Sink | FileSink:
        """An S3 multipart upload for staging keys; a local file for anything else (the
        spiders' listing files stay in the data root's private area)."""
        if self.owns(part):
            return S3Sink(part, algorithms, self.conf)
        return FileSink(part, algorithms, checkpoint_bytes, sync=sync)

    def key(self, rel: str, area: str | None = None, suffix: str = "") -> str:
        parts = [p for p in (self.prefix, area, rel) if p]
        return "/".join(parts) + suffix

    def uri(self, rel: str, area: str | None = None, suffix: str = "") -> str:
        return f"{SCHEME}{self.bucket}/{self.key(rel, area, suffix)}"

    def _move(self, part_uri: str, target_key: str, metadata: dict[str, str]) -> None:
        bucket, key = split_uri(part_uri)
        self.s3.copy(
            {"Bucket": bucket, "Key": key},
            self.bucket,
            target_key,
            ExtraArgs={"Metadata": metadata, "MetadataDirective": "REPLACE", **self.conf.extra()},
        )
        self.s3.delete_object(Bucket=bucket, Key=key)
        self.s3.delete_object(Bucket=bucket, Key=key + ".json")

    def publish(
        self,
        part: str,
        rel: str,
        metadata: dict[str, str] | None = None,
        *,
        durable: bool = True,
        sync_data: bool = False,
        journal: bool = True,
    ) -> str:
        """Server-side move into place (the durability flags of the local store do not apply:
        S3 acknowledges a completed object durably; the journal always goes with the part)."""
        self._move(part, self.key(rel), metadata or {})
        return self.uri(rel)

    def quarantine(
        self, part: str, rel: str, reason: dict[str, Any], *, sync_data: bool = False
    ) -> str:
        meta = {"sha256": str(reason.get("sha256") or "")}
        self._move(part, self.key(rel, "quarantine"), meta)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.key(rel, "quarantine", ".reason.json"),
            Body=json.dumps(reason, indent=2, default=str).encode(),
            **self.conf.extra(),
        )
        return self.uri(rel, "quarantine")

    def recorded(self, location: str | Path) -> str:
        """The catalog records the object's URI."""
        return str(location)

    def retire(self, rel: str, version: int) -> str | None:
        if not self.exists(rel):
            return None
        target = self.key(rel, "versions", f".v{version}")
        self.s3.copy(
            {"Bucket": self.bucket, "Key": self.key(rel)},
            self.bucket,
            target,
            ExtraArgs=self.conf.extra() or None,
        )
        return f"versions/{rel}.v{version}"

    def unpublish(self, rel: str, previous: str | None) -> None:
        """Nothing is taken back: the row stays discovered and the resume overwrites it."""
        return None

    def link_copy(self, source_rel: str, rel: str, part: str, size: int, sha256: str) -> str | None:
        """Publish ``rel`` as a server-side copy of identical stored bytes (a published object
        or a kept version), never through the crawler; returns ``"s3-copy"``, or None (publish
        normally) when the source is gone, of another size, not recorded with this sha256, or
        cannot be copied (an archived storage class).

        Why a copy and not a content-addressed layout: every published object stays a plain
        object at its own path, readable by any S3 tool, with its own storage class and
        lifecycle (tiering) and its own quarantine, so retiring or quarantining one path never
        touches another's bytes. S3 bills each copy, so no stored bytes are saved: the catalog
        records the copy (``copy_method`` s3-copy) and ``capture storage dedup`` reports those
        bytes as duplicated (what a content-addressed layout would save), not as saved."""
        source = self.key(source_rel)
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=source)
            recorded = head.get("Metadata", {}).get("sha256")
            if int(head["ContentLength"]) != size or recorded != sha256:
                return None
            self.s3.copy(
                {"Bucket": self.bucket, "Key": source},
                self.bucket,
                self.key(rel),
                ExtraArgs={
                    # The source's digests (same bytes), and where they were copied from.
                    "Metadata": {**head.get("Metadata", {}), "copy-of": source},
                    "MetadataDirective": "REPLACE",
                    **self.conf.extra(),
                },
            )
            made = self.s3.head_object(Bucket=self.bucket, Key=self.key(rel))
        except Exception:
            return None
        if int(made["ContentLength"]) != size:
            return None  # the publication that follows replaces it
        self.discard(part)
        return "s3-copy"

    def dedupe(self, source_rel: str, rel: str, size: int, sha256: str) -> str | None:
        """Nothing to free afterwards: S3 has no links and bills every object (see
        :meth:`link_copy`)."""
        return None

    def identity(self, rel: str) -> str | None:
        """None: every S3 object holds (and is billed for) its own bytes."""
        return None

    def compress(self, part: str, size: int, sha256: str, plan: Plan) -> Encoded | None:
        """Encode the staged object into ``<staging key>.zst`` (a managed multipart upload fed
        from the stream: bounded memory), proven by reading it back from S3 and decoding it."""
        if not self.owns(part):
            return None  # a local listing file: never published through this store
        return encode(S3EncodeIO(self, part), size, sha256, plan)

    def discard(self, part: str) -> None:
        bucket, key = split_uri(part)
        for k in (key, key + ".json"):
            try:
                self.s3.delete_object(Bucket=bucket, Key=k)
            except Exception:
                pass

    def exists(self, rel: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.key(rel))
            return True
        except Exception:
            return False

    def scratch_copy(self, part: str, size: int | None) -> str | None:
        """Fetch the object to a local scratch file, unless it is bigger than
        ``scratch_max`` (None: transport checks only)."""
        if not self.owns(part):
            return part
        if size is not None and size > self.scratch_max:
            return None
        bucket, key = split_uri(part)
        target = self.scratch / key.replace("/", "_")
        target.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(bucket, key, str(target))
        return str(target)

    def drop_scratch(self, path: str | None, part: str) -> None:
        if path and path != part:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def read(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        """``GetObject``'s streaming body, ``chunk_size`` at a time (never the whole object)."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key(rel))["Body"]
        except self.s3.exceptions.NoSuchKey as exc:
            raise FileNotFoundError(f"{self.uri(rel)}: no such object") from exc
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def walk(self, top: str) -> Iterator[StoredObject]:
        start = len(self.key("")) + 1 if self.prefix else 0
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.key(top.strip("/")) + "/"
        )
        for page in pages:
            for obj in page.get("Contents", []):
                yield StoredObject(obj["Key"][start:], int(obj["Size"]))

    def quarantine_stored(self, rel: str, reason: dict[str, Any]) -> str:
        """Server-side move to ``quarantine/`` (the published object is removed)."""
        target = self.key(rel, "quarantine")
        self.s3.copy(
            {"Bucket": self.bucket, "Key": self.key(rel)},
            self.bucket,
            target,
            ExtraArgs=self.conf.extra() or None,
        )
        self.s3.delete_object(Bucket=self.bucket, Key=self.key(rel))
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.key(rel, "quarantine", ".reason.json"),
            Body=json.dumps(reason, indent=2, default=str).encode(),
            **self.conf.extra(),
        )
        return self.uri(rel, "quarantine")


class S3EncodeIO:
    """:class:`~capture.storage.compress.EncodeIO` over a staged S3 object."""

    def __init__(self, store: S3Store, part: str):
        self.store = store
        self.s3 = store.s3
        self.bucket, self.key = split_uri(part)
        self.encoded = part + ".zst"

    def _chunks(self, key: str, chunk_size: int) -> Iterator[bytes]:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def read_range(self, offset: int, length: int) -> bytes:
        reply = self.s3.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={offset}-{offset + length - 1}"
        )
        return bytes(reply["Body"].read())

    def read_part(self, chunk_size: int) -> Iterator[bytes]:
        return self._chunks(self.key, chunk_size)

    def write_encoded(self, chunks: Iterator[bytes]) -> str:
        self.s3.upload_fileobj(
            ChunkReader(chunks),
            self.bucket,
            self.key + ".zst",
            ExtraArgs=self.store.conf.extra() or None,
        )
        return self.encoded

    def read_encoded(self, chunk_size: int) -> Iterator[bytes]:
        return self._chunks(self.key + ".zst", chunk_size)

    def drop_encoded(self) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.key + ".zst")
