"""BagIt (RFC 8493) export: a bag whose payload holds the selected captured files.

Payload files are hard links into the data root where possible (no copy of terabytes), copies
otherwise. A bag carries the archive's original bytes: files compressed at rest are decoded
into the payload under their own names, checked against their sha256 as they are written (a
file that does not decode to it stops the export with the reason). The sha256 manifest is
written from the catalog's in-stream digests, so bagging never re-reads the data; ``bagit``
validation (which does re-read) proves they match.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from capture.__version__ import __version__
from capture.paths import DataRoot
from capture.storage import codec as codecs
from capture.storage.local import LocalStore
from capture.storage.originals import StoredFile, original_bytes
from capture.storage.tiering import locate


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _decode(root: Path, rec: dict[str, Any], target: Path) -> None:
    """Write the original bytes of an encoded file (bounded memory, sha256-checked)."""
    stored = StoredFile(
        location=codecs.location(rec["path"], rec["codec"]),
        codec=rec["codec"],
        size=rec.get("size"),
        sha256=rec.get("sha256"),
        archive=rec["archive"],
        archive_path=rec["archive_path"],
        version=rec.get("version"),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "wb") as f:
            for chunk in original_bytes(LocalStore(DataRoot.at(root)), stored):
                f.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def write(records: Iterable[dict[str, Any]], root: Path, out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    manifest, total, count = [], 0, 0
    for rec in records:
        if rec.get("state") != "stored" or not rec.get("sha256"):
            continue
        # A file moved to the cold root is bagged from there; one stored compressed is decoded.
        if rec.get("location"):
            source: Path | str = locate(rec, root)
        else:
            source = root / codecs.location(rec["path"], rec.get("codec"))
        if not isinstance(source, Path) or not source.is_file():
            continue
        if rec.get("codec"):
            _decode(root, rec, data / rec["path"])
        else:
            _place(source, data / rec["path"])
        manifest.append(f"{rec['sha256']}  data/{rec['path']}")
        total += int(rec.get("size") or source.stat().st_size)
        count += 1
    tags = {
        "bagit.txt": "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        "manifest-sha256.txt": "\n".join(manifest) + ("\n" if manifest else ""),
        "bag-info.txt": (
            f"Bagging-Date: {datetime.now(UTC).date().isoformat()}\n"
            f"Bag-Software-Agent: capture {__version__}\n"
            f"Payload-Oxum: {total}.{count}\n"
            "External-Description: Files captured by capture, verified by sha256 "
            "computed in-stream at capture time.\n"
        ),
    }
    for name, text in tags.items():
        (out / name).write_text(text)
    tagmanifest = [f"{_sha256_text(text)}  {name}" for name, text in tags.items()]
    (out / "tagmanifest-sha256.txt").write_text("\n".join(tagmanifest) + "\n")
    return out
