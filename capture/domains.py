"""The nine domains of a round, their priority, and the spiders that serve each.

Priority follows the mission's order High > Medium > Low: the exoplanet and stellar data the
astrobiology questions start from first, then the environments and biochemistry that
interpret them, then the context datasets. A run's config may reorder it
(``priority_domains``).
"""

from __future__ import annotations

from capture.items import DOMAINS

PRIORITY: dict[str, str] = {
    "astronomy": "high",
    "spectroscopy": "high",
    "astrophysics": "high",
    "climate_science": "medium",
    "astrobiology": "medium",
    "genomics": "medium",
    "geochemistry": "low",
    "planetary_interior": "low",
    "software_ops": "low",
}
ORDER: tuple[str, ...] = tuple(
    sorted(
        DOMAINS,
        key=lambda d: (("high", "medium", "low").index(PRIORITY[d]), list(PRIORITY).index(d)),
    )
)

SPIDERS: dict[str, tuple[str, ...]] = {
    "astronomy": ("nasa_exoplanet_archive",),
    "astrophysics": ("phoenix", "kurucz"),
    "spectroscopy": ("jwst_mast", "psg"),
    "climate_science": ("rocke3d", "exocubed"),
    "astrobiology": ("kegg",),
    "genomics": ("thousand_genomes",),
    "geochemistry": ("noaa_paleo",),
    "planetary_interior": ("iris_emc", "pds_gravity"),
    # The system's own logs, catalog snapshot and reports: produced by `capture ops-bundle`
    # at the end of every run, not by a crawl.
    "software_ops": (),
}


def ordered(domains: list[str] | None = None, priority: list[str] | None = None) -> list[str]:
    """Domains to run, highest priority first (a config's priority_domains goes first)."""
    chosen = list(domains or ORDER)
    unknown = [d for d in chosen if d not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown domain(s) {unknown}; known: {', '.join(ORDER)}")
    rank: dict[str, int] = {}
    for d in [*(priority or []), *ORDER]:
        rank.setdefault(d, len(rank))
    return sorted(dict.fromkeys(chosen), key=lambda d: rank[d])
