"""FITS: block structure, mandatory keywords and END (gates), CHECKSUM/DATASUM per HDU (fixity),
astropy verify (conformance, cf. fitsverify's error classes), required keywords, and sampled
data checks.

Everything is judged on the bytes as stored: the file is opened with image scaling and tile
decompression off, so a scaled image (BZERO/BSCALE/BLANK, every uint16 frame) is read raw
from the memory map instead of failing, and a tile-compressed image (RICE, HCOMPRESS...) is
the binary table its CHECKSUM was computed over. Fixity is summed over the raw header and data
records in fixed-size chunks, never over astropy's re-serialised header or a decompressed
view, so memory stays bounded and a 10 GB image is never loaded. Locations are zero-based HDU
indexes ("HDU 0" is the primary HDU), as astropy counts.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from capture.formats.fits import BLOCK, Card, is_fits, parse_header
from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext

if TYPE_CHECKING:  # numpy is imported where used: a worker scoring other formats never loads it
    import numpy as np

# Bytes summed per read when verifying CHECKSUM/DATASUM (a whole number of FITS blocks; 2.9 MB
# keeps a worker scoring a 200 MB file under ~65 MB, the same speed as 11.8 MB reads).
CHUNK = BLOCK * 1024
# Bytes of each HDU's data read for the finite-value and wavelength checks: 2 M float32 values
# say as much as 4 M, and the pages read count in the worker's memory (a 16 MiB sample put a
# worker scoring a 200 MB image at 73 MB, and the crawl's process tree over 200 MB).
PLAUSIBILITY_SAMPLE = 8 * 1024 * 1024
# Keywords a file from a given archive must carry (metadata completeness, T4).
REQUIRED_KEYWORDS: dict[str, tuple[str, ...]] = {
    "jwst_mast": ("TELESCOP", "INSTRUME", "DATE-OBS"),
    "phoenix": ("PHXTEFF", "PHXLOGG", "PHXM_H"),
}
GENERIC_KEYWORDS = ("DATE", "ORIGIN")
BITPIX_VALUES = (8, 16, 32, 64, -32, -64)
# Tile compression algorithms astropy can decompress (others are not sampled, not failed).
TILE_CODECS = ("NOCOMPRESS", "RICE_1", "RICE_ONE", "GZIP_1", "GZIP_2", "PLIO_1", "HCOMPRESS_1")
# Reserved keywords and the only HDUs they may appear in (FITS 4.0 sec. 4.4, 5, 6, 7):
# what astropy's verify leaves to fitsverify.
PRIMARY_ONLY = ("SIMPLE", "GROUPS")
EXTENSION_ONLY = ("XTENSION", "PCOUNT", "GCOUNT")  # PCOUNT/GCOUNT: random groups excepted
IMAGE_ONLY = ("BSCALE", "BZERO", "BUNIT", "BLANK")  # a tile-compressed image keeps them
TABLE_ONLY = ("TFIELDS", "THEAP")
MAX_FINDINGS = 20
LOGICAL_BYTES = {0, ord("T"), ord("F")}
# Rows whose variable-length logicals are checked (one heap slice per row).
MAX_VLA_ROWS = 10000
VERIFY_NOTE = "Note: astropy.io.fits uses zero-based indexing"


def score_fits(ctx: ScoreContext) -> Checks:
    """Score the plain FITS file at ``ctx.path`` (any name: a decompressed temporary file too)."""
    from astropy import __version__ as astropy_version

    checks = Checks("astropy.io.fits", astropy_version)
    size = os.path.getsize(ctx.path)  # the bytes scored, whatever the context claims
    with open(ctx.path, "rb") as fh:
        head = fh.read(BLOCK)
    primary_ok = is_fits(head)
    checks.check(
        "fits.primary_header",
        Tier.CONTAINER,
        Severity.HIGH,
        primary_ok,
        "starts with a SIMPLE keyword",
        "does not start with a FITS primary header (SIMPLE keyword)",
        "HDU 0",
    )
    checks.check(
        "fits.block_structure",
        Tier.CONTAINER,
        Severity.HIGH,
        size % BLOCK == 0 and size > 0,
        f"{size} bytes = {size // BLOCK} blocks of 2880",
        f"{size} bytes is not a multiple of the 2880-byte FITS block (truncated or appended to)",
    )
    if not primary_ok:
        return checks

    hdul: Any = None
    with checks.run("fits.structure", Tier.CONTAINER, Severity.HIGH):
        hdul = _open(ctx.path, checks, size)
    if hdul is None:
        return checks
    try:
        if any(c.is_gate_failure for c in checks.results):
            return checks  # byte accounting failed: nothing after it means anything
        headers: list[Cards] = []
        with checks.run("fits.mandatory_keywords", Tier.CONTAINER, Severity.HIGH):
            headers = _raw_headers(ctx.path, hdul)
            _mandatory(headers, checks)
        with checks.run("fits.compressed_tiles", Tier.CONTAINER, Severity.HIGH):
            _tiles(hdul, checks, ctx)
        _fixity(hdul, checks, ctx)
        with checks.run("fits.verify", Tier.CONFORMANCE, Severity.MEDIUM):
            _verify(hdul, checks)
        with checks.run("fits.keyword_placement", Tier.CONFORMANCE, Severity.MEDIUM):
            _placement(headers, checks)
        with checks.run("fits.keywords", Tier.METADATA, Severity.MEDIUM, "HDU 0"):
            _keywords(hdul, checks, ctx)
        with checks.run("fits.logical_values", Tier.CONFORMANCE, Severity.MEDIUM):
            _logical_values(hdul, checks, ctx)
        _plausibility(hdul, checks, ctx)
    finally:
        hdul.close()
    return checks


def _open(path: str, checks: Checks, size: int) -> Any:
    """Open every HDU as stored and account for every byte; None when nothing can be read."""
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(
                path,
                memmap=True,
                lazy_load_hdus=False,
                checksum=False,
                ignore_missing_end=False,
                do_not_scale_image_data=True,  # raw pixels: scaled images stay memory-mapped
                disable_image_compression=True,  # tile-compressed HDUs as the tables stored
            )
        except (OSError, EOFError, ValueError, IndexError, KeyError) as exc:
            # The reader's verdict on the bytes (a header without END, a corrupt card...).
            checks.failed(
                "fits.structure",
                Tier.CONTAINER,
                Severity.HIGH,
                f"astropy cannot read the HDU structure: {type(exc).__name__}: {_one_line(exc)}",
            )
            return None
    try:
        _account(path, hdul, [_one_line(w.message) for w in caught], checks, size)
    except BaseException:
        hdul.close()
        raise
    return hdul


def _account(path: str, hdul: Any, messages: list[str], checks: Checks, size: int) -> None:
    """Every byte of the file in exactly one HDU (headers with END, whole data units)."""
    # astropy stops at a header it cannot parse and warns; the bytes after it then look
    # like trailing data, so its own words are the better reason.
    broken = [m for m in messages if "truncated" in m.lower() or "Error validating header" in m]
    last_end = 0
    for hdu in hdul:
        last_end = max(last_end, hdu._data_offset + _padded(hdu._data_size))
    fits_ok = not broken and last_end <= size
    checks.check(
        "fits.structure",
        Tier.CONTAINER,
        Severity.HIGH,
        fits_ok,
        f"{len(hdul)} HDU(s), every header has END and every data unit fits",
        broken[0] if broken else f"data units need {last_end} bytes, file has {size}",
        f"HDU {len(hdul) - 1}" if broken else None,
    )
    if fits_ok:
        _trailing(path, last_end, size, checks, len(hdul))


def _trailing(path: str, last_end: int, size: int, checks: Checks, n_hdus: int) -> None:
    """Bytes after the last HDU: zero fill is a conformance slip, anything else is appended
    data no FITS reader will ever see (a concatenated or badly resumed download)."""
    where = f"after HDU {n_hdus - 1}"
    if last_end == size:
        checks.passed(
            "fits.trailing_bytes", Tier.CONTAINER, Severity.HIGH, "no bytes after the last HDU"
        )
        return
    extra = size - last_end
    if _all_zero(path, last_end, size):
        checks.failed(
            "fits.trailing_bytes",
            Tier.CONFORMANCE,
            Severity.LOW,
            f"{extra} zero bytes after the last HDU (not part of any HDU)",
            where,
        )
        return
    checks.failed(
        "fits.trailing_bytes",
        Tier.CONTAINER,
        Severity.HIGH,
        f"{extra} bytes of data after the last HDU at byte {last_end}: not part of the FITS "
        "file (appended or concatenated data, or an HDU whose header cannot be read)",
        where,
    )


def _all_zero(path: str, start: int, end: int) -> bool:
    with open(path, "rb") as fh:
        fh.seek(start)
        while start < end:
            chunk = fh.read(min(CHUNK, end - start))
            if not chunk:
                return True
            if chunk.count(0) != len(chunk):
                return False
            start += len(chunk)
    return True


def _padded(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


Cards = list[Card]


def _raw_headers(path: str, hdul: Any) -> list[Cards]:
    """Every HDU's header cards as stored (:mod:`capture.formats.fits`), located by astropy's
    offsets: astropy repairs some headers as it reads them (it adds a missing NAXIS1 to a
    random-groups header), and the rules below judge what the file says, not the repair."""
    headers: list[Cards] = []
    with open(path, "rb") as fh:
        for hdu in hdul:
            fh.seek(hdu._header_offset)
            headers.append(parse_header(fh.read(hdu._data_offset - hdu._header_offset)).cards)
    return headers


def _fits_value(value: object) -> str:
    return ("T" if value else "F") if isinstance(value, bool) else repr(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mandatory(headers: list[Cards], checks: Checks) -> None:
    """The mandatory keywords, in the order FITS 4.0 sec. 4.4.1 fixes: they say where every
    following byte belongs, and conforming readers (CFITSIO) refuse headers that break it."""
    problems: list[tuple[str, str]] = []
    for i, cards in enumerate(headers):
        keys = [k for k, _ in cards]
        values = dict(reversed(cards))  # the first occurrence wins
        naxis = values.get("NAXIS")
        expected = ["SIMPLE" if i == 0 else "XTENSION", "BITPIX", "NAXIS"]
        if _is_int(naxis) and 0 <= naxis <= 999:  # type: ignore[operator]
            expected += [f"NAXIS{n}" for n in range(1, naxis + 1)]  # type: ignore[operator]
        else:
            problems.append((f"HDU {i}", f"NAXIS = {naxis!r} is not an integer 0-999"))
        if i > 0:
            expected += ["PCOUNT", "GCOUNT"]
        wrong = [
            f"{k} (card {n + 1} is {keys[n] if n < len(keys) else 'missing'})"
            for n, k in enumerate(expected)
            if n >= len(keys) or keys[n] != k
        ]
        if wrong:
            problems.append((f"HDU {i}", "mandatory keywords out of place: " + ", ".join(wrong)))
        bitpix = values.get("BITPIX")
        if not _is_int(bitpix) or bitpix not in BITPIX_VALUES:
            problems.append((f"HDU {i}", f"BITPIX = {bitpix!r} is not one of {BITPIX_VALUES}"))
    for where, message in problems:
        checks.failed("fits.mandatory_keywords", Tier.CONTAINER, Severity.HIGH, message, where)
    if not problems:
        checks.passed(
            "fits.mandatory_keywords",
            Tier.CONTAINER,
            Severity.HIGH,
            f"mandatory keywords in order in all {len(headers)} HDU(s)",
        )


def _placement(headers: list[Cards], checks: Checks) -> None:
    """Reserved keywords where the standard does not allow them, which astropy's verify
    leaves to fitsverify; SIMPLE = F (the writer saying the file does not conform)."""
    problems: list[tuple[str | None, str]] = []
    for i, cards in enumerate(headers):
        values = dict(reversed(cards))
        keys = set(values)
        where = f"HDU {i}"
        if i == 0 and values.get("SIMPLE") is not True:
            problems.append(
                (
                    where,
                    f"SIMPLE = {_fits_value(values.get('SIMPLE'))}: the writer declares "
                    "the file does not conform to the FITS standard",
                )
            )
        xtension = str(values.get("XTENSION", "")).strip() if i else ""
        table = xtension in ("TABLE", "BINTABLE", "A3DTABLE")
        groups = i == 0 and values.get("GROUPS") is True
        valid_groups = groups and _is_int(values.get("NAXIS")) and values.get("NAXIS1") == 0
        if groups and not valid_groups:
            problems.append((where, "GROUPS = T but NAXIS1 is not 0: not a random-groups header"))
        banned = [k for k in PRIMARY_ONLY if i and k in keys]
        banned += [
            k
            for k in EXTENSION_ONLY
            if not i and k in keys and not (valid_groups and k != "XTENSION")
        ]
        if table and values.get("ZIMAGE") is not True:
            banned += [k for k in IMAGE_ONLY if k in keys]
        if not table:
            banned += [k for k in TABLE_ONLY if k in keys]
        if banned:
            kind = "primary" if i == 0 else f"{xtension or 'unknown'} extension"
            problems.append((where, f"{', '.join(banned)} not allowed in the {kind} header"))
    _conformance(
        checks,
        "fits.keyword_placement",
        problems,
        "reserved keywords only where the standard allows them; SIMPLE = T",
    )


def _conformance(
    checks: Checks, check_id: str, findings: list[tuple[str | None, str]], ok: str
) -> None:
    """One result for all of a check's findings (so n slips cost once, by credit 1 - n/4),
    each finding kept whole with its card; the result's location names the HDUs."""
    if not findings:
        checks.passed(check_id, Tier.CONFORMANCE, Severity.MEDIUM, ok)
        return
    hdus = list(dict.fromkeys((where or "").split(" card")[0] for where, _ in findings))
    parts = []
    for where, message in findings[:MAX_FINDINGS]:
        hdu, _, card = (where or "").partition(" card")
        label = (hdu if len(hdus) > 1 else "") + (f" card{card}" if card else "")
        parts.append(f"{label.strip()}: {message}" if label.strip() else message)
    if len(findings) > MAX_FINDINGS:
        parts.append(f"... and {len(findings) - MAX_FINDINGS} more")
    checks.failed(
        check_id,
        Tier.CONFORMANCE,
        Severity.MEDIUM,
        (f"{len(findings)} issues: " if len(findings) > 1 else "") + "; ".join(parts),
        ", ".join(h for h in hdus if h) or None,
        max(0.0, 1 - 0.25 * len(findings)),
    )


