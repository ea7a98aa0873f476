"""File operations that never follow a symlink below a trusted base directory.

Anyone who can write into the data root (a shared group directory, a compromised helper, a
restored backup) can plant a symlink where the crawl will write next: a ``.part`` file, a
sidecar journal, a quarantine note, a directory of the published tree. Following it would
write, create or rename files outside the data root. Checking with ``lstat`` first and then
opening by name leaves a window in which the link can be planted, so every operation here walks
the path one component at a time with ``openat(..., O_NOFOLLOW)`` from the base directory and
then acts on the last name relative to its parent's descriptor (``dir_fd``). Neither the walk
nor the final open, rename, link or unlink can be redirected by a symlink.

Directories are walked with ``O_PATH`` (Linux), which needs only search permission, so a base of
``/`` works even below directories the crawl may not list. The base itself is trusted: it is the
data root, which :meth:`capture.paths.DataRoot.at` resolves once when the crawl starts.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path

from capture.paths import UnsafePathError

_O_PATH = getattr(os, "O_PATH", 0)
_DIR_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC
ROOT = Path("/")


def _parts(path: str | os.PathLike[str], base: Path) -> tuple[str, ...]:
    """The components of ``path`` (made absolute and normalised) below ``base``. Plain
    string work: pathlib's version was 2% of a small-file crawl's GIL time (three calls per
    file); tests/test_hot_path.py holds it to ``Path.relative_to``'s answers."""
    absolute = os.path.abspath(path)
    root = os.fspath(base)
    if absolute.startswith("//"):  # POSIX keeps a leading "//" (its own root): pathlib decides
        try:
            return Path(absolute).relative_to(base).parts
        except ValueError:
            raise UnsafePathError(f"unsafe path: {path} is not inside {base}") from None
    if root == "/":
        rel = absolute[1:]
    elif absolute == root:
        rel = ""
    elif absolute.startswith(root) and absolute[len(root)] == "/" and os.path.isabs(root):
        rel = absolute[len(root) + 1 :]
    else:
        raise UnsafePathError(f"unsafe path: {path} is not inside {base}")
    return tuple(rel.split("/")) if rel else ()


def _label(parts: tuple[str, ...] | list[str], base: Path) -> str:
    return "/".join(parts) if base != ROOT else "/" + "/".join(parts)


def _refuse(dir_fd: int, name: str, parts: tuple[str, ...], upto: int, base: Path) -> None:
    """Raise :class:`UnsafePathError` if ``name`` in ``dir_fd`` is a symlink or not a dir."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return  # vanished meanwhile: the caller's own error says so
    component = _label(parts[: upto + 1], base)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(
            f"unsafe path: {_label(parts, base)} has a symlink component {component}"
        )
    if upto < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"path conflict: {component} is a file, not a directory")


class _DirCache:
    """Descriptors of directories this process has already walked safely, reused by later walks.

    Why: a small file's write, rename, fsync and checks walk the same few directories again
    and again (~40 ``openat``/``close`` per file). In an IO thread every syscall releases and
    retakes the GIL, which the reactor thread holds most of the time, so each one can wait for
    the interpreter's switch interval. A cached descriptor was itself opened by a no-follow
    walk, so starting from it cannot be redirected by a link planted later either.

    Callers get a ``dup`` (theirs to close), so an eviction never closes a descriptor in use.
    A directory removed since it was cached (``st_nlink == 0``) is dropped and walked again.
    A directory *renamed* while cached keeps receiving the files walked through it until the
    entry is evicted; nothing here renames directories, and moving a data root under a running
    crawl is not supported.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self._fds: OrderedDict[tuple[str, tuple[str, ...]], int] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: tuple[str, tuple[str, ...]]) -> int | None:
        """A new descriptor of the cached directory ``key``, or None."""
        with self._lock:
            fd = self._fds.get(key)
            if fd is None:
                return None
            self._fds.move_to_end(key)
            mine = os.dup(fd)
        if os.fstat(mine).st_nlink == 0:  # removed since: forget it
            os.close(mine)
            self.drop(key)
            return None
        return mine

    def keep(self, key: tuple[str, tuple[str, ...]], fd: int) -> None:
        """Cache a copy of ``fd`` (the caller keeps its own)."""
        copy = os.dup(fd)
        with self._lock:
            old = self._fds.pop(key, None)
            self._fds[key] = copy
            evicted = [self._fds.popitem(last=False)[1] for _ in range(len(self._fds) - self.size)]
        for stale in [*evicted, *([old] if old is not None else [])]:
            os.close(stale)

    def drop(self, key: tuple[str, tuple[str, ...]]) -> None:
        with self._lock:
            fd = self._fds.pop(key, None)
        if fd is not None:
            os.close(fd)

    def clear(self) -> None:
        with self._lock:
            fds, self._fds = list(self._fds.values()), OrderedDict()
        for fd in fds:
            os.close(fd)

    def _after_fork(self) -> None:
        # The child inherits the descriptors but maybe not a usable lock: start afresh.
        self._lock = threading.Lock()
        self._fds = OrderedDict()


