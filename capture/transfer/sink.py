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
from capture.transfer.errors import LocalStorageError, UnsafeLocalPath
from capture.transfer.hashing import MultiHasher
from capture.transfer.sidecar import PartialState, sidecar_path, trusted_base

IOV_MAX = 1024


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileSink:
    def __init__(
        self, part: str, algorithms: list[str], checkpoint_bytes: int, *, sync: bool = True
    ):
        # A sink for a file known to have no partial data yet (``start_clean``) opens its file
        # lazily, in the first IO job, so a small file costs one thread hand-off in total.
        self._lazy = False
        self.part = Path(part)
        self.hasher = MultiHasher(algorithms)
        self.checkpoint_bytes = max(1, checkpoint_bytes)
        self.state: PartialState | None = None
        self.fd: int | None = None
        self.size = 0
        self._last_checkpoint = 0
        #: fsync at :meth:`finish`; False defers it to whoever records the file (the metadata
        #: stage fsyncs a batch of files before the catalog commit that says they are stored).
        self.sync = sync
        #: Whether a journal may exist next to the part (a clean sink removed any stray one
        #: when it opened the part, and writes one only at a checkpoint).
        self.journaled = True

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
        self._lazy = True
        self.state = None
        self.size = self._last_checkpoint = 0
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

    def bind(self, state: PartialState) -> None:
        """Attach the server object's validators (from the first full response)."""
        self.state = state

    def restart(self) -> None:
        """Throw away what we have (server ignored Range, or the object changed)."""
        self._ensure_open()
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.hasher.reset()
        self.size = self._last_checkpoint = 0
        self.state = None
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

    # -- ending ----------------------------------------------------------------------------
    def suspend(self, pending: list[bytes] | None = None) -> None:
        """The transfer was interrupted: keep every byte received for the retry's resume."""
        try:
            if pending:
                self.write(pending)
            if self.fd is not None and self.state is not None and self.size > 0:
                self.checkpoint()
        except OSError:
            pass
        finally:
            self.close()

    def complete(self, pending: list[bytes]) -> dict[str, str]:
        """Write the last buffered bytes, then :meth:`finish` (one IO job for small files)."""
        if pending:
            self.write(pending)
        return self.finish()

    def hash_all(self, chunks: list[bytes]) -> dict[str, str]:
        """Digests of a whole small body held in memory (no IO: safe on the reactor thread);
        :meth:`complete_hashed` then writes it."""
        for c in chunks:
            self.hasher.update(c)
        return self.hasher.hexdigests()

    def complete_hashed(self, chunks: list[bytes]) -> None:
        """Write a body :meth:`hash_all` already hashed, then :meth:`finish` (IO thread)."""
        try:
            if chunks:
                self.write(chunks, hashed=True)
        except BaseException:
            self.close()
            raise
        self.finish()

    def finish(self) -> dict[str, str]:
        """fsync (unless deferred, see ``sync``) and close the complete part file; return its
        digests."""
        try:
            self._ensure_open()
        except OSError as exc:
            raise LocalStorageError(f"cannot create {self.part}: {exc}") from exc
        assert self.fd is not None
        try:
            if self.sync:
                os.fsync(self.fd)
        except OSError as exc:
            raise LocalStorageError(f"cannot fsync {self.part}: {exc}") from exc
        finally:
            self.close()
        return self.hasher.hexdigests()

    def close(self) -> None:
        if self.fd is not None:
            try:
                os.close(self.fd)
            finally:
                self.fd = None
