"""Log files on a full disk: one line saying so, not a traceback per log record.

The run's log file lives in the data root (``capture run``) or wherever ``LOG_FILE`` points.
When that filesystem fills up, :meth:`logging.Handler.handleError` prints "--- Logging error
---" and a traceback for every later record, burying the one ERROR line that says the disk is
full. Each file handler of the root logger gets a ``handleError`` that, on ENOSPC/EDQUOT, says
once on stderr that the log file stopped and stops writing to it (the console still gets every
line); any other logging error keeps the standard behaviour.
"""

from __future__ import annotations

import logging
import sys
import types

from capture.outcomes import is_disk_full

_GUARDED = "_capture_disk_full_guard"


def _handle_error(self: logging.FileHandler, record: logging.LogRecord) -> None:
    error = sys.exc_info()[1]
    if error is None or not is_disk_full(error):
        logging.FileHandler.handleError(self, record)
        return
    if not getattr(self, "_capture_stopped", False):
        self._capture_stopped = True  # type: ignore[attr-defined]
        self.setLevel(logging.CRITICAL + 1)  # nothing more to a file that cannot grow
        print(
            f"capture: the log file {self.baseFilename} stopped: its disk is full ({error}); "
            "later lines are not in it",
            file=sys.stderr,
        )


def guard_log_files(logger: logging.Logger | None = None) -> int:
    """Install the disk-full guard on every file handler of ``logger`` (default: root)."""
    guarded = 0
    for handler in (logger or logging.getLogger()).handlers:
        if isinstance(handler, logging.FileHandler) and not getattr(handler, _GUARDED, False):
            handler.handleError = types.MethodType(_handle_error, handler)  # type: ignore[method-assign]
            setattr(handler, _GUARDED, True)
            guarded += 1
    return guarded
