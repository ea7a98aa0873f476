"""Atomic publication into the data root, and quarantine with the reason next to the file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from capture.paths import DataRoot
from capture.transfer.sidecar import PartialState
from capture.transfer.sink import fsync_dir


class LocalStore:
    def __init__(self, data: DataRoot):
        self.data = data

    def publish(self, part: str, rel: str, metadata: dict[str, str] | None = None) -> Path:
        """Rename the complete, fsync'ed part file into place and make the rename durable."""
        final = self.data.final(rel)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, final)
        fsync_dir(final.parent)
        PartialState.remove(part)
        return final

    def quarantine(self, part: str, rel: str, reason: dict[str, Any]) -> Path:
        """Move a file that failed verification aside, never into the published tree."""
        target = self.data.quarantine(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, target)
        note = target.with_name(target.name + ".reason.json")
        note.write_text(json.dumps(reason, indent=2, sort_keys=True, default=str))
        fsync_dir(target.parent)
        PartialState.remove(part)
        return target

    def retire(self, rel: str, version: int) -> str | None:
        """Move the published bytes of ``rel`` aside as version ``version`` (before a newer
        version replaces them); returns where they went, relative to the data root."""
        final = self.data.final(rel)
        if not final.is_file():
            return None
        target = self.data.resolve(rel, area="versions", suffix=f".v{version}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(final, target)
        fsync_dir(target.parent)
        return str(target.relative_to(self.data.root))

    def link_copy(self, source_rel: str, rel: str, part: str) -> bool:
        """Publish ``rel`` as a hard link to an identical stored file (content stored once).
        False when linking is impossible (other filesystem, missing source): publish instead."""
        source = self.data.final(source_rel)
        final = self.data.final(rel)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".link")
        try:
            if tmp.exists():
                tmp.unlink()
            os.link(source, tmp)
        except OSError:
            return False
        os.replace(tmp, final)
        fsync_dir(final.parent)
        self.discard(part)
        return True

    def discard(self, part: str) -> None:
        try:
            os.unlink(part)
        except FileNotFoundError:
            pass
        PartialState.remove(part)

    def exists(self, rel: str) -> bool:
        return self.data.final(rel).is_file()
