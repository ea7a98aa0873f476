"""The verdict a spider's ``inspect_file`` hook gives on a verified file it cannot vouch for.

Spiders raise it and the inspect stage (``pipelines/inspect.py``) quarantines the file with
its reasons; it lives in the core so that spiders never import the pipelines.
"""

from __future__ import annotations

from typing import Any


class InspectionProblem(Exception):
    """The file is not what the archive says it is (e.g. size differs from its label)."""

    def __init__(self, *reasons: str, metadata: dict[str, Any] | None = None):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)
        self.metadata = metadata or {}
