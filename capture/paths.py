"""Safe mapping of archive paths into the data root.

A listing is untrusted input: an entry such as ``../../etc/x``, ``/etc/passwd``, ``a\\..\\b``,
``%2e%2e/x`` or full-width dots (U+FF0E, which NFKC folds to ``..``) must never make us
write outside the data root.
Every path goes through :func:`safe_relpath` when an item is validated and again through
:meth:`DataRoot.resolve` right before any file is created (defence in depth). Symlinks planted
inside the root are refused by :meth:`DataRoot.resolve` and, at the moment of writing, by the
no-follow walks of :mod:`capture.safefs`.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

MAX_SEGMENT_BYTES = 255
MAX_PATH_BYTES = 3000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Top-level names inside the data root that archives may not claim for themselves.
RESERVED_TOP = {".partial", ".capture", "quarantine", "versions", "checkpoints"}


class UnsafePathError(ValueError):
    """A listing entry that would escape the data root or is not a plausible file path."""


def _segments_ok(text: str, original: str) -> None:
    for seg in text.split("/"):
        if seg in ("", ".", ".."):
            raise UnsafePathError(f"unsafe path segment {seg!r} in {original!r}")


def safe_relpath(path: str) -> str:
    """Return ``path`` as a normalised relative POSIX path, or raise :class:`UnsafePathError`
    (see :func:`_safe_relpath`; answers are cached: a file's path is checked several times on
    its way, and domain and archive names repeat for every file)."""
    if not isinstance(path, str) or not path:
        raise UnsafePathError(f"empty or non-string path: {path!r}")
    return _safe_relpath(path)


@functools.lru_cache(maxsize=8192)
def _safe_relpath(path: str) -> str:
    """Return ``path`` as a normalised relative POSIX path, or raise :class:`UnsafePathError`.

    Leading ``./`` and duplicate slashes are tolerated (they are common in listings); traversal,
    absolute paths, control characters, backslashes and encodings that decode to any of those
    are refused, never "fixed".
    """
    if not isinstance(path, str) or not path:
        raise UnsafePathError(f"empty or non-string path: {path!r}")
    original = path
    if _CONTROL.search(path):
        raise UnsafePathError(f"control character in path {original!r}")
    if "\\" in path:
        raise UnsafePathError(f"backslash in path {original!r}")
    if path.startswith(("/", "~")) or (len(path) > 1 and path[1] == ":"):
        raise UnsafePathError(f"absolute path {original!r}")
    # Odd encodings: whatever a later decoder could turn the text into must also be safe. Plain
    # ASCII without a "%" (nearly every listed path) has no other form: unquote returns it
    # as it is, and NFC/NFKC leave ASCII unchanged.
    plain = path.isascii() and "%" not in path
    variants = (
        ()
        if plain
        else {unquote(path), unquote(unquote(path)), unicodedata.normalize("NFKC", path)}
    )
    for variant in variants:
        if variant == path:
            continue
        if "\\" in variant or variant.startswith(("/", "~")) or "\x00" in variant:
            raise UnsafePathError(f"path {original!r} decodes to an unsafe form {variant!r}")
        parts = variant.split("/")
        if any(p in (".", "..") for p in parts):
            raise UnsafePathError(f"path {original!r} decodes to a traversal {variant!r}")
    if not plain:
        path = unicodedata.normalize("NFC", path)
    while path.startswith("./"):
        path = path[2:]
    while "//" in path:
        path = path.replace("//", "/")
    path = path.rstrip("/")
    _segments_ok(path, original)
    for seg in path.split("/"):
        if len(seg.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise UnsafePathError(f"path segment too long in {original!r}")
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        raise UnsafePathError(f"path too long: {original[:80]!r}...")
    return path


@dataclass(frozen=True)
class DataRoot:
    """The data root and the places inside it (published tree, partial files, quarantine)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> DataRoot:
        path = Path(root).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        return cls(path.resolve())

    def relpath_for(self, domain: str, archive: str, archive_path: str) -> str:
        """Relative location of an archive file: ``<domain>/<archive>/<archive path>``."""
        rel = f"{safe_relpath(domain)}/{safe_relpath(archive)}/{safe_relpath(archive_path)}"
        if rel.split("/", 1)[0] in RESERVED_TOP:
            raise UnsafePathError(f"reserved top-level name in {rel!r}")
        return rel

    def resolve(
        self, rel: str, *, area: str | None = None, suffix: str = "", check: bool = True
    ) -> Path:
        """Absolute path of ``rel`` (optionally inside an area such as ``.partial``).

        With ``check`` (the default), refuses a path where any existing component below the
        root (the area, each directory, the final name) is a symlink: a link planted inside the
        tree must not redirect a write, a ``mkdir -p`` or a rename outside it. The root itself
        may be a link the user chose: :meth:`at` resolved it. This is a check before acting;
        the writes themselves go through :mod:`capture.safefs`, which walks the path
        with ``O_NOFOLLOW`` and so also closes the window between this check and the write.
        """
        rel = safe_relpath(rel)
        parts = [area, *rel.split("/")] if area else rel.split("/")
        parts[-1] += suffix
        if check:
            self._refuse_links(rel, parts)
        return self.root.joinpath(*parts)

    def _refuse_links(self, rel: str, parts: list[str]) -> None:
        probe = self.root
        for name in parts:
            probe = probe / name
            try:
                st = os.lstat(probe)
            except (FileNotFoundError, NotADirectoryError):
                return  # nothing further exists: nothing further can be a link
            if stat.S_ISLNK(st.st_mode):
                where = probe.relative_to(self.root).as_posix()
                raise UnsafePathError(f"unsafe path: {rel} has a symlink component {where}")

    def final(self, rel: str) -> Path:
        return self.resolve(rel)

    def partial(self, rel: str) -> Path:
        """Where ``rel`` downloads to. Not checked on disk here: this is computed when the
        request is built, long before the file is opened; :class:`~capture.transfer.sink.
        FileSink` opens it with a no-follow walk, which refuses links at the moment it matters
        (the transfer then fails with a clear error instead of this raising in request code)."""
        return self.resolve(rel, area=".partial", suffix=".part", check=False)

    def quarantine(self, rel: str) -> Path:
        return self.resolve(rel, area="quarantine")

    @property
    def internal(self) -> Path:
        """Private working area (listings, run state) that is not part of the dataset."""
        return self.root / ".capture"
