"""When the archive last showed it is alive: an answer's headers, or body bytes arriving.

The circuit breaker (middlewares/circuit.py) closes a crawl whose archive went away after it had
answered only once nothing has come from it for a while; a multi-hour transfer whose bytes are
still flowing keeps the archive alive even when it refuses new connections (a per-client
connection cap). Receivers report what they saw on their periodic check, not per chunk.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from capture.config import SERVICES_ATTR


class Liveness:
    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last = monotonic()

    def touch(self, at: float | None = None) -> None:
        at = monotonic() if at is None else at
        if at > self.last:
            self.last = at

    def quiet_for(self, now: float | None = None) -> float:
        """Seconds since the archive last showed it is alive."""
        return (monotonic() if now is None else now) - self.last


def liveness_of(crawler: Any) -> Liveness | None:
    """The crawl's clock (on its services), or None in a bare test crawler."""
    return getattr(getattr(crawler, SERVICES_ATTR, None), "liveness", None)
