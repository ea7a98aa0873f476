"""RO-Crate 1.2 export: ``<dir>/ro-crate-metadata.json`` describing captured files.

The crate is metadata-only (terabytes stay where they are): every file is a *web-based data
entity* identified by its archive URL (``contentUrl``), with ``localPath`` telling where the
capture put it. Each file entity carries RO-Crate's recommended properties (``contentSize``,
``encodingFormat``, ``sdDatePublished``, ``name``) plus digests and HTTP validators in a small
vocabulary of our own (declared in the ``@context``), and the PROV story: one ``CreateAction``
per run (instrument = this software with version and commit) whose results are the files,
with each file's transfer attempts and quality checks as ``PropertyValue`` entries. A file's
dataset citation (capture/citation.py) becomes its ``citation``: the dataset or publication the
archive asks to cite, one contextual entity per work shared by every file citing it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capture.__version__ import __version__
from capture.archives import media_type, publisher
from capture.citation import doi_url
from capture.storage import codec as codecs

CONTEXT_URL = "https://w3id.org/ro/crate/1.2/context"
TERMS = "https://w3id.org/capture/terms#"
EXTRA_CONTEXT = {
    "sha256": f"{TERMS}sha256",
    "publisherDigest": f"{TERMS}publisherDigest",
    "digestAlgorithm": f"{TERMS}digestAlgorithm",
    "digestSource": f"{TERMS}digestSource",
    "digestVerified": f"{TERMS}digestVerified",
    "localPath": f"{TERMS}localPath",
    "finalUrl": f"{TERMS}finalUrl",
    "httpETag": f"{TERMS}httpETag",
    "httpLastModified": f"{TERMS}httpLastModified",
    "captureStatus": f"{TERMS}captureStatus",
    "qualityScore": f"{TERMS}qualityScore",
    "qualityGrade": f"{TERMS}qualityGrade",
    "transferEvent": f"{TERMS}transferEvent",
    "qualityCheck": f"{TERMS}qualityCheck",
    "contentVersion": f"{TERMS}contentVersion",
    "storedEncoding": f"{TERMS}storedEncoding",
    "storedSize": f"{TERMS}storedSize",
    "storedSha256": f"{TERMS}storedSha256",
    "wasGeneratedBy": "http://www.w3.org/ns/prov#wasGeneratedBy",
    "hadPrimarySource": "http://www.w3.org/ns/prov#hadPrimarySource",
}


def file_entity(rec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The File entity and its contextual entities (RO-Crate graphs are flat: nested objects
    are separate entities referenced by ``@id``)."""
    item = rec.get("item") or {}
    run_id = rec.get("last_run")
    entity: dict[str, Any] = {
        "@id": rec["url"],
        "@type": "File",
        "name": rec["archive_path"].rsplit("/", 1)[-1],
        "description": f"{rec['archive']}:{rec['archive_path']}",
        "contentUrl": rec["url"],
        "finalUrl": rec.get("final_url"),
        # Where the bytes are in the data root: <path>.zst when compressed at rest, declared by
        # storedEncoding (contentSize and sha256 stay the archive's original bytes).
        "localPath": codecs.location(rec["path"], rec.get("codec")),
        "storedEncoding": rec.get("codec"),
        "storedSize": str(rec["stored_size"]) if rec.get("stored_size") is not None else None,
        "storedSha256": rec.get("stored_sha256"),
        "contentSize": str(rec["size"]) if rec.get("size") is not None else None,
        "encodingFormat": media_type(rec.get("format")),
        "sdDatePublished": rec.get("retrieved_at"),
        "sha256": rec.get("sha256"),
        "digestAlgorithm": rec.get("digest_algorithm"),
        "publisherDigest": rec.get("digest_expected"),
        "digestSource": rec.get("digest_source"),
        "digestVerified": rec.get("verified"),
        "httpETag": rec.get("etag"),
        "httpLastModified": rec.get("last_modified"),
        "captureStatus": rec.get("state"),
        "contentVersion": rec.get("version"),
        "qualityScore": (rec.get("quality") or {}).get("score"),
        "qualityGrade": (rec.get("quality") or {}).get("grade"),
        "publisher": {"@id": f"#archive-{rec['archive']}"},
        "hadPrimarySource": {"@id": rec["url"]},
        "wasGeneratedBy": {"@id": f"#run-{run_id}"} if run_id else None,
        "transferEvent": [json.dumps(e, sort_keys=True, default=str) for e in rec["events"]],
        "qualityCheck": [json.dumps(c, sort_keys=True, default=str) for c in rec["quality_checks"]],
        "keywords": [rec["domain"], rec["archive"]],
    }
    props = [
        {
            "@id": f"#file-{rec['id']}-{k}",
            "@type": "PropertyValue",
            "name": k,
            "value": v if isinstance(v, str | int | float) else json.dumps(v, default=str),
        }
        for k, v in sorted((item.get("metadata") or {}).items())
    ][:50]
    if props:
        entity["additionalProperty"] = [{"@id": p["@id"]} for p in props]
    works = cited_works(rec.get("citation"))
    if works:
        entity["citation"] = [{"@id": w["@id"]} for w in works]
    return {k: v for k, v in entity.items() if v is not None}, [*props, *works]


