"""Atomic publication into the data root, and quarantine with the reason next to the file.

Invariant: no byte is written, no file created and nothing modified outside the data root, even
when someone planted symlinks inside it. Every path is checked by
:meth:`~capture.paths.DataRoot.resolve` (any symlink component, the final name included, is an
:class:`~capture.paths.UnsafePathError`) and every rename, link, write and unlink goes through
:mod:`capture.safefs`, which walks from the data root with ``O_NOFOLLOW`` so a link
planted between the check and the act is refused too. A symlink at a final name is refused,
not replaced: our tree never holds links, so one there was planted and must be looked at.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import capture.storage.clone as clone
from capture import safefs
from capture.config import SettingsError
from capture.paths import DataRoot, UnsafePathError
from capture.storage.base import StoredObject
from capture.storage.compress import Encoded, Plan, encode
from capture.transfer.errors import LocalStorageError
from capture.transfer.sidecar import PartialState, trusted_base
from capture.transfer.sink import FileSink, fsync_dir

if TYPE_CHECKING:
    from capture.config import CaptureSettings


NOTE_SUFFIX = ".reason.json"


class LocalStore:
    """The data root itself: parts in ``.partial/``, files published by rename."""

    remote = False

    def __init__(self, data: DataRoot):
        self.data = data

    @classmethod
    def from_settings(cls, uri: str, config: CaptureSettings, data: DataRoot) -> LocalStore:
        """``CAPTURE_STORE`` empty, ``file:`` or the data root's own path: the catalog and the
        files share one root, so another directory is refused rather than ignored."""
        path = urlsplit(uri).path if uri.startswith("file:") else uri
        if path and Path(path).expanduser().resolve() != data.root.resolve():
            raise SettingsError(
                f"CAPTURE_STORE={uri!r}: local files are stored in the data root "
                f"({data.root}); set CAPTURE_DATA_DIR to store them elsewhere"
            )
        return cls(data)

    def owns(self, location: str) -> bool:
        """Any local path (listing files in the private area included); never a URI."""
        return "://" not in location

    def part_location(self, rel: str) -> str:
        return str(self.data.partial(rel))

    def sink(
        self, part: str, algorithms: list[str], *, checkpoint_bytes: int, sync: bool
    ) -> FileSink:
        if not self.owns(part):
            raise LocalStorageError(f"{part} is not a local path: the configured store is local")
        return FileSink(part, algorithms, checkpoint_bytes, sync=sync)

    @property
    def _root(self) -> Path:
        return self.data.root

    def _replace(self, src: str | os.PathLike[str], dst: Path, **durability: bool) -> None:
        safefs.replace(src, dst, trusted_base(src), self._root, **durability)

    def publish(
        self,
        part: str,
        rel: str,
        metadata: dict[str, str] | None = None,
        *,
        durable: bool = True,
        sync_data: bool = False,
        journal: bool = True,
    ) -> Path:
        """Rename the complete part file into place.

        ``durable``: fsync the directory now (False: the caller syncs a batch of published
        files, :func:`capture.safefs.sync_files`, before recording them); ``sync_data``: the
        part was closed without fsync and must be synced first; ``journal``: a resume journal
        may exist and is removed. The destination is not pre-checked for links: the rename's
        no-follow walk refuses them (:class:`UnsafePathError`) at the moment it acts.
        """
        final = self.data.resolve(rel, check=False)
        self._replace(part, final, durable=durable, sync_data=sync_data)
        if journal:
            PartialState.remove(part)
        return final

    def quarantine(
        self, part: str, rel: str, reason: dict[str, Any], *, sync_data: bool = False
    ) -> Path:
        """Move a file that failed verification aside, never into the published tree.

        Both names are checked before anything moves, so a refused quarantine leaves the part
        where it was."""
        target = self.data.quarantine(rel)
        note = self.data.resolve(rel, area="quarantine", suffix=NOTE_SUFFIX)
        self._replace(part, target, sync_data=sync_data)
        text = json.dumps(reason, indent=2, sort_keys=True, default=str)
        safefs.write_atomic(note, text.encode(), self._root)
        PartialState.remove(part)
        return target

    def recorded(self, location: str | Path) -> str:
        """Relative to the data root, as the catalog records paths."""
        return str(Path(location).relative_to(self._root))

    def retire(self, rel: str, version: int) -> str | None:
        """Move the published bytes of ``rel`` aside as version ``version`` (before a newer
        version replaces them); returns where they went, relative to the data root."""
        final = self.data.final(rel)
        if not safefs.is_file(final, self._root):
            return None
        target = self.data.resolve(rel, area="versions", suffix=f".v{version}")
        self._replace(final, target)
        return str(target.relative_to(self._root))

    def link_copy(self, source_rel: str, rel: str, part: str, size: int, sha256: str) -> str | None:
        """Publish ``rel`` as a link to identical stored bytes (a published file or a kept
        version under ``versions/``): a hard link, else a reflink (:mod:`capture.storage.clone`,
        which re-hashes the source first). Returns how, or None when the source is missing,
        not the catalog's bytes, unsafe or cannot be linked: the caller publishes instead."""
        try:
            source, final = self.data.final(source_rel), self.data.final(rel)
        except UnsafePathError:
            return None
        method = clone.share(source, final, self._root, size, sha256)
        if method is not None:
            self.discard(part)
        return method

    def dedupe(self, source_rel: str, rel: str, size: int, sha256: str) -> str | None:
        """Replace the stored bytes of ``rel`` with a link to ``source_rel``'s identical ones
        (both re-hashed first); ``"linked"`` when they already are one inode, None when not
        done (either is not the catalog's bytes, or no link is possible)."""
        try:
            source, final = self.data.final(source_rel), self.data.final(rel)
        except UnsafePathError:
            return None
        return clone.relink(source, final, self._root, size, sha256)

    def identity(self, rel: str) -> str | None:
        """The inode (``device:inode``) of the regular file at ``rel``: hard links share it."""
        try:
            return clone.identity(self.data.final(rel), self._root)
        except UnsafePathError:
            return None

    def compress(self, part: str, size: int, sha256: str, plan: Plan) -> Encoded | None:
        """Encode the part at ``<part>.zst`` beside it when the trial pays, proven to decode
        to ``sha256`` (:mod:`capture.storage.compress`); the part itself is left for the caller
        to drop once the encoded one is published."""
        return encode(LocalEncodeIO(part), size, sha256, plan)

    def discard(self, part: str) -> None:
        safefs.unlink(part, trusted_base(part))
        PartialState.remove(part)

    def exists(self, rel: str) -> bool:
        return safefs.is_file(self.data.final(rel), self._root)

    def unpublish(self, rel: str, previous: str | None) -> bool:
        """Remove the published ``rel``, or put back the version it replaced (``previous``,
        relative to the data root); True if restored. A rename or unlink needs no free space,
        so this works on the full disk that made the catalog fail."""
        final = self.data.final(rel)
        if previous:
            safefs.replace(self._root / previous, final)  # fsyncs the directory
            return True
        if not safefs.is_file(final):
            return False
        safefs.unlink(final)
        fsync_dir(Path(final).parent)
        return False

    def scratch_copy(self, part: str, size: int | None) -> str | None:
        """Local parts are read in place."""
        return part

    def drop_scratch(self, path: str | None, part: str) -> None:
        """Nothing to drop: :meth:`scratch_copy` makes no copy."""

    def read(self, rel: str, chunk_size: int) -> Iterator[bytes]:
        """Read without following links (a link planted at ``rel`` is an UnsafePathError);
        pages already hashed are dropped from the page cache, so an audit of the whole root
        does not evict what the crawls are using."""
        path = self.data.resolve(rel, check=False)
        fd = safefs.open_file(path, os.O_RDONLY, self._root)
        try:
            _advise(fd, 0, os.POSIX_FADV_SEQUENTIAL)
            offset = 0
            while chunk := os.read(fd, chunk_size):
                yield chunk
                _advise(fd, offset, os.POSIX_FADV_DONTNEED, len(chunk))
                offset += len(chunk)
        finally:
            os.close(fd)

    def walk(self, top: str) -> Iterator[StoredObject]:
        base = self.data.resolve(top)
        if not base.is_dir():
            return
        for here, dirs, names in os.walk(base):
            rel_dir = Path(here).relative_to(self._root)
            for name in list(dirs):
                if os.path.islink(os.path.join(here, name)):
                    dirs.remove(name)  # os.walk would not descend; it must still be seen
                    names.append(name)
            for name in names:
                try:
                    st = os.lstat(os.path.join(here, name))
                except FileNotFoundError:
                    continue  # removed meanwhile
                kind = (
                    "file"
                    if stat.S_ISREG(st.st_mode)
                    else "symlink"
                    if stat.S_ISLNK(st.st_mode)
                    else "other"
                )
                yield StoredObject((rel_dir / name).as_posix(), st.st_size, kind)

    def quarantine_stored(self, rel: str, reason: dict[str, Any]) -> Path:
        final = self.data.final(rel)
        target = self.data.quarantine(rel)
        note = self.data.resolve(rel, area="quarantine", suffix=NOTE_SUFFIX)
        safefs.replace(final, target, self._root, self._root)
        text = json.dumps(reason, indent=2, sort_keys=True, default=str)
        safefs.write_atomic(note, text.encode(), self._root)
        return target


