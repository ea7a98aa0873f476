"""Download and storage budgets shared by every crawler of a run (one process).

Before a file is fetched the download stage asks the budget to *admit* it: a file whose size
the listing gave is admitted only if it fits entirely; a file of unknown size is admitted with
an allowance (the bytes left), which the transfer enforces as it streams, so the budget is
never overrun either way. When something no longer fits, the budget is exhausted: the crawl
stops scheduling downloads, ends cleanly, and the reason goes into the run summary. Files not
fetched stay ``discovered`` in the catalog, ready for a later run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from capture.config import CaptureSettings

_REGISTRY: dict[str, Budget] = {}
_LOCK = threading.Lock()


@dataclass
class Admission:
    ok: bool
    reserved: int = 0
    # Size unknown: the transfer charges every byte to the budget as it arrives and stops
    # (keeping its partial data) the moment the budget is used up.
    metered: bool = False
    reason: str | None = None
    budget_key: str | None = None


class Budget:
    def __init__(
        self, max_download: int | None, max_storage: int | None, stored: int = 0, key: str = ""
    ):
        self.key = key
        self.max_download = max_download
        self.max_storage = max_storage
        self.downloaded = 0
        self.stored = stored
        self.reserved = 0
        self.exhausted_reason: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, config: CaptureSettings, fallback_key: str, stored: int = 0) -> Budget | None:
        """The run's budget, shared by every crawler of the run in this process (keyed by
        CAPTURE_RUN_ID, else ``fallback_key``), or None when no limit is set."""
        max_dl = config.max_download_bytes or None
        max_st = config.max_storage_bytes or None
        if max_dl is None and max_st is None:
            return None
        key = config.run_id or fallback_key
        with _LOCK:
            budget = _REGISTRY.get(key)
            if budget is None:
                budget = _REGISTRY[key] = cls(max_dl, max_st, stored, key)
            return budget

    def remaining(self) -> int | None:
        limits = []
        if self.max_download is not None:
            limits.append(self.max_download - self.downloaded - self.reserved)
        if self.max_storage is not None:
            limits.append(self.max_storage - self.stored - self.reserved)
        return max(0, min(limits)) if limits else None

    def admit(self, expected: int | None) -> Admission:
        with self._lock:
            if self.exhausted_reason:
                return Admission(False, reason=self.exhausted_reason)
            left = self.remaining()
            if left is None:
                return Admission(True, budget_key=self.key)
            if expected is not None:
                if expected > left:
                    self.exhausted_reason = self._reason(expected, left)
                    return Admission(False, reason=self.exhausted_reason)
                self.reserved += expected
                return Admission(True, reserved=expected, budget_key=self.key)
            if left <= 0:
                self.exhausted_reason = self._reason(1, left)
                return Admission(False, reason=self.exhausted_reason)
            return Admission(True, metered=True, budget_key=self.key)

    def charge(self, n: int) -> bool:
        """Count ``n`` bytes of a metered transfer; False (budget exhausted) if they do not fit."""
        with self._lock:
            left = self.remaining()
            if left is not None and n > left:
                self.exhausted_reason = self.exhausted_reason or self._reason(n, left)
                return False
            self.downloaded += n
            return True

    def settle(self, admission: Admission, received: int, stored: int = 0) -> None:
        """Account what a transfer really took (and stored) and release its reservation."""
        with self._lock:
            self.reserved -= admission.reserved
            if not admission.metered:
                self.downloaded += received  # metered bytes were counted as they arrived
            self.stored += stored

    def exhaust(self, reason: str) -> None:
        with self._lock:
            self.exhausted_reason = self.exhausted_reason or reason

    def _reason(self, needed: int, left: int) -> str:
        which = []
        if self.max_download is not None:
            which.append(
                f"download budget {self.max_download} bytes ({self.downloaded} downloaded)"
            )
        if self.max_storage is not None:
            which.append(f"storage cap {self.max_storage} bytes ({self.stored} stored)")
        return (
            f"budget exhausted: next file needs {needed} bytes, {max(0, left)} left "
            f"({self.reserved} reserved by transfers in flight) under " + " and ".join(which)
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "max_download_bytes": self.max_download,
            "max_storage_bytes": self.max_storage,
            "downloaded_bytes": self.downloaded,
            "stored_bytes": self.stored,
            "exhausted": self.exhausted_reason,
        }


def lookup(key: str | None) -> Budget | None:
    if not key:
        return None
    with _LOCK:
        return _REGISTRY.get(key)


def forget(run_id: str) -> None:
    with _LOCK:
        _REGISTRY.pop(run_id, None)
