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
from pathlib import Path
from typing import Any

from capture import safefs
from capture.paths import DataRoot, UnsafePathError
from capture.transfer.sidecar import PartialState, trusted_base

NOTE_SUFFIX = ".reason.json"


class LocalStore:
    def __init__(self, data: DataRoot):
        self.data = data

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

    def retire(self, rel: str, version: int) -> str | None:
        """Move the published bytes of ``rel`` aside as version ``version`` (before a newer
        version replaces them); returns where they went, relative to the data root."""
        final = self.data.final(rel)
        if not safefs.is_file(final, self._root):
            return None
        target = self.data.resolve(rel, area="versions", suffix=f".v{version}")
        self._replace(final, target)
        return str(target.relative_to(self._root))

    def link_copy(self, source_rel: str, rel: str, part: str) -> bool:
        """Publish ``rel`` as a hard link to an identical stored file (content stored once).
        False when linking is impossible (other filesystem, missing or unsafe source): publish
        instead."""
        final = self.data.final(rel)
        try:
            source = self.data.final(source_rel)
            safefs.link(source, final, self._root)
        except (OSError, UnsafePathError):
            return False
        self.discard(part)
        return True

    def discard(self, part: str) -> None:
        safefs.unlink(part, trusted_base(part))
        PartialState.remove(part)

    def exists(self, rel: str) -> bool:
        return safefs.is_file(self.data.final(rel), self._root)
