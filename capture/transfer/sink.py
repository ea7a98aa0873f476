"""The disk side of a transfer: writes, hashes and checkpoints a ``.part`` file.

Every method here blocks and runs in an IO thread, never on the reactor thread. Calls for one
file are strictly sequential (the receiver keeps at most one write in flight), so no locking
is needed.

The part file and its directories are opened by a no-follow walk from the data root
(:mod:`capture.safefs`): a symlink planted at the part's path, at its journal's path or
at any directory above them is refused (:class:`LocalStorageError` naming the link, so the
file fails cleanly) and never followed, so no byte is written outside the data root.
"""

from __future__ import annotations

import os
from pathlib import Path

from capture import safefs
from capture.paths import UnsafePathError
from capture.transfer.basesink import BaseSink
from capture.transfer.errors import LocalStorageError, UnsafeLocalPath
from capture.transfer.sidecar import PartialState, sidecar_path, trusted_base

IOV_MAX = 1024


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSink(BaseSink):
    #: A small body is written by an IO thread after its response returns (the handler's
    #: ``_write_after``): nothing is on disk before the first write.
    write_after = True
    #: Errors an interrupted transfer's last write or checkpoint may hit and still close.
    suspend_tolerates = (OSError,)

    def __init__(
        self, part: str, algorithms: list[str], checkpoint_bytes: int, *, sync: bool = True
    ):
        # A sink for a file known to have no partial data yet (``start_clean``) opens its file
        # lazily, in the first IO job, so a small file costs one thread hand-off in total.
        super().__init__(algorithms)
        self.part = Path(part)
        self.checkpoint_bytes = max(1, checkpoint_bytes)
        self.fd: int | None = None
        self._last_checkpoint = 0
        # The data is always fsynced at :meth:`finish`, in the IO job that writes it, on the
        # descriptor already open: a later batch fsync cost a job, a no-follow open walk and a
        # GIL hand-off per file. ``sync=False`` (a file new to the catalog) leaves only the
        # directory entry of its published name to the metadata stage, which fsyncs each
        # directory of a batch once before the catalog commit that says its files are stored.
        self.defer_dir = not sync

    # -- preparation -----------------------------------------------------------------------
    def prepare(self, fresh: bool) -> tuple[int, PartialState | None]:
        """Open the part file and return ``(offset, state)`` to resume from.

        The offset is the sidecar's *durable* offset, never the file's apparent size: bytes past
        the last fsync may be garbage after a power loss. The prefix is re-hashed so digests
        still cover the whole file.
        """
        try:
            state = None if fresh else PartialState.load(self.part)
            self.fd = self._open(os.O_RDWR | os.O_CREAT)
            on_disk = os.fstat(self.fd).st_size
            offset = 0
            if state is not None and state.resumable():
                offset = min(state.durable_offset, on_disk)
            if offset == 0:
                state = None
                PartialState.remove(self.part)
            os.ftruncate(self.fd, offset)
            self.hasher.reset()
            if offset:
                self.hasher.update_from_file(self.fd, offset)
            os.lseek(self.fd, offset, os.SEEK_SET)
        except LocalStorageError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise LocalStorageError(f"cannot prepare {self.part}: {exc}") from exc
        self.state = state
        self.size = self._last_checkpoint = offset
        return offset, state

    def start_clean(self) -> tuple[int, None]:
        """Begin at byte 0 without touching the disk yet (the file is opened on first use)."""
        super().start_clean()
        self._last_checkpoint = 0
        # No journal will exist unless a checkpoint writes one: opening removes a stray one.
        self.journaled = False
        return 0, None

    def _ensure_open(self) -> None:
        if self.fd is None and self._lazy:
            self._lazy = False
            # A stale journal must not outlive its data: removed in the same directory walk.
            self.fd = self._open(os.O_RDWR | os.O_CREAT | os.O_TRUNC, drop_journal=True)
            self.journaled = False

    def _open(self, flags: int, *, drop_journal: bool = False) -> int:
        """Open the part file (creating its directories) without following any link; a link
        planted at its journal's path is refused as well (journals are only replaced, never
        followed, but a link there means someone is tampering with the partial area)."""
        base = trusted_base(self.part)
        journal = sidecar_path(self.part)
        try:
            with safefs.parent_dir(self.part, base, create=True) as (dfd, name):
                safefs.refuse_link(dfd, journal.name, journal, base)
                if drop_journal:
                    try:
                        os.unlink(journal.name, dir_fd=dfd)
                    except FileNotFoundError:
                        pass
                return safefs.open_at(dfd, name, flags, self.part, base)
        except UnsafePathError as exc:
            raise UnsafeLocalPath(str(exc)) from exc

    def restart(self) -> None:
        """Throw away what we have (server ignored Range, or the object changed)."""
        self._ensure_open()
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self._forget()
        self._last_checkpoint = 0
        PartialState.remove(self.part)

    # -- streaming -------------------------------------------------------------------------
    def write(self, chunks: list[bytes], *, hashed: bool = False) -> None:
        """Append ``chunks`` (hashing them on the way unless ``hashed``: already done)."""
        try:
            self._ensure_open()
            assert self.fd is not None
            # Hashing runs alongside the write below.
            hashing = None if hashed else self.hasher.update_many(chunks)
            for i in range(0, len(chunks), IOV_MAX):
                batch = chunks[i : i + IOV_MAX]
                total = sum(len(c) for c in batch)
                written = os.writev(self.fd, batch)
                if written != total:  # short write: finish it the slow way
                    data = b"".join(batch)[written:]
                    while data:
                        n = os.write(self.fd, data)
                        data = data[n:]
                self.size += total
            if hashing is not None:
                hashing.result()  # digests must cover this batch before we report progress
            if (
                self.state is not None
                and self.size - self._last_checkpoint >= self.checkpoint_bytes
            ):
                self.checkpoint()
        except OSError as exc:
            raise LocalStorageError(f"cannot write {self.part}: {exc}") from exc

    def checkpoint(self) -> None:
        """Make everything written so far durable and record it as the resume point."""
        if self.fd is None or self.state is None:
            return
        os.fdatasync(self.fd)
        self.state.durable_offset = self.size
        self.journaled = True
        self.state.save(self.part)
        self._last_checkpoint = self.size

    # -- ending (the order is BaseSink's) --------------------------------------------------
    def _keep(self) -> None:
        if self.fd is not None and self.state is not None and self.size > 0:
            self.checkpoint()

    def _seal(self) -> None:
        """fsync and close the complete part file."""
        try:
            self._ensure_open()
        except OSError as exc:
            raise LocalStorageError(f"cannot create {self.part}: {exc}") from exc
        assert self.fd is not None
        try:
            os.fsync(self.fd)
        except OSError as exc:
            raise LocalStorageError(f"cannot fsync {self.part}: {exc}") from exc
        finally:
            self.close()

    def discard(self) -> None:
        """Close and drop the part file and its journal."""
        self.close()
        for path in (self.part, sidecar_path(self.part)):
            safefs.unlink(path)  # never through a planted symlink

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            finally:
                self.fd = None
