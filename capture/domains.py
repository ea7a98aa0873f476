"""The nine domains of a round, their priority, and the spiders that serve each.

Priority follows the mission's order High > Medium > Low: the exoplanet and stellar data the
astrobiology questions start from first, then the environments and biochemistry that
interpret them, then the context datasets. A run's ``priority_domains`` selects and orders
the domains it runs.

Which spider serves which domain is not kept here: each spider declares its ``domain``
(:class:`spiders.base.CaptureSpider`), and :func:`spiders_by_domain` reads the declarations
through Scrapy's spider loader, so a new spider joins its domain's round by existing.
"""

from __future__ import annotations

from capture.archives import declarations
from capture.items import DOMAINS

PRIORITY: dict[str, str] = {
    "astronomy": "high",
    "astrophysics": "high",
    "spectroscopy": "high",
    "climate_science": "high",
    "astrobiology": "medium",
    "genomics": "medium",
    "geochemistry": "medium",
    "planetary_interior": "low",
    "software_ops": "low",
}
#: The mission's order: by priority, then in :data:`PRIORITY`'s order (the mission's domain table).
ORDER: tuple[str, ...] = tuple(
    sorted(
        DOMAINS,
        key=lambda d: (("high", "medium", "low").index(PRIORITY[d]), list(PRIORITY).index(d)),
    )
)
#: The system's own logs, catalog snapshot and reports: produced by ``capture ops-bundle`` at
#: the end of every run, not by a crawl.
BUNDLE_DOMAINS = frozenset({"software_ops"})


def spiders_by_domain() -> dict[str, tuple[str, ...]]:
    by: dict[str, list[str]] = {d: [] for d in ORDER}
    for name, decl in declarations().items():
        by.setdefault(decl["domain"], []).append(name)
    return {d: tuple(names) for d, names in by.items()}


def spiders_of(domain: str) -> tuple[str, ...]:
    return spiders_by_domain().get(domain, ())


def ordered(domains: list[str] | None = None, priority: list[str] | None = None) -> list[str]:
    """Domains to run, in priority order.

    ``domains`` (``--domains``) selects; otherwise ``priority`` (the config's
    ``priority_domains``, the mission's "domains to acquire, in priority order") selects and
    orders; with neither, all nine in the mission's order. A selection is run in the
    ``priority`` order where it names the domain, then the mission's order.
    """
    chosen = list(domains or priority or ORDER)
    unknown = [d for d in [*chosen, *(priority or [])] if d not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown domain(s) {unknown}; known: {', '.join(ORDER)}")
    rank: dict[str, int] = {}
    for d in [*(priority or []), *ORDER]:
        rank.setdefault(d, len(rank))
    return sorted(dict.fromkeys(chosen), key=lambda d: rank[d])
