"""The score model: check results, tiers, weights, gates, grade."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from capture.settings import CAPTURE_NASA_GRADE_THRESHOLD as NASA_GRADE_THRESHOLD
from capture.settings import CAPTURE_QUALITY_THRESHOLD as QUALITY_THRESHOLD


class Tier(StrEnum):
    TRANSPORT = "T0_transport"
    CONTAINER = "T1_container"
    FIXITY = "T2_fixity"
    CONFORMANCE = "T3_conformance"
    METADATA = "T4_metadata"
    PLAUSIBILITY = "T5_plausibility"


GATE_TIERS = (Tier.TRANSPORT, Tier.CONTAINER)


class Severity(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def weight(self) -> int:
        return _WEIGHTS[self.value]


_WEIGHTS = {"HIGH": 3, "MEDIUM": 2, "LOW": 1}


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    ABSENT = "absent"  # the thing checked is not there (e.g. no CHECKSUM keyword)
    NOT_APPLICABLE = "not_applicable"
    # The checker itself failed (our bug or a library's limit): never counted as a defect of
    # the file, but a file whose content was not examined cannot be nasa_grade.
    ERROR = "error"


# Credit an outcome earns in the weighted mean. "absent" earns half: it lowers confidence
# without failing the file. not_applicable is excluded from the mean altogether.
CREDIT = {Outcome.PASS: 1.0, Outcome.FAIL: 0.0, Outcome.ABSENT: 0.5, Outcome.ERROR: 0.0}
_NOT_COUNTED = frozenset({Outcome.NOT_APPLICABLE, Outcome.ERROR})


@dataclass
class CheckResult:
    check_id: str
    tier: Tier
    severity: Severity
    outcome: Outcome
    message: str = ""
    location: str | None = None
    tool: str = "capture"
    tool_version: str = ""
    duration_ms: float = 0.0
    # Some checks are partial (e.g. 97% of values finite): credit in [0, 1] overrides CREDIT.
    credit: float | None = None

    @property
    def weight(self) -> int:
        return self.severity.weight

    @property
    def applicable(self) -> bool:
        """Counts in the weighted mean (a checker error says nothing about the file)."""
        return self.outcome not in _NOT_COUNTED

    @property
    def earned(self) -> float:
        if self.credit is not None:
            return max(0.0, min(1.0, self.credit))
        return CREDIT.get(self.outcome, 0.0)

    @property
    def is_gate_failure(self) -> bool:
        if self.outcome != Outcome.FAIL:
            return False
        return self.tier in GATE_TIERS or (
            self.tier == Tier.FIXITY and self.outcome == Outcome.FAIL
        )

    def to_dict(self) -> dict[str, Any]:
        # asdict()'s keys and order, without its recursive deep copy (every value is a scalar).
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data.update(
            tier=str(self.tier),
            severity=str(self.severity),
            outcome=str(self.outcome),
            weight=self.weight,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["tier"] = Tier(fields["tier"])
        fields["severity"] = Severity(fields["severity"])
        fields["outcome"] = Outcome(fields["outcome"])
        return cls(**fields)


def grade_for(score: float, gated: bool, quality_threshold: float, nasa_threshold: float) -> str:
    if gated or score < quality_threshold:
        return "quarantined"
    return "nasa_grade" if score >= nasa_threshold else "accepted"


@dataclass
class QualityReport:
    """Grades mean: ``quarantined`` = do not trust these bytes (a gate failed: integrity,
    container, fixity) or the score is below the threshold; ``accepted`` = trusted, with the
    shortfalls named; ``nasa_grade`` = trusted, content examined by a scorer without a checker
    error, and conformant."""

    scorer: str
    checks: list[CheckResult] = field(default_factory=list)
    quality_threshold: float = QUALITY_THRESHOLD
    nasa_threshold: float = NASA_GRADE_THRESHOLD
    #: Why no scorer examined the content (no scorer for the format, or it failed); None when
    #: a content scorer ran. Such a file is never nasa_grade.
    unexamined: str | None = None

    def _tally(self) -> _Tally:
        """Everything derived from ``checks``, computed in one pass and reused until a check
        is added (reports are built by appending, never by editing a recorded check)."""
        checks = self.checks
        cached: _Tally | None = self.__dict__.get("_cache")
        if cached is not None and cached.checks is checks and cached.count == len(checks):
            return cached
        tally = _Tally(checks, len(checks))
        self.__dict__["_cache"] = tally
        return tally

    @property
    def applicable(self) -> list[CheckResult]:
        return list(self._tally().applicable)

    @property
    def gate_failures(self) -> list[CheckResult]:
        return list(self._tally().gate_failures)

    @property
    def errors(self) -> list[CheckResult]:
        return list(self._tally().errors)

    @property
    def total_weight(self) -> int:
        return self._tally().total_weight

    def contribution(self, check: CheckResult) -> float:
        """This check's exact share of the score (contributions add up to the ungated score)."""
        total = self._tally().total_weight
        if not total or not check.applicable:
            return 0.0
        return check.weight * check.earned / total

    def loss(self, check: CheckResult) -> float:
        """Score lost by this check not passing fully."""
        total = self._tally().total_weight
        if not total or not check.applicable:
            return 0.0
        return check.weight * (1.0 - check.earned) / total

    @property
    def weighted_score(self) -> float:
        return self._tally().weighted_score

    @property
    def gated(self) -> bool:
        return bool(self._tally().gate_failures)

    @property
    def score(self) -> float:
        tally = self._tally()
        return 0.0 if tally.gate_failures else tally.weighted_score

    @property
    def grade(self) -> str:
        tally = self._tally()
        if not tally.applicable:
            return "quarantined"
        grade = grade_for(self.score, self.gated, self.quality_threshold, self.nasa_threshold)
        if grade == "nasa_grade" and (self.unexamined or tally.errors or tally.nonconformant):
            # Trusted bytes, but nobody looked inside, a checker failed, or the content
            # breaks its standard: the shortfall is named, the grade is not nasa_grade.
            return "accepted"
        return grade

    @property
    def nonconformant(self) -> list[CheckResult]:
        """Conformance checks that failed: the content breaks its format's standard (the
        bytes may still be trusted, the shortfall is named)."""
        return list(self._tally().nonconformant)

    def reasons(self, limit: int = 8) -> list[str]:
        """Why the file did not score 1.0 (or is not nasa_grade), most costly first; gates
        lead, then content not examined and checker errors (which are not file defects)."""
        tally = self._tally()
        out = [f"{c.check_id}{_at(c)}: {c.message}" for c in tally.gate_failures]
        if self.unexamined:
            out.append(f"content not examined: {self.unexamined}")
        out += [
            f"{c.check_id}{_at(c)}: checker failed (not a defect of the file): {c.message}"
            for c in tally.errors
        ]
        lossy = sorted(
            (
                c
                for c in tally.applicable
                if c.earned < 1.0 and not c.is_gate_failure and c.outcome != Outcome.ERROR
            ),
            key=self.loss,
            reverse=True,
        )
        out += [
            f"{c.check_id}{_at(c)} ({c.outcome}, -{self.loss(c):.3f}): {c.message}" for c in lossy
        ]
        return out[:limit]

    def summary(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "grade": self.grade, "reasons": self.reasons()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            **self.summary(),
            "weighted_score": self.weighted_score,
            "gated": self.gated,
            "unexamined": self.unexamined,
            "thresholds": {"quality": self.quality_threshold, "nasa_grade": self.nasa_threshold},
            "checks": [
                {**c.to_dict(), "contribution": round(self.contribution(c), 6)} for c in self.checks
            ],
        }


