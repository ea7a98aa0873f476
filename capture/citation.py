"""A file's dataset citation: what the archive publishes for citing the data a file belongs to.

Spiders fill ``CapturedFile.citation`` from what the archive really publishes (a study DOI in
NOAA's search JSON, a PDS label's ``DATA_SET_ID``, a netCDF ``repository_pid``...); the catalog
keeps it per file (``files.citation``, ``files.citation_doi``) and the exports and
``capture catalog cite`` render it. One shape for every archive (DataCite/CSL-JSON terms):

``doi``        the DOI to cite, bare (``10.25921/3ee7-kx97``), or None when none is published
``kind``       what ``doi``/``title`` name: ``dataset`` (the file is part of it) or
               ``publication`` (the file is data supplementing it)
``title``, ``authors`` (list of display names), ``publisher``, ``year``, ``version``, ``url``
``identifiers`` other ids of the cited dataset: ``[{"type": "PDS DATA_SET_ID", "value": ...}]``
``text``       the archive's own citation or acknowledgement text, verbatim
``related``    further works the archive asks to cite: ``[{"doi", "text", "kind"}]``
``source``     where in the archive's responses the citation was read (never invented)
"""

from __future__ import annotations

import re
from typing import Any

#: A DOI as the DOI handbook defines the syntax: directory indicator 10, registrant, suffix.
DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_PREFIXES = re.compile(r"^(?:doi:\s*|https?://(?:dx\.)?doi\.org/)", re.I)
#: DataCite relationType of the captured file to a cited work of each kind.
RELATION = {"dataset": "IsPartOf", "publication": "IsSupplementTo"}


def doi_of(value: Any) -> str | None:
    """``doi:10.1/x``, ``https://doi.org/10.1/x`` or ``10.1/x`` -> ``10.1/x``; else None."""
    if not isinstance(value, str):
        return None
    bare = _PREFIXES.sub("", value.strip()).strip()
    return bare if DOI.match(bare) else None


def make(**fields: Any) -> dict[str, Any]:
    """A citation from keyword fields, empty values dropped, the DOI normalised (a value that
    is not a DOI is an error: callers pass what the archive published, never a guess)."""
    if fields.get("doi") is not None:
        doi = doi_of(fields["doi"])
        if doi is None:
            raise ValueError(f"not a DOI: {fields['doi']!r}")
        fields["doi"] = doi
    fields.setdefault("kind", "dataset")
    if fields["kind"] not in RELATION:
        raise ValueError(f"citation kind must be one of {sorted(RELATION)}, got {fields['kind']!r}")
    return {k: v for k, v in fields.items() if v not in (None, "", [], {})}


def related(doi: Any = None, text: str | None = None, kind: str = "publication") -> dict[str, Any]:
    """One entry of ``related`` (a publication the archive asks to cite with the data)."""
    return make(doi=doi, text=text, kind=kind)


def doi_url(doi: str) -> str:
    return f"https://doi.org/{doi}"