_DIRS = _DirCache()
os.register_at_fork(after_in_child=_DIRS._after_fork)


def _open_dir(base: Path, parts: tuple[str, ...], depth: int, create: bool) -> int:
    """Descriptor of the directory ``base/parts[:depth]``, walked without following links
    (from the deepest directory of that path already walked, see :class:`_DirCache`)."""
    root = os.fspath(base)
    start, fd = 0, None
    for i in range(depth, 0, -1):
        fd = _DIRS.take((root, parts[:i]))
        if fd is not None:
            start = i
            break
    if fd is None:
        fd = os.open(base, (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i in range(start, depth):
            name = parts[i]
            try:
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass  # created meanwhile (another transfer): open it like any other
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP):
                    _refuse(fd, name, parts, i, base)
                raise
            os.close(fd)
            fd = nxt
        if start < depth and depth > 0:
            _DIRS.keep((root, parts[:depth]), fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def parent_dir(
    path: str | os.PathLike[str], base: Path = ROOT, *, create: bool = False
) -> Iterator[tuple[int, str]]:
    """``(descriptor of the parent directory, last name)`` of ``path``, walked safely.

    ``create`` makes missing directories (``mkdir -p`` that cannot be led outside ``base``).
    """
    parts = _parts(path, base)
    if not parts:
        raise UnsafePathError(f"unsafe path: {path} is the base directory itself")
    fd = _open_dir(base, parts, len(parts) - 1, create)
    try:
        yield fd, parts[-1]
    finally:
        os.close(fd)


def refuse_link(dir_fd: int, name: str, path: str | os.PathLike[str], base: Path = ROOT) -> None:
    """Raise :class:`UnsafePathError` when ``name`` (in ``dir_fd``) exists as a symlink."""
    parts = _parts(path, base)
    _refuse(dir_fd, name, parts, len(parts) - 1, base)


def open_at(dir_fd: int, name: str, flags: int, path: str | os.PathLike[str], base: Path) -> int:
    """``os.open`` of ``name`` with ``O_NOFOLLOW``: a symlink there is refused, not followed."""
    try:
        return os.open(name, flags | FILE_FLAGS, 0o644, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            refuse_link(dir_fd, name, path, base)
        raise


def open_file(path: str | os.PathLike[str], flags: int, base: Path = ROOT) -> int:
    """Open (creating parent directories when ``O_CREAT``) without following any symlink."""
    with parent_dir(path, base, create=bool(flags & os.O_CREAT)) as (dfd, name):
        return open_at(dfd, name, flags, path, base)


def read_bytes(path: str | os.PathLike[str], base: Path = ROOT, limit: int = 1 << 20) -> bytes:
    """At most ``limit`` bytes of a small file (journals), never read through a symlink."""
    fd = open_file(path, os.O_RDONLY, base)
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


def fsync_fd_dir(dir_fd: int) -> None:
    """fsync the directory behind an ``O_PATH`` descriptor (which cannot be fsync'ed itself)."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink(path: str | os.PathLike[str], base: Path = ROOT) -> None:
    """Remove a file (or a planted link itself, never its target); missing is fine."""
    try:
        with parent_dir(path, base) as (dfd, name):
            os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        pass


def is_file(path: str | os.PathLike[str], base: Path = ROOT) -> bool:
    """A regular file at ``path`` itself (a symlink is not one)."""
    try:
        with parent_dir(path, base) as (dfd, name):
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(st.st_mode)


def replace(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    src_base: Path = ROOT,
    dst_base: Path = ROOT,
    *,
    durable: bool = True,
    sync_data: bool = False,
) -> None:
    """Atomically rename ``src`` onto ``dst`` and make it durable (``durable``: fsync the
    directory; ``sync_data``: fsync the file's data first, for a file closed without fsync).

    A symlink already at ``dst`` is refused rather than replaced: our tree never holds links,
    so one there was planted, and failing loudly beats silently hiding it.
    """
    with (
        parent_dir(src, src_base) as (sfd, sname),
        parent_dir(dst, dst_base, create=True) as (
            dfd,
            dname,
        ),
    ):
        refuse_link(dfd, dname, dst, dst_base)
        st = os.stat(sname, dir_fd=sfd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"unsafe path: {src} is not a regular file")
        if sync_data:
            fd = os.open(sname, os.O_RDONLY | FILE_FLAGS, dir_fd=sfd)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
        if durable:
            fsync_fd_dir(dfd)


def sync_files(
    paths: Sequence[str | os.PathLike[str]],
    base: Path = ROOT,
    executor: Executor | None = None,
    *,
    names: Sequence[str | os.PathLike[str]] | None = None,
) -> None:
    """fsync each file, then once each directory holding one of them or one of ``names``
    (files whose data is durable already, whose new directory entries are not): a batch made
    durable at once.

    Files and directories are opened by the same no-follow walk as every write; one that
    vanished meanwhile (discarded, moved by another process) is skipped: there is nothing of
    it left to keep. With an ``executor`` the fsyncs of a batch run side by side: the
    filesystem journal commits concurrent fsyncs together (ext4/jbd2), where one after
    another each waits for its own commit.
    """
    every = [*paths, *(names or ())]
    dirs = list(dict.fromkeys(os.path.dirname(os.fspath(p)) or "." for p in every))
    if len(paths) > 1 and executor is not None:
        list(executor.map(functools.partial(_sync_file, base=base), paths))
    else:
        for path in paths:
            _sync_file(path, base)
    if len(dirs) > 1 and executor is not None:
        list(executor.map(functools.partial(_sync_dir, base=base), dirs))
    else:
        for parent in dirs:
            _sync_dir(parent, base)


def _sync_file(path: str | os.PathLike[str], base: Path) -> None:
    try:
        fd = open_file(path, os.O_RDONLY, base)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(parent: str, base: Path) -> None:
    parts = _parts(parent, base)
    try:
        fd = _open_dir(base, parts, len(parts), False)
    except FileNotFoundError:
        return
    try:
        fsync_fd_dir(fd)
    finally:
        os.close(fd)


def link(src: str | os.PathLike[str], dst: str | os.PathLike[str], base: Path = ROOT) -> None:
    """Hard-link ``src`` (a regular file, not a link) to the new name ``dst`` (replacing it)."""
    tmp = f"{os.fspath(dst)}.link"
    with parent_dir(src, base) as (sfd, sname), parent_dir(tmp, base, create=True) as (dfd, tname):
        st = os.stat(sname, dir_fd=sfd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(f"unsafe path: {src} is not a regular file")
        refuse_link(dfd, Path(dst).name, dst, base)
        try:
            os.unlink(tname, dir_fd=dfd)  # a stale temp (or a planted link: the link goes)
        except FileNotFoundError:
            pass
        os.link(sname, tname, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
        os.replace(tname, Path(dst).name, src_dir_fd=dfd, dst_dir_fd=dfd)
        fsync_fd_dir(dfd)


def write_atomic(path: str | os.PathLike[str], data: bytes, base: Path = ROOT) -> None:
    """Write ``data`` to ``path`` via ``<name>.tmp`` (created ``O_EXCL``) and a rename.

    The temp file is created, never opened, so a link planted at its name cannot be followed;
    a stale one from a crash is removed first (unlink removes a link, not its target).
    """
    with parent_dir(path, base, create=True) as (dfd, name):
        refuse_link(dfd, name, path, base)
        tmp = f"{name}.tmp"
        try:
            os.unlink(tmp, dir_fd=dfd)
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | FILE_FLAGS, 0o644, dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        fsync_fd_dir(dfd)
