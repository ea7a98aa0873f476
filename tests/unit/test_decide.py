"""The one decision engine (capture/catalog/decide.py): which validator says a file changed."""

from __future__ import annotations

from typing import Any

from capture.catalog.decide import Decision, decide


def row(**kw: Any) -> dict[str, Any]:
    base = {"state": "stored", "path": "p", "size": 10, "last_run": "r1"}
    return {**base, **kw}


def listing(**kw: Any) -> dict[str, Any]:
    return {"last_run": "r2", "expected_size": 10, **kw}


def test_digest_decides_and_reports_every_differing_validator() -> None:
    md5 = {"digest_algorithm": "md5"}
    dated = {"file_metadata": {"listing_modified": "2024-01-01"}}
    prev = row(digest_expected="a", **md5, **dated)
    same = listing(digest_expected="a", **md5, file_metadata={"listing_modified": "2025-01-01"})
    # A new listing date alone does not change a file whose publisher digest is the same.
    assert decide(prev, same, None) == Decision("unchanged")
    moved = listing(digest_expected="b", **md5, file_metadata={"listing_modified": "2025-01-01"})
    assert decide(prev, moved, None) == Decision("changed", ("digest", "listing_date"))
    resized = listing(digest_expected="a", expected_size=11, **md5)
    assert decide(prev, resized, None) == Decision("changed", ("size",))


def test_without_digest_size_then_listing_date_then_http_validators() -> None:
    assert decide(row(), listing(expected_size=9), None) == Decision("changed", ("size",))
    dated = row(file_metadata={"listing_modified": "2024-01-01"})
    later = listing(file_metadata={"listing_modified": "2024-02-01"})
    assert decide(dated, later, None) == Decision("changed", ("listing_date",))
    assert decide(row(etag='"x"'), listing(), None) == Decision("conditional")
    assert decide(row(), listing(), None) == Decision("refetch")


def test_states_before_validators() -> None:
    assert decide(row(state="discovered"), listing(), None).kind == "resume"
    assert decide(row(state="quarantined"), listing(), None).kind == "retry"
    assert decide(row(state="stored", last_run="r2"), listing(), None).kind == "duplicate"
    missing = decide(row(digest_expected="a"), listing(digest_expected="a"), lambda p, s: False)
    assert missing.kind == "refetch"
    # A retracted file listed again is compared with the copy still held.
    back = row(state="retracted", digest_expected="a", digest_algorithm="md5")
    assert decide(back, listing(digest_expected="a", digest_algorithm="md5"), None).kind == (
        "unchanged"
    )
