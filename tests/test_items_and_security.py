from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itemadapter import ItemAdapter
from scrapy import Request
from scrapy.utils.test import get_crawler

from capture.credentials import WireCredentials
from capture.items import CapturedFile
from capture.secrets import MASK, secret_from_env
from capture.validation import _fast_valid, full_errors, item_errors
from middlewares.credentials import ArchiveCredentialsMiddleware
from middlewares.guard import ArchiveHostGuardMiddleware, OffArchiveRequest
from spiders.base import CaptureSpider, SpiderArgumentError


def item(**kw: object) -> dict:
    base = CapturedFile(
        archive="arc", domain="genomics", url="https://h/x", archive_path="x", path="genomics/arc/x"
    )
    data = ItemAdapter(base).asdict()
    data.update(kw)
    return data


def test_schema_accepts_a_discovered_item_and_names_bad_fields() -> None:
    assert item_errors(item()) == []
    errors = item_errors(item(domain="astrology", sha256="zz", status="done"))
    assert any(e.startswith("domain:") for e in errors)
    assert any(e.startswith("sha256:") for e in errors)
    assert any(e.startswith("status:") for e in errors)


def test_schema_forbids_stored_without_digest_or_with_failed_verification() -> None:
    assert item_errors(item(status="stored"))  # no size/sha256
    ok = item(status="stored", size=1, sha256="a" * 64)
    assert item_errors(ok) == []
    bad = item(
        status="stored",
        size=1,
        sha256="a" * 64,
        checksum={
            "algorithm": "md5",
            "expected": "b" * 32,
            "actual": "c" * 32,
            "source": "x",
            "verified": False,
        },
    )
    assert item_errors(bad)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 2**40)
    | st.floats(-2, 2)
    | st.text(max_size=70)
    | st.sampled_from(["stored", "md5", "sha256", "a" * 64, "2026-11-28T07:00:00Z", "genomics"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = sorted(item())


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([*FIELDS, "extra"]), JSON), max_size=4),
    st.sampled_from(["discovered", "stored", "quarantined", "failed"]),
)
def test_compiled_validator_agrees_with_jsonschema(changes: list, status: str) -> None:
    """The fast path must accept exactly what jsonschema accepts (it decides drops)."""
    data = item(status=status, size=10, sha256="b" * 64, retrieved_at="2026-11-28T07:00:00Z")
    for key, value in changes:
        data[key] = value
    assert _fast_valid(data) == (full_errors(data) == []), (data, full_errors(data))


class TokenSpider(CaptureSpider):
    name = "token_test"
    domain = "spectroscopy"
    default_base_url = "https://mast.stsci.edu"
    credentials = {"env": "CAPTURE_TEST_TOKEN", "header": "Authorization", "template": "token {}"}


def test_credentials_only_on_the_wire_copy_for_the_exact_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAPTURE_TEST_TOKEN", "s3cr3t-token-value")
    crawler = get_crawler(TokenSpider)
    crawler.spider = crawler._create_spider()
    wire = WireCredentials(crawler.spider)
    own = Request("https://mast.stsci.edu/api/v0.1/Download/file?uri=x")
    sent = wire.for_wire(own)
    assert sent.headers["Authorization"] == b"token s3cr3t-token-value"
    assert "Authorization" not in own.headers  # the request the crawl keeps has no secret
    for url in (
        "http://mast.stsci.edu/api/v0.1/Download/file?uri=x",  # https -> http: never
        "https://mast.stsci.edu:8443/x",  # another port
        "https://cdn.example.org/file",
    ):
        assert wire.for_wire(Request(url)).headers.get("Authorization") is None, url
    # Whoever puts the header on a request to another origin, it is stripped before sending.
    mw = ArchiveCredentialsMiddleware.from_crawler(crawler)
    other = Request("https://cdn.example.org/file", headers={"Authorization": "token leaked"})
    mw.process_request(other)
    assert "Authorization" not in other.headers


def test_secrets_are_masked_in_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CAPTURE_TEST_SECRET", "hunter2-very-secret")
    value = secret_from_env("CAPTURE_TEST_SECRET")
    logger = logging.getLogger("capture.test")
    with caplog.at_level(logging.INFO):
        logger.info("sending header %s to %s", f"token {value}", "host")
    assert "hunter2-very-secret" not in caplog.text and MASK in caplog.text


def test_guard_refuses_other_hosts() -> None:
    crawler = get_crawler(TokenSpider, settings_dict={"CAPTURE_EXTRA_ALLOWED_HOSTS": ["cdn.ok"]})
    crawler.spider = crawler._create_spider(base_url="http://127.0.0.1:9999")
    mw = ArchiveHostGuardMiddleware.from_crawler(crawler)
    assert mw.process_request(Request("http://127.0.0.1:9999/x")) is None
    assert mw.process_request(Request("https://cdn.ok/x")) is None
    with pytest.raises(OffArchiveRequest):
        mw.process_request(Request("https://mast.stsci.edu/x"))  # the mirror replaces the origin


@pytest.mark.parametrize(
    "base", ["sftp://host", "ftp://user:pw@host", "host-only", "http://user:pw@host", "http://"]
)
def test_bad_base_url_is_a_clear_error(base: str) -> None:
    with pytest.raises(SpiderArgumentError, match="base_url"):
        TokenSpider(base_url=base)


def test_item_dict_is_itemadapters_dict_and_a_deep_copy() -> None:
    """The hot-path conversion gives exactly what ItemAdapter gives, detached from the item."""
    from itemadapter import ItemAdapter

    from capture.items import CapturedFile, item_dict

    item = CapturedFile("arc", "genomics", "http://h/a", "a/b.vcf", expected_size=5)
    item.expect_digest("MD5", "AB" * 16, "current.tree")
    item.metadata = {"nested": {"list": [1, {"k": "v"}], "t": (1, 2)}, "n": None}
    item.quality = {"score": 1.0, "reasons": ["x"]}
    data = item_dict(item)
    assert data == ItemAdapter(item).asdict()
    data["metadata"]["nested"]["list"][1]["k"] = "changed"
    data["checksum"]["expected"] = "changed"
    assert item.metadata["nested"]["list"][1]["k"] == "v"
    assert item.checksum["expected"] == "ab" * 16
