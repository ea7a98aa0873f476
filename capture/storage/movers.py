"""Moving a stored file's bytes between tiers, and back on an explicit restore.

* **Local** (:class:`LocalMover`): ``hot`` is the data root, ``cold`` is ``CAPTURE_COLD_DIR``
  (usually another filesystem, so a rename is not possible). A move copies the bytes into the
  cold root while hashing them, fsyncs, checks the sha256 against the catalog, reads the copy
  back and hashes it again, and only then renames it into place; the hot copy is removed by
  :meth:`LocalMover.release` *after* the catalog has recorded the new location, so a crash
  leaves two copies, never none. Every open, rename and unlink walks from its root with
  ``O_NOFOLLOW`` (:mod:`capture.safefs`): a planted symlink cannot redirect a write.
* **S3** (:class:`S3Mover`): an in-place server-side copy with the new ``StorageClass``
  (``CopyObject``, ``MetadataDirective=COPY``, ``CopySourceIfMatch`` on the ETag read just
  before; objects over 5 GiB by a multipart copy with the metadata passed on). Chosen over
  lifecycle rules because rules act on prefixes, tags and object age, not on last access or
  reproducibility, and run at S3's pace (a day or more), so the catalog could not say where a
  file is. The object's new class is read back (``HeadObject``) before the catalog says so.
  On a versioned bucket the copy leaves the old version behind: expire noncurrent versions.
  Deep Archive (and Glacier Flexible) objects are restored with ``RestoreObject`` and copied
  back to Standard once the temporary copy is readable; only ``capture storage restore`` does.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from capture import safefs
from capture.paths import DataRoot, UnsafePathError, safe_relpath
from capture.storage.tiers import NEEDS_RESTORE, Tier
from capture.transfer.sink import fsync_dir

if TYPE_CHECKING:
    from capture.storage.s3 import S3Store

CHUNK = 8 * 1024 * 1024
#: Largest object ``CopyObject`` copies in one request; bigger ones take a multipart copy.
COPY_OBJECT_MAX = 5 * 1024**3


class TierError(Exception):
    """A file could not be moved or restored (its bytes are left where they were)."""


@dataclass
class Moved:
    #: Where the bytes are now (None: the store's default place).
    location: str | None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Restored:
    #: restored | requested (an archive restore is under way) | pending
    state: str
    detail: dict[str, Any] = field(default_factory=dict)


def _hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while chunk := os.read(fd, CHUNK):
        h.update(chunk)
    return h.hexdigest()


def copy_verified(
    src: Path, src_base: Path, dst: Path, dst_base: Path, tmp: Path, sha256: str | None
) -> str:
    """Copy ``src`` to ``dst`` through ``tmp`` (same directory tree as ``dst``): hash while
    copying, fsync, compare with the catalog's ``sha256``, read the copy back and hash it
    again, then rename into place durably. Returns the sha256. Nothing is left at ``tmp``."""
    fd_in = safefs.open_file(src, os.O_RDONLY, src_base)
    try:
        st = os.fstat(fd_in)
        safefs.unlink(tmp, dst_base)  # a stale temporary copy of an interrupted move
        fd_out = safefs.open_file(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, dst_base)
        try:
            h = hashlib.sha256()
            while chunk := os.read(fd_in, CHUNK):
                h.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd_out, view) :]
            os.utime(fd_out, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.fsync(fd_out)
            digest = h.hexdigest()
            if sha256 and digest != sha256:
                raise TierError(
                    f"{src} does not match the catalog (sha256 {digest}, catalog {sha256}): "
                    "not moved; run a fixity check"
                )
            if _hash_fd(fd_out) != digest:
                raise TierError(f"the copy of {src} read back differently: not moved")
        except BaseException:
            os.close(fd_out)
            safefs.unlink(tmp, dst_base)
            raise
        os.close(fd_out)
    finally:
        os.close(fd_in)
    safefs.replace(tmp, dst, dst_base, dst_base, durable=True)
    return digest


class LocalMover:
    """``hot`` (the data root) <-> ``cold`` (``CAPTURE_COLD_DIR``)."""

    def __init__(self, data: DataRoot, cold: Path | None):
        self.data = data
        self.cold = cold.expanduser().resolve() if cold else None

    def _cold_root(self) -> Path:
        if self.cold is None:
            raise TierError("no local cold tier: set CAPTURE_COLD_DIR (-s CAPTURE_COLD_DIR=DIR)")
        self.cold.mkdir(parents=True, exist_ok=True)
        return self.cold

    def _cold_path(self, row: dict[str, Any]) -> Path:
        """Where a file's bytes are in the cold root (refused outside it)."""
        cold = self._cold_root()
        location = row.get("location")
        path = Path(location) if location else cold / safe_relpath(row["path"])
        try:
            path.relative_to(cold)
        except ValueError:
            raise UnsafePathError(f"{path} is not inside the cold root {cold}") from None
        return path

    def move(self, row: dict[str, Any], target: Tier) -> Moved:
        if target.name != "cold":
            raise TierError(f"the local store has no tier {target.name!r} to move to")
        cold = self._cold_root()
        rel = safe_relpath(row["path"])
        dst = cold / rel
        tmp = dst.with_name(dst.name + ".tier-tmp")
        digest = copy_verified(self.data.final(rel), self.data.root, dst, cold, tmp, row["sha256"])
        return Moved(str(dst), {"method": "copy+fsync+verify", "sha256": digest})

    def release(self, row: dict[str, Any]) -> None:
        """Remove the hot copy of a file the catalog now places in the cold root."""
        final = self.data.final(safe_relpath(row["path"]))
        safefs.unlink(final, self.data.root)
        fsync_dir(final.parent)

    def restore(self, row: dict[str, Any], **_: Any) -> Restored:
        """Copy the cold bytes back into the data root (verified), for :meth:`release_cold`
        to remove once the catalog says the file is hot again."""
        src = self._cold_path(row)
        rel = safe_relpath(row["path"])
        tmp = self.data.resolve(rel, area=".partial", suffix=".restore", check=False)
        digest = copy_verified(
            src, self._cold_root(), self.data.final(rel), self.data.root, tmp, row["sha256"]
        )
        return Restored("restored", {"method": "copy+fsync+verify", "sha256": digest})

    def release_cold(self, row: dict[str, Any]) -> None:
        src = self._cold_path(row)
        cold = self._cold_root()
        safefs.unlink(src, cold)
        fsync_dir(src.parent)