class LocalEncodeIO:
    """:class:`~capture.storage.compress.EncodeIO` over a local part in ``.partial/``: the
    encoded part sits beside it, both opened without following links."""

    def __init__(self, part: str):
        self.part = part
        self.encoded = part + ".zst"
        self.base = trusted_base(part)

    def _chunks(self, path: str, chunk_size: int) -> Iterator[bytes]:
        fd = safefs.open_file(path, os.O_RDONLY, self.base)
        try:
            while chunk := os.read(fd, chunk_size):
                yield chunk
        finally:
            os.close(fd)

    def read_range(self, offset: int, length: int) -> bytes:
        fd = safefs.open_file(self.part, os.O_RDONLY, self.base)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def read_part(self, chunk_size: int) -> Iterator[bytes]:
        return self._chunks(self.part, chunk_size)

    def write_encoded(self, chunks: Iterator[bytes]) -> str:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = safefs.open_file(self.encoded, flags, self.base)
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            self.drop_encoded()
            raise
        os.close(fd)
        return self.encoded

    def read_encoded(self, chunk_size: int) -> Iterator[bytes]:
        return self._chunks(self.encoded, chunk_size)

    def drop_encoded(self) -> None:
        safefs.unlink(self.encoded, self.base)


def _advise(fd: int, offset: int, advice: int, length: int = 0) -> None:
    try:
        os.posix_fadvise(fd, offset, length, advice)
    except (AttributeError, OSError):
        pass  # advice only (not every platform or filesystem takes it)
