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

    def publish(self, part: str, rel: str) -> Path:
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

    def discard(self, part: str) -> None:
        try:
            os.unlink(part)
        except FileNotFoundError:
            pass
        PartialState.remove(part)

    def exists(self, rel: str) -> bool:
        return self.data.final(rel).is_file()