def _is_tiled(hdu: Any) -> bool:
    from astropy.io.fits import CompImageHDU

    return bool(CompImageHDU.match_header(hdu.header))


def _tiles(hdul: Any, checks: Checks, ctx: ScoreContext) -> None:
    """Decompress the first tiles of each tile-compressed image (bounded by ``sample_bytes``):
    a corrupt compressed stream is unreadable data even where no checksum would tell."""
    import numpy as np
    from astropy.io.fits import CompImageHDU

    for i, hdu in enumerate(hdul):
        if not _is_tiled(hdu):
            continue
        where = f"HDU {i}"
        codec = str(hdu.header.get("ZCMPTYPE", "")).strip()
        if codec not in TILE_CODECS:
            checks.na(
                "fits.compressed_tiles",
                Tier.CONTAINER,
                Severity.HIGH,
                f"{where}: tile compression {codec!r} not readable by astropy: tiles not sampled",
            )
            continue
        image = CompImageHDU(bintable=hdu, do_not_scale_image_data=True)
        shape = tuple(image.shape)
        if not shape or 0 in shape:
            continue
        row = int(np.prod(shape[1:])) * max(1, abs(int(hdu.header.get("ZBITPIX", 8))) // 8)
        rows = max(1, min(shape[0], ctx.sample_bytes // max(1, row)))
        try:
            sample = image.section[:rows]
        except Exception as exc:  # the codec's verdict on the stored bytes (CFITSIO, zlib)
            checks.failed(
                "fits.compressed_tiles",
                Tier.CONTAINER,
                Severity.HIGH,
                f"{codec} tiles do not decompress: {type(exc).__name__}: {_one_line(exc)}",
                where,
            )
            continue
        checks.passed(
            "fits.compressed_tiles",
            Tier.CONTAINER,
            Severity.HIGH,
            f"{codec} tiles decompress ({rows} of {shape[0]} rows sampled)",
            where,
        )
        if sample.dtype.kind == "f":
            _finite(checks, sample, f"{where} data")


def _fixity(hdul: Any, checks: Checks, ctx: ScoreContext) -> None:
    """CHECKSUM/DATASUM (FITS checksum convention) summed over the stored records."""
    present = {key: any(key in hdu.header for hdu in hdul) for key in ("CHECKSUM", "DATASUM")}
    if not any(present.values()):
        # Most archives never write embedded fixity: one absent result for the file, so a
        # multi-extension file is not penalised per HDU nor twice for one missing feature.
        checks.add(
            "fits.checksum",
            Tier.FIXITY,
            Severity.MEDIUM,
            Outcome.ABSENT,
            "no CHECKSUM or DATASUM keyword in any HDU: embedded fixity cannot be checked",
            f"HDU 0-{len(hdul) - 1}",
        )
        return
    deadline = time.monotonic() + max(0.0, ctx.time_left)
    for i, hdu in enumerate(hdul):
        if not any(key in hdu.header for key in present):
            checks.add(
                "fits.checksum",
                Tier.FIXITY,
                Severity.MEDIUM,
                Outcome.ABSENT,
                "no CHECKSUM or DATASUM keyword: embedded fixity cannot be checked",
                f"HDU {i}",
            )
            continue
        with checks.run("fits.checksum", Tier.FIXITY, Severity.MEDIUM, f"HDU {i}"):
            _fixity_of(ctx.path, hdu, i, checks, deadline)


def _fixity_of(path: str, hdu: Any, i: int, checks: Checks, deadline: float) -> None:
    where = f"HDU {i}"
    header = hdu.header
    data_start = hdu._data_offset
    data_end = data_start + _padded(hdu._data_size)
    datasum = _ones_sum(path, data_start, data_end, deadline)
    header_sum = _ones_sum(path, hdu._header_offset, data_start, deadline)
    if datasum is None or header_sum is None:
        for key in ("DATASUM", "CHECKSUM"):
            if key in header:
                checks.add(
                    f"fits.{key.lower()}",
                    Tier.FIXITY,
                    Severity.MEDIUM,
                    Outcome.ABSENT,
                    f"{key} not verified: time budget exhausted",
                    where,
                )
        return
    if "DATASUM" in header:
        stored = str(header["DATASUM"]).strip()
        if not stored.isdigit():
            # A malformed value is the writer's slip, not evidence the bytes changed (the
            # CHECKSUM still covers them).
            checks.add(
                "fits.datasum",
                Tier.FIXITY,
                Severity.MEDIUM,
                Outcome.ABSENT,
                f"DATASUM = {stored!r} is not an unsigned integer: cannot be verified",
                where,
            )
        elif int(stored) == datasum:
            checks.passed("fits.datasum", Tier.FIXITY, Severity.MEDIUM, "DATASUM matches", where)
        else:
            checks.failed(
                "fits.datasum",
                Tier.FIXITY,
                Severity.MEDIUM,
                f"DATASUM {stored} does not match the data records (sum {datasum}): "
                "corrupted content",
                where,
            )
    if "CHECKSUM" in header:
        # The convention: the ones'-complement sum of the whole HDU as stored is -0.
        total = _fold(header_sum + datasum)
        if total in (0, 0xFFFFFFFF):
            checks.passed("fits.checksum", Tier.FIXITY, Severity.MEDIUM, "CHECKSUM matches", where)
        else:
            checks.failed(
                "fits.checksum",
                Tier.FIXITY,
                Severity.MEDIUM,
                f"CHECKSUM {str(header['CHECKSUM']).strip()!r} does not match the HDU as stored: "
                "corrupted content or a header edited after the checksum was written",
                where,
            )


def _fold(total: int) -> int:
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def _ones_sum(path: str, start: int, end: int, deadline: float) -> int | None:
    """32-bit ones'-complement sum of bytes [start, end) read in chunks; None past deadline."""
    import numpy as np

    total = 0
    with open(path, "rb") as fh:
        fh.seek(start)
        while start < end:
            if time.monotonic() > deadline:
                return None
            chunk = fh.read(min(CHUNK, end - start))
            if not chunk:
                break
            if len(chunk) % 4:
                chunk += b"\0" * (4 - len(chunk) % 4)
            words = np.frombuffer(chunk, dtype=">u4")
            total = _fold(total + int(words.sum(dtype=np.uint64)))
            start += len(chunk)
    return total


def _verify(hdul: Any, checks: Checks) -> None:
    """astropy's verify, every finding with its HDU and card (not just the summary line)."""
    from astropy.io.fits.verify import VerifyError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul.verify("exception")
        problems: list[tuple[str | None, str]] = []
    except VerifyError as exc:
        problems = list(_verify_findings(str(exc)))
    _conformance(checks, "fits.verify", problems, "astropy verify found no standard violations")


def _verify_findings(text: str) -> Iterator[tuple[str | None, str]]:
    """``(location, message)`` per finding of an astropy verify report, whose nesting
    (``HDU 1:`` / ``Card 116:`` headings, four spaces per level) gives the location."""
    path: list[tuple[int, str]] = []
    heading = re.compile(r"^(HDU \d+|Card \d+):$")
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(VERIFY_NOTE) or line == "Verification reported errors:":
            continue
        depth = (len(raw) - len(raw.lstrip(" "))) // 4
        path = [(d, label) for d, label in path if d < depth]
        if heading.match(line):
            path.append((depth, line[:-1]))
            continue
        where = " ".join(label.lower() if label.startswith("Card") else label for _, label in path)
        yield where or None, line


def _required_keywords(ctx: ScoreContext) -> tuple[str, ...]:
    # PHOENIX's wavelength grid (WAVE_*.fits) describes no star: no stellar parameters.
    if ctx.archive == "phoenix" and ctx.name.rsplit("/", 1)[-1].startswith("WAVE_"):
        return GENERIC_KEYWORDS
    return REQUIRED_KEYWORDS.get(ctx.archive or "", GENERIC_KEYWORDS)


def _keywords(hdul: Any, checks: Checks, ctx: ScoreContext) -> None:
    required = _required_keywords(ctx)
    present: set[str] = set()
    for hdu in hdul[:2]:
        present.update(k for k in required if k in hdu.header)
    missing = [k for k in required if k not in present]
    if required is GENERIC_KEYWORDS:
        # DATE and ORIGIN are reserved, not mandatory (FITS 4.0 sec. 4.4.2): their absence
        # lowers confidence in provenance, it does not make the file wrong.
        checks.add(
            "fits.provenance_keywords",
            Tier.METADATA,
            Severity.LOW,
            Outcome.ABSENT if missing else Outcome.PASS,
            f"{len(required) - len(missing)}/{len(required)} provenance keywords present"
            + (f"; missing: {', '.join(missing)}" if missing else ""),
            "HDU 0",
        )
        return
    checks.fraction(
        "fits.required_keywords",
        Tier.METADATA,
        Severity.MEDIUM,
        len(required) - len(missing),
        len(required),
        "required keywords present",
        "HDU 0",
        missing,
    )


def _logical_values(hdul: Any, checks: Checks, ctx: ScoreContext) -> None:
    """Binary-table logicals (fixed and variable-length) hold only 'T', 'F' or 0 (FITS 4.0
    sec. 7.3.3.1): astropy reads other bytes (0x01 from old astropy writers) without an error,
    fitsverify does not. Checked on the raw bytes of the first rows."""
    import numpy as np

    findings: list[tuple[str | None, str]] = []
    seen = False
    for i, hdu in enumerate(hdul):
        if type(hdu).__name__ != "BinTableHDU" or _is_tiled(hdu) or not hdu._data_size:
            continue
        columns = [
            (n, c)
            for n, c in enumerate(hdu.columns)
            if c.format.format == "L" or getattr(c.format, "p_format", None) == "L"
        ]
        if not columns:
            continue
        seen = True
        width = max(1, int(hdu.header.get("NAXIS1", 1)))
        rows = hdu.data[: max(1, min(MAX_VLA_ROWS, ctx.sample_bytes // width))]
        for n, column in columns:
            raw = np.asarray(np.recarray.field(rows, n))  # stored bytes, not booleans
            if column.format.format == "L":
                values = np.unique(raw.view(np.uint8))
            else:  # (count, offset) descriptors into the heap
                heap, base = rows._get_raw_data(), rows._heapoffset
                pieces = [heap[base + o : base + o + c] for c, o in raw.reshape(-1, 2)]
                values = np.unique(np.concatenate(pieces).view(np.uint8)) if pieces else raw[:0]
            bad = sorted(set(values.tolist()) - LOGICAL_BYTES)
            if bad:
                findings.append(
                    (
                        f"HDU {i}",
                        f"logical column {column.name!r} holds bytes {bad[:5]} (only 'T', 'F' "
                        f"or 0 are allowed) in its first {len(rows)} rows",
                    )
                )
    if seen:
        _conformance(
            checks, "fits.logical_values", findings, "logical columns hold only 'T', 'F' or 0"
        )


def _plausibility(hdul: Any, checks: Checks, ctx: ScoreContext) -> None:
    """Finite values and increasing wavelength grids, on a bounded sample of each HDU's raw
    data (tile-compressed images are sampled by :func:`_tiles`)."""
    import numpy as np

    for i, hdu in enumerate(hdul):
        where = f"HDU {i}"
        if ctx.time_left < 0 or _is_tiled(hdu) or not hdu._data_size:
            continue
        with checks.run("fits.finite_data", Tier.PLAUSIBILITY, Severity.LOW, where):
            for name, sample in _samples(hdu, min(ctx.sample_bytes, PLAUSIBILITY_SAMPLE)):
                loc = f"{where} {name}"
                _finite(checks, sample, loc)
                if "WAVE" in name.upper() or ("WAVE" in ctx.name.upper() and name == "data"):
                    values = sample[np.isfinite(sample)]
                    checks.check(
                        "fits.monotonic_wavelength",
                        Tier.PLAUSIBILITY,
                        Severity.MEDIUM,
                        bool(np.all(np.diff(values) > 0)),
                        "wavelength grid strictly increasing",
                        "wavelength grid is not strictly increasing",
                        loc,
                    )


def _samples(hdu: Any, budget: int) -> Iterator[tuple[str, np.ndarray]]:
    """The floating-point arrays of an HDU, at most ``budget`` bytes of each, read raw."""
    import numpy as np

    if getattr(hdu, "columns", None) is not None:  # tables and random groups
        floats = [c.name for c in hdu.columns if np.dtype(c.dtype).base.kind == "f"]
        if not floats:
            return
        width = max(1, int(hdu.header.get("NAXIS1", 1)))
        rows = hdu.data[: max(1, budget // width)]  # a slice: only these rows are converted
        for name in floats:
            yield name, np.ravel(np.asarray(rows[name]))
    elif hdu.is_image and int(hdu.header.get("BITPIX", 8)) < 0 and hdu.data is not None:
        flat = np.ravel(hdu.data)  # a view of the memory map (raw: never scaled or loaded)
        yield "data", np.asarray(flat[: max(1, budget // flat.itemsize)])


def _finite(checks: Checks, sample: np.ndarray, loc: str) -> None:
    """NaN is FITS's blank for floating-point data (FITS 4.0 sec. 5.3): a partly blank array
    is normal (a reprojected image's corners); one with no finite value carries no data."""
    import numpy as np

    if not sample.size:
        return
    finite = float(np.isfinite(sample).mean())
    if finite > 0:
        checks.passed(
            "fits.finite_data",
            Tier.PLAUSIBILITY,
            Severity.LOW,
            f"{finite:.1%} of sampled values are finite"
            + ("" if finite == 1.0 else " (the rest blank: NaN)"),
            loc,
        )
    else:
        checks.failed(
            "fits.finite_data",
            Tier.PLAUSIBILITY,
            Severity.LOW,
            f"none of {sample.size} sampled values is finite",
            loc,
            0.0,
        )
