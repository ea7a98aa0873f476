"""Quality scoring: a tiered, explainable score for every captured file.

Construction (after compliance-checker, fitsverify/cfchecker and Frictionless): checks grouped
in tiers, each with a severity weight (compliance-checker's HIGH/MEDIUM/LOW = 3/2/1) and an
outcome. Transport and container checks are hard gates (a failure scores 0 and quarantines); a
failing embedded checksum is a gate too, an absent one only lowers confidence. Everything else
contributes to a weighted mean over the checks that *apply* (``not_applicable`` is excluded,
never counted as a pass), so each check's contribution to the score is exact and additive.
"""

from capture.quality.model import (
    CheckResult,
    Outcome,
    QualityReport,
    Severity,
    Tier,
    grade_for,
)

__all__ = ["CheckResult", "Outcome", "QualityReport", "Severity", "Tier", "grade_for"]
