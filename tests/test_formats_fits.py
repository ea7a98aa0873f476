"""capture.formats.fits against FITS files nobody here wrote: every header of every FITS file
astropy ships as test data reads as astropy reads it (keywords in order, values typed alike),
and so do the JWST files recorded under ``../shared/samples`` (skipped where there are none)."""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path

import astropy
import pytest
from astropy.io import fits

from capture.formats.fits import (
    BLOCK,
    NotFits,
    card_value,
    parse_header,
    primary_header,
    read_header,
)

ASTROPY = Path(astropy.__file__).parent
FITS_FILES = sorted(
    [
        *(ASTROPY / "io" / "fits" / "tests" / "data").glob("*.fits"),
        *(ASTROPY / "io" / "fits" / "hdu" / "compressed" / "tests" / "data").glob("*.fits"),
    ]
)
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
JWST_FILES = sorted(SAMPLES.rglob("jw*.fits")) if SAMPLES.is_dir() else []


def astropy_hdus(path: Path) -> list[tuple[int, fits.Header]] | None:
    """(header offset, header as astropy parses it) per HDU; None when astropy cannot open
    the file (some test files are broken on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with fits.open(
                path,
                lazy_load_hdus=False,
                do_not_scale_image_data=True,
                disable_image_compression=True,
            ) as hdul:
                offsets = [hdu._header_offset for hdu in hdul]
        except Exception:
            return None
        found = []
        with open(path, "rb") as fh:
            for offset in offsets:
                fh.seek(offset)
                found.append((offset, fits.Header.fromfile(fh)))
    return found


def differences(ours: list[tuple[str, object]], theirs: fits.Header) -> tuple[int, list[str]]:
    """(valued cards compared, disagreements). astropy folds CONTINUE cards into the long
    string they continue; complex and undefined values are kept as text here."""
    cards = [(k, v) for k, v in ours if k != "CONTINUE"]
    if len(cards) != len(theirs.cards):
        return 0, [f"{len(cards)} cards, astropy reads {len(theirs.cards)}"]
    compared, bad = 0, []
    for (keyword, value), card in zip(cards, theirs.cards, strict=True):
        if keyword != "HIERARCH" and keyword != card.keyword:
            bad.append(f"keyword {keyword!r}, astropy reads {card.keyword!r}")
        expected = card.value
        if value is None or isinstance(expected, complex) or expected is fits.card.UNDEFINED:
            continue
        compared += 1
        same = type(value) is type(expected) and (
            value == expected
            or (isinstance(value, float) and abs(value - expected) <= 1e-12 * abs(expected))
        )
        if not same:
            bad.append(f"{keyword} = {value!r}, astropy reads {expected!r}")
    return compared, bad


def test_every_header_of_astropys_test_files_reads_as_astropy_reads_it() -> None:
    compared, opened = 0, 0
    problems: list[str] = []
    for path in FITS_FILES:
        hdus = astropy_hdus(path)
        if hdus is None:
            continue
        opened += 1
        with open(path, "rb") as fh:
            for i, (offset, theirs) in enumerate(hdus):
                fh.seek(offset)
                ours = read_header(fh)
                assert ours.end, f"{path.name} HDU {i}: no END found"
                n, bad = differences(ours.cards, theirs)
                compared += n
                problems += [f"{path.name} HDU {i}: {b}" for b in bad]
    assert not problems, "\n".join(problems)
    assert opened >= 30 and compared > 2500, (opened, compared)


def test_a_long_string_joins_its_continue_cards() -> None:
    path = ASTROPY / "io" / "fits" / "tests" / "data" / "chandra_time.fits"
    hdus = astropy_hdus(path)
    assert hdus is not None
    with open(path, "rb") as fh:
        fh.seek(hdus[1][0])
        values = read_header(fh).values()
    assert values["TITLE"] == hdus[1][1]["TITLE"]
    assert str(values["TITLE"]).endswith("Dwarf Galaxies")


@pytest.mark.parametrize("path", FITS_FILES[:8], ids=lambda p: p.name)
def test_the_first_bytes_give_the_cards_present(path: Path) -> None:
    """A head cut anywhere (a transfer's first kilobyte) gives the whole cards in it."""
    data = path.read_bytes()
    whole = parse_header(data)
    for cut in (0, 79, 80, 1000, BLOCK):
        head = parse_header(data[:cut])
        assert head.cards == whole.cards[: cut // 80]
        assert head.end is (whole.end and cut // 80 > len(whole.cards))


def test_never_raises_on_bytes_that_are_not_a_header() -> None:
    rng = random.Random(15)
    for _ in range(200):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3 * BLOCK)))
        blob = rng.choice([blob, b"SIMPLE  = " + blob, b"KEY     = '" + blob])
        header = parse_header(blob)
        assert isinstance(header.cards, list)
        read_header(io.BytesIO(blob), max_blocks=2)
    assert card_value("'O''HARA  '  / a name") == "O'HARA"
    assert card_value("1.5D3") == 1500.0 and card_value("T") is True
    assert card_value("(1, 2)") == "(1, 2)" and card_value("") == ""


def test_primary_header_refuses_what_is_not_fits(tmp_path: Path) -> None:
    html = tmp_path / "page.fits"
    html.write_bytes(b"<!DOCTYPE html><html>" + b" " * 3000)
    with pytest.raises(NotFits, match="not a FITS file"):
        primary_header(str(html))
    source = ASTROPY / "io" / "fits" / "tests" / "data" / "test0.fits"
    endless = tmp_path / "endless.fits"
    endless.write_bytes(source.read_bytes()[: 80 * 5].ljust(BLOCK * 3))
    with pytest.raises(NotFits, match="no END"):
        primary_header(str(endless))
    with pytest.raises(NotFits, match="no END"):
        primary_header(str(source), max_blocks=1)  # its primary header takes 2 blocks
    assert primary_header(str(source)).values()["SIMPLE"] is True


@pytest.mark.skipif(not JWST_FILES, reason="no JWST FITS files under ../shared/samples")
@pytest.mark.parametrize("path", JWST_FILES, ids=lambda p: p.name)
def test_jwst_samples_read_as_astropy_reads_them(path: Path) -> None:
    hdus = astropy_hdus(path)
    assert hdus is not None, f"astropy cannot open {path}"
    ours = primary_header(str(path))
    compared, bad = differences(ours.cards, hdus[0][1])
    assert not bad and compared, bad
    assert ours.values()["TELESCOP"] == "JWST"
