"""T0 transport checks (from what the transfer proved) and the error-page gate, for every file."""

from __future__ import annotations

from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext, looks_like_html


def transport_checks(ctx: ScoreContext, checks: Checks) -> None:
    if ctx.expected_size is None:
        checks.na("transport.size", Tier.TRANSPORT, Severity.HIGH, "archive published no size")
    else:
        checks.check(
            "transport.size",
            Tier.TRANSPORT,
            Severity.HIGH,
            ctx.size == ctx.expected_size,
            f"{ctx.size} bytes as published",
            f"{ctx.size} bytes, published {ctx.expected_size}",
        )
    if ctx.digest_verified is None:
        checks.na(
            "transport.publisher_digest",
            Tier.TRANSPORT,
            Severity.HIGH,
            "archive published no digest for this file",
        )
    else:
        checks.check(
            "transport.publisher_digest",
            Tier.TRANSPORT,
            Severity.HIGH,
            bool(ctx.digest_verified),
            f"{ctx.digest_algorithm} matches the publisher's",
            f"{ctx.digest_algorithm} differs from the publisher's",
        )
    checks.check(
        "transport.sha256",
        Tier.TRANSPORT,
        Severity.LOW,
        bool(ctx.sha256),
        "sha256 computed in-stream",
        "no sha256 recorded",
    )
    if ctx.length_verified is None:
        checks.na("transport.length", Tier.TRANSPORT, Severity.MEDIUM, "length not reported")
    elif ctx.length_verified:
        checks.passed(
            "transport.length",
            Tier.TRANSPORT,
            Severity.MEDIUM,
            "body length matched the server's announced length",
        )
    else:
        checks.add(
            "transport.length",
            Tier.TRANSPORT,
            Severity.MEDIUM,
            Outcome.ABSENT,
            "server sent no length (close-delimited body): completeness not proven",
        )
    if not ctx.path:
        return
    content_gates(ctx, checks, ctx.name)


def content_gates(ctx: ScoreContext, checks: Checks, name: str) -> None:
    """Gates on the bytes themselves: not an HTML page saved as data, not empty."""
    with checks.run("container.not_error_page", Tier.CONTAINER, Severity.HIGH):
        head = ctx.head(1024)
        # Only a file meant to be a web page may be one (an HTML 404 saved as result.xml is
        # an error page, not XML data).
        expected_html = ctx.format == "html" or name.lower().endswith((".html", ".htm"))
        is_html = looks_like_html(head) and not expected_html
        checks.check(
            "container.not_error_page",
            Tier.CONTAINER,
            Severity.HIGH,
            not is_html,
            "content is not an HTML page",
            "content is an HTML page, not "
            f"{name.rsplit('/', 1)[-1]} (an error or login page saved as data)",
        )
    with checks.run("container.nonempty", Tier.CONTAINER, Severity.HIGH):
        checks.check(
            "container.nonempty",
            Tier.CONTAINER,
            Severity.HIGH,
            (ctx.size or 0) > 0,
            "file is not empty",
            "file is empty",
        )
