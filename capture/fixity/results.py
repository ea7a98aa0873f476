"""What an audit can find for one stored location."""

from __future__ import annotations

from enum import StrEnum


class Result(StrEnum):
    """The ``fixity`` column's values and the ``result`` of a ``fixity`` event."""

    #: The bytes hash to what the catalog recorded.
    OK = "ok"
    #: Same size, different digest: bit rot or an overwrite. Moved to quarantine.
    CORRUPT = "corrupt"
    #: A different size (truncated or appended). Moved to quarantine.
    SIZE = "size"
    #: Nothing stored where the catalog says the bytes are.
    MISSING = "missing"
    #: The store would not give the bytes (permissions, a planted link, a network error): the
    #: row is left as it was and the next audit tries again.
    UNREADABLE = "unreadable"
    #: Bytes in the published tree that no catalog row or kept version points to.
    EXTRA = "extra"


#: Results an audit reports as problems (exit code 3).
PROBLEMS: frozenset[Result] = frozenset(Result) - {Result.OK}
#: The published bytes of the file are gone from the published tree after the audit: the row
#: is failed (missing) or quarantined (corrupt, size), and its next capture is a new version.
LOST: frozenset[str] = frozenset({Result.CORRUPT, Result.SIZE, Result.MISSING})
