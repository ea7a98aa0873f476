"""FITS: block structure and END (gates), CHECKSUM/DATASUM per HDU (fixity), astropy verify
(conformance, cf. fitsverify's error classes), required keywords, and sampled data checks."""

from __future__ import annotations

import warnings

import numpy as np

from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext

BLOCK = 2880
# Keywords a file from a given archive must carry (metadata completeness, T4).
REQUIRED_KEYWORDS: dict[str, tuple[str, ...]] = {
    "jwst_mast": ("TELESCOP", "INSTRUME", "DATE-OBS"),
    "phoenix": ("PHXTEFF", "PHXLOGG", "PHXM_H"),
}
GENERIC_KEYWORDS = ("DATE", "ORIGIN")


def score_fits(ctx: ScoreContext) -> Checks:
    from astropy import __version__ as astropy_version
    from astropy.io import fits

    checks = Checks("astropy.io.fits", astropy_version)
    head = ctx.head(BLOCK)
    size = ctx.size or 0
    primary_ok = head.startswith(b"SIMPLE  =") and head[29:30] == b"T"
    checks.check(
        "fits.primary_header",
        Tier.CONTAINER,
        Severity.HIGH,
        primary_ok,
        "starts with SIMPLE = T",
        "does not start with a FITS primary header (SIMPLE = T)",
        "HDU 0",
    )
    checks.check(
        "fits.block_structure",
        Tier.CONTAINER,
        Severity.HIGH,
        size % BLOCK == 0 and size > 0,
        f"{size} bytes = {size // BLOCK} blocks of 2880",
        f"{size} bytes is not a multiple of the 2880-byte FITS block (truncated?)",
    )
    if not primary_ok:
        return checks

    with checks.run("fits.structure", Tier.CONTAINER, Severity.HIGH):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.open(
                ctx.path,
                memmap=True,
                lazy_load_hdus=False,
                checksum=False,
                ignore_missing_end=False,
            )
        try:
            truncated = [str(w.message) for w in caught if "truncated" in str(w.message).lower()]
            last_end = 0
            for hdu in hdul:
                last_end = max(last_end, hdu._data_offset + _padded(hdu._data_size))
            checks.check(
                "fits.structure",
                Tier.CONTAINER,
                Severity.HIGH,
                not truncated and last_end <= size,
                f"{len(hdul)} HDU(s), every header has END and every data unit fits",
                truncated[0] if truncated else f"data units need {last_end} bytes, file has {size}",
            )
            if truncated or last_end > size:
                pass  # the structure gate already failed; byte accounting is meaningless
            elif last_end < size:
                checks.failed(
                    "fits.trailing_bytes",
                    Tier.CONFORMANCE,
                    Severity.HIGH,
                    f"{size - last_end} extraneous bytes after the last HDU",
                )
            else:
                checks.passed(
                    "fits.trailing_bytes",
                    Tier.CONFORMANCE,
                    Severity.HIGH,
                    "no bytes after the last HDU",
                )
            if not truncated and last_end <= size:
                _fixity(hdul, checks, ctx)
                _verify(hdul, checks)
                _keywords(hdul, checks, ctx)
                _plausibility(hdul, checks, ctx)
        finally:
            hdul.close()
    return checks


def _padded(n: int) -> int:
    return (n + BLOCK - 1) // BLOCK * BLOCK


def _fixity(hdul: list, checks: Checks, ctx: ScoreContext) -> None:
    for key, method in (("CHECKSUM", "verify_checksum"), ("DATASUM", "verify_datasum")):
        check_id = f"fits.{key.lower()}"
        if not any(key in hdu.header for hdu in hdul):
            # Many archives (PHOENIX among them) never write embedded fixity: one absent
            # result per keyword, so a multi-extension file is not penalised per HDU.
            checks.add(
                check_id,
                Tier.FIXITY,
                Severity.MEDIUM,
                Outcome.ABSENT,
                f"no {key} keyword in any HDU: embedded fixity cannot be checked",
                f"HDU 0-{len(hdul) - 1}",
            )
            continue
        for i, hdu in enumerate(hdul):
            _fixity_of(hdu, i, key, method, check_id, checks, ctx)


