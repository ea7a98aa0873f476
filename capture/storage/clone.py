"""Identical bytes stored once on local disk: a hard link, else a reflink, always verified.

Why these two and no copy: a hard link shares the inode (no byte written, works on every
POSIX filesystem, but a filesystem caps the links per inode, 65,000 on ext4, and cannot link
across mounts); a reflink (``FICLONE``: btrfs, XFS, bcachefs, OCFS2) shares the blocks
copy-on-write. A plain copy would save nothing over publishing the verified part file the
crawl already holds, so when neither works the caller publishes normally.

Verification, because a link makes the new name hold whatever the source holds: the source is
opened without following links, must be a regular file of the catalog's size whose bytes hash
to the catalog's sha256 (read through that descriptor), and the new link is built under a
temporary name and checked to be that very inode, unmodified, before it is renamed into place.
A source missing, of another size or with other bytes is declined (None) and nothing changes.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
from pathlib import Path

from capture import safefs
from capture.paths import UnsafePathError

#: ``_IOW(0x94, 9, int)``: clone the whole source file (Linux >= 4.5).
FICLONE = 0x40049409
CHUNK = 1 << 20
HARDLINK, REFLINK = "hardlink", "reflink"
#: Link errors after which a reflink is worth trying (too many links, another mount, a
#: filesystem without hard links).
_TRY_REFLINK = frozenset({errno.EMLINK, errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP})


def sha256_fd(fd: int) -> str:
    """The sha256 of an open file's bytes from offset 0 (positional reads, bounded memory)."""
    h, offset = hashlib.sha256(), 0
    while chunk := os.pread(fd, CHUNK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def _sound(fd: int, size: int, sha256: str) -> os.stat_result | None:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return None
    return st if sha256_fd(fd) == sha256 else None


def _unchanged(fd: int, st: os.stat_result) -> bool:
    now = os.fstat(fd)
    return (now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)


def share(
    source: Path,
    dest: Path,
    base: Path,
    size: int,
    sha256: str,
    expect: os.stat_result | None = None,
) -> str | None:
    """Make ``dest`` hold ``source``'s bytes without storing them again (replacing ``dest``
    atomically); returns ``"hardlink"`` or ``"reflink"``, or None when the source is not the
    catalog's bytes or cannot be shared (then nothing was changed). ``expect``: what ``dest``
    was when it was checked; if it is another file by the time of the rename, it is kept."""
    try:
        with (
            safefs.parent_dir(source, base) as (sfd, sname),
            safefs.parent_dir(dest, base, create=True) as (dfd, dname),
        ):
            fd = safefs.open_at(sfd, sname, os.O_RDONLY, source, base)
            try:
                st = _sound(fd, size, sha256)
                if st is None:
                    return None
                return _link(fd, st, (sfd, sname), (dfd, dname), dest, base, expect)
            finally:
                os.close(fd)
    except (OSError, UnsafePathError):
        return None


def _link(
    fd: int,
    st: os.stat_result,
    src: tuple[int, str],
    dst: tuple[int, str],
    dest: Path,
    base: Path,
    expect: os.stat_result | None,
) -> str | None:
    (sfd, sname), (dfd, dname) = src, dst
    safefs.refuse_link(dfd, dname, dest, base)
    tmp = f"{dname}.link"
    _remove(dfd, tmp)  # a stale temp (or a planted link: the link goes, never its target)
    method = HARDLINK
    try:
        os.link(sname, tmp, src_dir_fd=sfd, dst_dir_fd=dfd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in _TRY_REFLINK or not _reflink(fd, dfd, tmp):
            return None
        method = REFLINK
    made = os.stat(tmp, dir_fd=dfd, follow_symlinks=False)
    same_inode = (made.st_dev, made.st_ino) == (st.st_dev, st.st_ino)
    if (method == HARDLINK and not same_inode) or made.st_size != st.st_size:
        _remove(dfd, tmp)
        return None
    if not _unchanged(fd, st) or not _still(dfd, dname, expect):
        _remove(dfd, tmp)  # written to or replaced meanwhile: not what was checked
        return None
    os.replace(tmp, dname, src_dir_fd=dfd, dst_dir_fd=dfd)
    safefs.fsync_fd_dir(dfd)
    return method


def _still(dfd: int, name: str, expect: os.stat_result | None) -> bool:
    if expect is None:
        return True
    try:
        now = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return (now.st_ino, now.st_size, now.st_mtime_ns) == (
        expect.st_ino,
        expect.st_size,
        expect.st_mtime_ns,
    )


def _reflink(fd: int, dfd: int, tmp: str) -> bool:
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | safefs.FILE_FLAGS, 0o644, dir_fd=dfd)
    try:
        fcntl.ioctl(out, FICLONE, fd)
        os.fsync(out)
    except OSError:
        os.close(out)
        _remove(dfd, tmp)
        return False
    os.close(out)
    return True


def _remove(dfd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        pass


def identity(path: Path, base: Path) -> str | None:
    """``device:inode`` of the regular file at ``path`` (never through a link), else None."""
    try:
        with safefs.parent_dir(path, base) as (dfd, name):
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except (OSError, UnsafePathError):
        return None
    return f"{st.st_dev}:{st.st_ino}" if stat.S_ISREG(st.st_mode) else None


def relink(source: Path, dest: Path, base: Path, size: int, sha256: str) -> str | None:
    """The retroactive pass: replace ``dest``'s own copy of ``source``'s bytes with a link,
    after re-hashing both (each must be the catalog's bytes). ``"linked"`` already: one inode."""
    same = identity(source, base)
    if same is not None and same == identity(dest, base):
        return "linked"
    try:
        fd = safefs.open_file(dest, os.O_RDONLY, base)
    except (OSError, UnsafePathError):
        return None
    try:
        st = _sound(fd, size, sha256)
    finally:
        os.close(fd)
    if st is None:
        return None
    return share(source, dest, base, size, sha256, expect=st)