def cited_works(citation: dict[str, Any] | None) -> list[dict[str, Any]]:
    """RO-Crate ``citation`` targets: contextual entities for the works the archive asks to
    cite, identified by their DOI URL (a work without a DOI by a local id over its text)."""
    if not citation:
        return []
    out: list[dict[str, Any]] = []
    for n, w in enumerate([citation, *(citation.get("related") or [])]):
        kind = w.get("kind", "dataset")
        ident = doi_url(w["doi"]) if w.get("doi") else None
        if ident is None:
            key = w.get("text") or w.get("title") or json.dumps(w, sort_keys=True)
            ident = f"#citation-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        entity = {
            "@id": ident,
            "@type": "Dataset" if kind == "dataset" else "ScholarlyArticle",
            "name": w.get("title") or w.get("text"),
            "identifier": ident if w.get("doi") else None,
            "author": ", ".join(w.get("authors") or []) or None,
            "datePublished": str(w["year"]) if w.get("year") else None,
            "version": w.get("version"),
            "url": w.get("url"),
            "publisher": w.get("publisher"),
            "creditText": w.get("text"),
            "description": f"cited as published by the archive ({citation.get('source')})"
            if n == 0
            else None,
        }
        out.append({k: v for k, v in entity.items() if v is not None})
    return out


def build_crate(records: Iterable[dict[str, Any]], name: str) -> dict[str, Any]:
    graph: list[dict[str, Any]] = []
    parts: list[dict[str, str]] = []
    archives: dict[str, dict[str, Any]] = {}
    run_actions: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for rec in records:
        ent, props = file_entity(rec)
        graph.extend(p for p in props if p["@id"] not in seen)
        seen.update(p["@id"] for p in props)
        if any(p["@id"] == ent["@id"] for p in parts):
            ent["@id"] = f"{ent['@id']}#capture-file-{rec['id']}"  # same URL in two archives
        parts.append({"@id": ent["@id"]})
        graph.append(ent)
        archives.setdefault(rec["archive"], publisher(rec["archive"]))
        run = rec.get("run") or {}
        if rec.get("last_run"):
            action = run_actions.setdefault(
                rec["last_run"],
                {
                    "@id": f"#run-{rec['last_run']}",
                    "@type": "CreateAction",
                    "name": f"capture run {rec['last_run']}",
                    "startTime": run.get("started_at"),
                    "endTime": run.get("finished_at"),
                    "instrument": {"@id": "#capture"},
                    "agent": {"@id": "#capture"},
                    "result": [],
                },
            )
            action["result"].append({"@id": ent["@id"]})
    now = datetime.now(UTC).isoformat(timespec="seconds")
    descriptor = {
        "@id": "ro-crate-metadata.json",
        "@type": "CreativeWork",
        "conformsTo": {"@id": "https://w3id.org/ro/crate/1.2"},
        "about": {"@id": "./"},
    }
    root = {
        "@id": "./",
        "@type": "Dataset",
        "name": name,
        "datePublished": now,
        "description": "Files captured by capture, with their provenance and quality.",
        "license": {"@id": "https://creativecommons.org/publicdomain/zero/1.0/"},
        "hasPart": parts,
        "mentions": [{"@id": a["@id"]} for a in run_actions.values()],
    }
    software = {
        "@id": "#capture",
        "@type": "SoftwareApplication",
        "name": "capture",
        "version": __version__,
    }
    orgs = [
        {"@id": f"#archive-{a}", "@type": "Organization", "name": p["name"], "url": p["url"]}
        for a, p in archives.items()
    ]
    return {
        "@context": [CONTEXT_URL, EXTRA_CONTEXT],
        "@graph": [descriptor, root, software, *orgs, *run_actions.values(), *graph],
    }


def write(records: Iterable[dict[str, Any]], out: Path, name: str = "capture export") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ro-crate-metadata.json"
    path.write_text(json.dumps(build_crate(records, name), indent=2, default=str))
    return path