def _fixity_of(
    hdu: object, i: int, key: str, method: str, check_id: str, checks: Checks, ctx: ScoreContext
) -> None:
    where = f"HDU {i}"
    if key not in hdu.header:  # type: ignore[attr-defined]
        checks.add(
            check_id,
            Tier.FIXITY,
            Severity.MEDIUM,
            Outcome.ABSENT,
            f"no {key} keyword: embedded fixity cannot be checked",
            where,
        )
        return
    if ctx.time_left < 0:
        checks.add(
            check_id,
            Tier.FIXITY,
            Severity.MEDIUM,
            Outcome.ABSENT,
            f"{key} not verified: time budget exhausted",
            where,
        )
        return
    with checks.run(check_id, Tier.FIXITY, Severity.MEDIUM, where):
        result = getattr(hdu, method)()
        if result == 1:
            checks.passed(check_id, Tier.FIXITY, Severity.MEDIUM, f"{key} matches", where)
        elif result == 0:
            checks.failed(
                check_id,
                Tier.FIXITY,
                Severity.MEDIUM,
                f"{key} does not match the {'data' if key == 'DATASUM' else 'HDU'}"
                " (corrupted content)",
                where,
            )
        else:
            checks.add(
                check_id, Tier.FIXITY, Severity.MEDIUM, Outcome.ABSENT, f"no {key} value", where
            )


def _verify(hdul: list, checks: Checks) -> None:
    with checks.run("fits.verify", Tier.CONFORMANCE, Severity.MEDIUM):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul.verify("warn")
        problems = [
            str(w.message).strip().splitlines()[0]
            for w in caught
            if "Note: astropy.io.fits uses zero-based indexing" not in str(w.message)
        ]
        problems = [p for p in problems if p]
        if problems:
            checks.failed(
                "fits.verify",
                Tier.CONFORMANCE,
                Severity.MEDIUM,
                f"{len(problems)} FITS standard issue(s): {problems[0]}",
                credit=max(0.0, 1 - 0.25 * len(problems)),
            )
        else:
            checks.passed(
                "fits.verify",
                Tier.CONFORMANCE,
                Severity.MEDIUM,
                "astropy verify found no standard violations",
            )


def _required_keywords(ctx: ScoreContext) -> tuple[str, ...]:
    # PHOENIX's wavelength grid (WAVE_*.fits) describes no star: no stellar parameters.
    if ctx.archive == "phoenix" and ctx.name.rsplit("/", 1)[-1].startswith("WAVE_"):
        return GENERIC_KEYWORDS
    return REQUIRED_KEYWORDS.get(ctx.archive or "", GENERIC_KEYWORDS)


def _keywords(hdul: list, checks: Checks, ctx: ScoreContext) -> None:
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


def _plausibility(hdul: list, checks: Checks, ctx: ScoreContext) -> None:
    budget = ctx.sample_bytes
    for i, hdu in enumerate(hdul):
        where = f"HDU {i}"
        if hdu.data is None or ctx.time_left < 0:
            continue
        with checks.run("fits.finite_data", Tier.PLAUSIBILITY, Severity.LOW, where):
            if hasattr(hdu, "columns"):
                arrays = [
                    (n, hdu.data[n])
                    for n in hdu.columns.names
                    if np.issubdtype(hdu.data[n].dtype, np.floating)
                ]
            elif np.issubdtype(hdu.data.dtype, np.floating):
                arrays = [("data", hdu.data)]
            else:
                arrays = []
            for name, arr in arrays:
                flat = np.ravel(arr)
                sample = flat[: max(1, budget // max(1, flat.itemsize))]
                finite = float(np.isfinite(sample).mean()) if sample.size else 1.0
                loc = f"{where} {name}"
                if finite >= 0.5:
                    checks.add(
                        "fits.finite_data",
                        Tier.PLAUSIBILITY,
                        Severity.LOW,
                        Outcome.PASS if finite == 1.0 else Outcome.FAIL,
                        f"{finite:.1%} of sampled values are finite",
                        loc,
                        credit=finite,
                    )
                else:
                    checks.failed(
                        "fits.finite_data",
                        Tier.PLAUSIBILITY,
                        Severity.LOW,
                        f"only {finite:.1%} of sampled values are finite",
                        loc,
                        finite,
                    )
                upper = name.upper()
                if "WAVE" in upper or ("WAVE" in ctx.name.upper() and name == "data"):
                    mono = bool(np.all(np.diff(sample[np.isfinite(sample)]) > 0))
                    checks.check(
                        "fits.monotonic_wavelength",
                        Tier.PLAUSIBILITY,
                        Severity.MEDIUM,
                        mono,
                        "wavelength grid strictly increasing",
                        "wavelength grid is not strictly increasing",
                        loc,
                    )