class S3Mover:
    """Storage classes of the S3 store's objects, changed in place."""

    def __init__(self, store: S3Store):
        self.store = store
        self.s3 = store.s3

    def _head(self, key: str) -> dict[str, Any]:
        head: dict[str, Any] = self.s3.head_object(Bucket=self.store.bucket, Key=key)
        return head

    @staticmethod
    def _class(head: dict[str, Any]) -> str:
        return str(head.get("StorageClass") or "STANDARD")

    def _check(self, head: dict[str, Any], row: dict[str, Any], key: str) -> None:
        size, sha = row.get("size"), row.get("sha256")
        if size is not None and head["ContentLength"] != size:
            raise TierError(
                f"s3://{self.store.bucket}/{key} has {head['ContentLength']} bytes, "
                f"the catalog {size}: not moved"
            )
        meta = head.get("Metadata") or {}
        if sha and meta.get("sha256") and meta["sha256"] != sha:
            raise TierError(f"s3://{self.store.bucket}/{key} is not the catalog's file: not moved")

    def _copy(self, key: str, head: dict[str, Any], storage_class: str) -> None:
        source = {"Bucket": self.store.bucket, "Key": key}
        extra = self.store.conf.extra()
        if head["ContentLength"] <= COPY_OBJECT_MAX:
            self.s3.copy_object(
                Bucket=self.store.bucket,
                Key=key,
                CopySource=source,
                StorageClass=storage_class,
                MetadataDirective="COPY",
                CopySourceIfMatch=head["ETag"],
                **extra,
            )
            return
        # Multipart copy (UploadPartCopy): CreateMultipartUpload takes no MetadataDirective,
        # so the metadata and content type read just before are passed on explicitly.
        args: dict[str, Any] = {
            "StorageClass": storage_class,
            "Metadata": head.get("Metadata") or {},
            "CopySourceIfMatch": head["ETag"],
            **extra,
        }
        if head.get("ContentType"):
            args["ContentType"] = head["ContentType"]
        self.s3.copy(source, self.store.bucket, key, ExtraArgs=args)

    def _set_class(self, row: dict[str, Any], storage_class: str) -> dict[str, Any]:
        key = self.store.key(row["path"])
        head = self._head(key)
        before = self._class(head)
        self._check(head, row, key)
        if before != storage_class:
            if before in NEEDS_RESTORE and not _restored(head):
                raise TierError(
                    f"{self.store.uri(row['path'])} is in {before}: restore it first "
                    "(capture storage restore)"
                )
            self._copy(key, head, storage_class)
        after = self._head(key)
        if self._class(after) != storage_class or after["ContentLength"] != head["ContentLength"]:
            raise TierError(
                f"{self.store.uri(row['path'])}: S3 reports {self._class(after)} after the copy"
            )
        return {"method": "copy_object", "from_class": before, "etag": after.get("ETag")}

    def move(self, row: dict[str, Any], target: Tier) -> Moved:
        """The object stays at its key (``files.location`` stays NULL); ``files.tier`` says
        its class."""
        detail = self._set_class(row, target.name)
        return Moved(None, {"object": self.store.uri(row["path"]), **detail})

    def release(self, row: dict[str, Any]) -> None:
        """Nothing to remove: the object changed class in place."""

    def restore(self, row: dict[str, Any], *, days: int = 7, speed: str = "Standard") -> Restored:
        """Instant classes are copied back to Standard now. Archive classes get a
        ``RestoreObject`` first (``speed``: Expedited, Standard or Bulk; the temporary copy
        lives ``days``); once S3 reports it readable, the next call copies it to Standard."""
        key = self.store.key(row["path"])
        head = self._head(key)
        cls = self._class(head)
        if cls in NEEDS_RESTORE and not _restored(head):
            if head.get("Restore") is None:
                job = {"Days": days, "GlacierJobParameters": {"Tier": speed}}
                self.s3.restore_object(Bucket=self.store.bucket, Key=key, RestoreRequest=job)
                head = self._head(key)
                if not _restored(head):
                    return Restored("requested", {"class": cls, "days": days, "speed": speed})
            else:
                return Restored("pending", {"class": cls, "restore": head.get("Restore")})
        detail = self._set_class(row, "STANDARD")
        return Restored("restored", detail)

    def release_cold(self, row: dict[str, Any]) -> None:
        """Nothing to remove: the object changed class in place."""


def _restored(head: dict[str, Any]) -> bool:
    """Whether an archived object's temporary restored copy is readable now."""
    return 'ongoing-request="false"' in str(head.get("Restore") or "")
