"""Render one catalog file's citation: plain text, BibTeX or CSL-JSON.

A citation of a *captured file* is the archive's dataset citation plus what makes the copy
reproducible: the file, its content version in the catalog, the access date and its sha256.
A file whose archive publishes no citation still gets one (the archive as publisher, the file
URL), marked so: nothing is made up (no DOI appears that the archive did not publish).
"""

from __future__ import annotations

import json
import re
from typing import Any

from capture.archives import publisher
from capture.citation import doi_url


def citation_of(rec: dict[str, Any]) -> dict[str, Any]:
    """The record's stored citation, or a minimal one naming only the archive."""
    stored = rec.get("citation")
    if isinstance(stored, str):
        stored = json.loads(stored)
    if stored:
        return dict(stored)
    pub = publisher(rec["archive"])
    return {
        "kind": "dataset",
        "publisher": pub["name"],
        "url": rec.get("url"),
        "source": "none published: the archive and file URL only",
    }


def _file_name(rec: dict[str, Any]) -> str:
    return str(rec["archive_path"]).rsplit("/", 1)[-1]


def _access_date(rec: dict[str, Any]) -> str | None:
    at = rec.get("retrieved_at")
    return str(at)[:10] if at else None


def facts(rec: dict[str, Any]) -> dict[str, Any]:
    """Everything a rendering needs, in one flat mapping (also the ``--format json`` extra)."""
    cit = citation_of(rec)
    return {
        "citation": cit,
        "file": rec["archive_path"],
        "path": rec.get("path"),
        "url": rec.get("url"),
        "archive": rec["archive"],
        "capture_version": rec.get("version") or 1,
        "accessed": _access_date(rec),
        "retrieved_at": rec.get("retrieved_at"),
        "sha256": rec.get("sha256"),
        "size": rec.get("size"),
    }


def text(rec: dict[str, Any]) -> str:
    """A human citation: authors (year). Title. Version. Publisher. DOI/URL; then the file."""
    f = facts(rec)
    cit = f["citation"]
    head: list[str] = []
    authors = "; ".join(cit.get("authors") or [])
    if authors:
        head.append(f"{authors} ({cit['year']})." if cit.get("year") else f"{authors}.")
    elif cit.get("year"):
        head.append(f"({cit['year']}).")
    if cit.get("title"):
        head.append(f"{cit['title']}.")
    if cit.get("version"):
        head.append(f"Version {cit['version']}.")
    if cit.get("publisher"):
        head.append(f"{cit['publisher']}.")
    if cit.get("doi"):
        head.append(doi_url(cit["doi"]))
    elif cit.get("url"):
        head.append(str(cit["url"]))
    lines = [" ".join(head)]
    for ident in cit.get("identifiers") or []:
        lines.append(f"  {ident['type']}: {ident['value']}")
    if cit.get("text"):
        lines.append(f"  Archive's citation text: {cit['text']}")
    for rel in cit.get("related") or []:
        ref = rel.get("text") or ""
        doi = f" https://doi.org/{rel['doi']}" if rel.get("doi") and rel["doi"] not in ref else ""
        lines.append(f"  Also cite ({rel.get('kind', 'publication')}): {ref}{doi}".rstrip())
    lines.append(
        f"  File: {f['file']} from {f['url']}, capture version {f['capture_version']}, "
        f"accessed {f['accessed'] or 'unknown'}, sha256 {f['sha256'] or 'unknown'}"
    )
    lines.append(f"  Citation source: {cit.get('source')}")
    return "\n".join(lines)


def _bib_escape(value: Any) -> str:
    return re.sub(r"([{}&%$#_])", r"\\\1", str(value))


def bib_key(rec: dict[str, Any]) -> str:
    cit = citation_of(rec)
    first = (cit.get("authors") or [cit.get("publisher") or rec["archive"]])[0]
    word = re.sub(r"[^A-Za-z0-9]", "", first.split(",")[0].split()[0] if first.strip() else "")
    digest = (rec.get("sha256") or "")[:8]
    return f"{word or rec['archive']}{cit.get('year') or ''}_{digest or rec.get('id', '')}"


def bibtex(rec: dict[str, Any]) -> str:
    """A BibTeX ``@misc`` entry (biblatex ``@dataset`` semantics in fields BibTeX keeps)."""
    f = facts(rec)
    cit = f["citation"]
    fields: list[tuple[str, Any]] = [
        # "Last, F." is a person BibTeX parses; anything else is a name kept whole in braces.
        (
            "author",
            " and ".join(a if "," in a else "{" + a + "}" for a in cit.get("authors") or [])
            or None,
        ),
        ("title", cit.get("title") or _file_name(rec)),
        ("year", cit.get("year")),
        ("publisher", cit.get("publisher")),
        ("version", cit.get("version")),
        ("doi", cit.get("doi")),
        ("url", doi_url(cit["doi"]) if cit.get("doi") else cit.get("url") or f["url"]),
        ("urldate", f["accessed"]),
        (
            "note",
            f"File {f['file']}, capture version {f['capture_version']}, "
            f"sha256 {f['sha256'] or 'unknown'}",
        ),
    ]
    body = ",\n".join(
        f"  {k} = {{{v if k in ('author', 'url', 'doi') else _bib_escape(v)}}}"
        for k, v in fields
        if v not in (None, "")
    )
    return f"@misc{{{bib_key(rec)},\n{body}\n}}"


def _person(name: str) -> dict[str, str]:
    family, sep, given = name.partition(",")
    return {"family": family.strip(), "given": given.strip()} if sep else {"literal": name}


def csl(rec: dict[str, Any]) -> dict[str, Any]:
    """A CSL-JSON item (type ``dataset``), with the file's checksum in ``note``."""
    f = facts(rec)
    cit = f["citation"]
    item: dict[str, Any] = {
        "id": bib_key(rec),
        "type": "dataset",
        "title": cit.get("title") or _file_name(rec),
        "author": [_person(a) for a in cit.get("authors") or []] or None,
        "publisher": cit.get("publisher"),
        "issued": {"date-parts": [[cit["year"]]]} if cit.get("year") else None,
        "version": cit.get("version"),
        "DOI": cit.get("doi"),
        "URL": doi_url(cit["doi"]) if cit.get("doi") else cit.get("url") or f["url"],
        "accessed": (
            {"date-parts": [[int(p) for p in f["accessed"].split("-")]]} if f["accessed"] else None
        ),
        "note": f"File {f['file']}; capture version {f['capture_version']}; "
        f"sha256 {f['sha256'] or 'unknown'}",
        "capture": {k: v for k, v in f.items() if k != "citation"},
        "citation_source": cit.get("source"),
        "identifiers": cit.get("identifiers"),
        "related": cit.get("related"),
        "archive_citation_text": cit.get("text"),
    }
    return {k: v for k, v in item.items() if v is not None}