class _Tally:
    """The sums and subsets of one state of a report's checks (see ``QualityReport._tally``).

    The arithmetic is the model's definition, in the same order as ever: each applicable
    check's contribution ``weight x earned / total weight``, summed in check order, rounded to
    6 places."""

    __slots__ = (
        "applicable",
        "checks",
        "count",
        "errors",
        "gate_failures",
        "nonconformant",
        "total_weight",
        "weighted_score",
    )

    def __init__(self, checks: list[CheckResult], count: int):
        self.checks = checks
        self.count = count
        applicable = [c for c in checks if c.applicable]
        self.applicable = tuple(applicable)
        self.gate_failures = tuple(c for c in checks if c.is_gate_failure)
        self.errors = tuple(c for c in checks if c.outcome == Outcome.ERROR)
        self.nonconformant = tuple(
            c for c in checks if c.tier == Tier.CONFORMANCE and c.outcome == Outcome.FAIL
        )
        weights = [c.weight for c in applicable]
        total = sum(weights)
        self.total_weight = total
        # No applicable check: total is 0 and the sum is empty (0), as ever.
        self.weighted_score = round(
            sum(w * c.earned / total for w, c in zip(weights, applicable, strict=True)), 6
        )


def _at(check: CheckResult) -> str:
    """`` [HDU 2]``: where in the file a check looked, when it says."""
    return f" [{check.location}]" if check.location else ""
