"""Score one file: transport checks for everyone, then its format's scorer."""

from __future__ import annotations

import traceback
from dataclasses import asdict
from typing import Any

from capture.quality.model import Outcome, QualityReport, Severity, Tier
from capture.quality.registry import resolve
from capture.quality.scorers.base import Checks, ScoreContext
from capture.quality.scorers.transport import transport_checks


def score_file(
    ctx: ScoreContext, quality_threshold: float = 0.90, nasa_threshold: float = 0.92
) -> QualityReport:
    """Never raises: a scorer that crashes yields an ``error`` check (and so a quarantine)."""
    if not ctx.path:  # bytes not available locally (S3 object above the scratch limit)
        report = QualityReport(
            scorer="transport-only",
            quality_threshold=quality_threshold,
            nasa_threshold=nasa_threshold,
        )
        base = Checks()
        transport_checks(ctx, base)
        base.na(
            "content.scorer",
            Tier.CONFORMANCE,
            Severity.LOW,
            "content not fetched back from the store (larger than CAPTURE_S3_SCRATCH_MAX): "
            "score from transport checks only",
        )
        report.checks.extend(base.results)
        return report
    fmt, scorer = resolve(ctx)
    report = QualityReport(
        scorer=fmt or "transport-only",
        quality_threshold=quality_threshold,
        nasa_threshold=nasa_threshold,
    )
    base = Checks()
    try:
        transport_checks(ctx, base)
    except Exception as exc:
        base.add(
            "transport.checks",
            Tier.TRANSPORT,
            Severity.HIGH,
            Outcome.ERROR,
            f"{type(exc).__name__}: {exc}",
        )
    report.checks.extend(base.results)
    if scorer is None:
        report.checks.append(
            base.na(
                "content.scorer",
                Tier.CONFORMANCE,
                Severity.LOW,
                f"no content scorer for format {ctx.format or 'unknown'!r}: "
                "score from transport checks only",
            )
        )
        return report
    try:
        checks = scorer(ctx)
        report.checks.extend(checks.results)
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        report.checks.append(
            base.add(
                f"{fmt}.scorer",
                Tier.CONTAINER,
                Severity.HIGH,
                Outcome.ERROR,
                f"scorer crashed: {tb}"[:300],
            )
        )
    return report


def score_file_dict(
    ctx_data: dict[str, Any], quality_threshold: float, nasa_threshold: float
) -> dict[str, Any]:
    """Process-pool entry point: plain dicts in and out (picklable, version-proof)."""
    ctx = ScoreContext(**ctx_data)
    return score_file(ctx, quality_threshold, nasa_threshold).to_dict()


def context_dict(ctx: ScoreContext) -> dict[str, Any]:
    data = asdict(ctx)
    return data
