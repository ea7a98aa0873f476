"""DataCite Metadata Schema 4.5 records (JSON, the REST API's ``attributes`` shape).

The six mandatory properties: Identifier (no DOI is minted for a captured copy, so the
content's sha256 as a URN), Creator and Publisher (the archive), Title, PublicationYear (year
of capture) and ResourceType (Dataset). Recommended/optional ones carry the archive URL as an
``IsDerivedFrom`` related identifier, the archive path as an alternate identifier, size,
format, version and the collection date; the archive's dataset citation (capture/citation.py)
adds the DOIs it publishes as related identifiers (``IsPartOf`` the dataset, ``IsSupplementTo``
a publication) and its other ids (PDS ``DATA_SET_ID``, JWST proposal id) as alternate ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from capture.archives import media_type, publisher
from capture.citation import RELATION


def record(rec: dict[str, Any]) -> dict[str, Any]:
    pub = publisher(rec["archive"])
    year = (rec.get("retrieved_at") or "")[:4] or None
    ident = f"urn:sha256:{rec['sha256']}" if rec.get("sha256") else f"urn:capture:{rec['id']}"
    return {
        "identifiers": [{"identifier": ident, "identifierType": "URN"}],
        "creators": [{"name": pub["name"], "nameType": "Organizational"}],
        "titles": [{"title": f"{rec['archive_path'].rsplit('/', 1)[-1]} ({pub['name']})"}],
        "publisher": {"name": pub["name"], "schemeUri": pub["url"] or None},
        "publicationYear": int(year) if year and year.isdigit() else None,
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": rec.get("format") or "file"},
        "subjects": [{"subject": rec["domain"]}],
        "alternateIdentifiers": [
            {
                "alternateIdentifier": f"{rec['archive']}:{rec['archive_path']}",
                "alternateIdentifierType": "archive path",
            },
            *(
                {"alternateIdentifier": i["value"], "alternateIdentifierType": i["type"]}
                for i in (rec.get("citation") or {}).get("identifiers") or []
            ),
        ],
        "relatedIdentifiers": [
            {
                "relatedIdentifier": rec["url"],
                "relatedIdentifierType": "URL",
                "relationType": "IsDerivedFrom",
            },
            *cited(rec.get("citation")),
        ],
        "dates": [{"date": rec.get("retrieved_at"), "dateType": "Collected"}],
        "sizes": [f"{rec['size']} bytes"] if rec.get("size") is not None else [],
        "formats": [media_type(rec.get("format"))],
        "version": str(rec.get("version") or 1),
        "descriptions": [
            {
                "description": f"Captured by capture; quality "
                f"{(rec.get('quality') or {}).get('grade', 'not scored')}.",
                "descriptionType": "TechnicalInfo",
            }
        ],
    }


def cited(citation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The works the archive asks to cite, as related identifiers: the dataset DOI the file is
    part of (``IsPartOf``), publications the data supplement (``IsSupplementTo``)."""
    if not citation:
        return []
    works = [citation, *(citation.get("related") or [])]
    return [
        {
            "relatedIdentifier": w["doi"],
            "relatedIdentifierType": "DOI",
            "relationType": RELATION[w.get("kind", "dataset")],
            "resourceTypeGeneral": "Dataset" if w.get("kind", "dataset") == "dataset" else "Text",
        }
        for w in works
        if w.get("doi")
    ]


def write(records: Iterable[dict[str, Any]], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    data = [record(r) for r in records]
    out.write_text(
        json.dumps(
            {"data": [{"type": "dois", "attributes": d} for d in data]}, indent=2, default=str
        )
    )
    return out
