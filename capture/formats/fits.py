"""FITS header cards, read from a file (primary or extension header) or from its first bytes.

One reader for the spiders' inspection (``jwst_mast`` records a few primary keywords of every
verified file) and the FITS quality scorer (mandatory-keyword order and placement, per HDU).
astropy stays where it does the job: the scorer opens the HDU structure, data and checksums
with it, and ``phoenix`` reads its grid keywords with it. The cards are read here, by hand,
because:

* astropy's ``Header`` repairs what it reads (it adds a missing ``NAXIS1`` to a random-groups
  header, fixes cards on verify) and raises on cards it cannot parse; the scorer judges the
  cards as the file stores them, and this reader never raises on content (a value that fits
  no type is kept as its text, a header cut short says so in :attr:`Header.end`);
* the crawl process runs it on every verified JWST file, where importing ``astropy.io.fits``
  would add ~0.4 s and ~25 MB to a crawl that otherwise never loads astropy; it reads the
  header's own 2880-byte blocks up to END, never the data.

Card syntax: FITS 4.0 sec. 4.1-4.2 (80-byte ASCII cards in 2880-byte blocks, value indicator
``"= "`` in bytes 9-10, strings in single quotes with ``''`` for a quote and trailing blanks
not significant, logicals ``T``/``F``, Fortran ``D`` exponents). ``tests/test_formats_fits.py``
holds it to astropy's reading of every FITS file astropy ships as test data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO

BLOCK = 2880
CARD = 80
SIMPLE = b"SIMPLE  ="
_STRING = re.compile(r"'((?:[^']|'')*)'")

#: (keyword, value): the value is None for a card without the value indicator (COMMENT,
#: HISTORY, blank, CONTINUE and HIERARCH cards).
Card = tuple[str, object]


class NotFits(ValueError):
    """The file does not hold a FITS primary header (no SIMPLE card first, or no END)."""


@dataclass
class Header:
    cards: list[Card] = field(default_factory=list)
    #: An END card closed the header (False: the bytes ended, or the block limit was reached).
    end: bool = False

    def values(self) -> dict[str, object]:
        """Keyword -> value, the first occurrence winning (as astropy and CFITSIO read a
        duplicated keyword)."""
        return dict(reversed(self.cards))


def is_fits(head: bytes) -> bool:
    """Whether bytes starting a file are a FITS primary header."""
    return head.startswith(SIMPLE)


def card_value(text: str) -> object:
    """A fixed- or free-format value (the card after ``"= "``): str, bool, int, float, or the
    raw text if none fits (complex values, an undefined value, a malformed one)."""
    text = text.strip()
    if text.startswith("'"):
        match = _STRING.match(text)
        return match.group(1).replace("''", "'").rstrip() if match else text
    text = text.split("/", 1)[0].strip()
    if text in ("T", "F"):
        return text == "T"
    for kind in (int, float):
        try:
            return kind(text.replace("D", "E")) if kind is float else kind(text)
        except ValueError:
            pass
    return text


def _add_cards(data: bytes, cards: list[Card]) -> bool:
    """Append the whole cards of ``data`` up to END; True when END was among them."""
    for n in range(0, len(data) - CARD + 1, CARD):
        card = data[n : n + CARD].decode("ascii", "replace")
        keyword = card[:8].rstrip()
        if keyword == "END":
            return True
        if keyword == "CONTINUE":
            _continue(cards, card[8:])
        cards.append((keyword, card_value(card[10:]) if card[8:10] == "= " else None))
    return False


def _continue(cards: list[Card], text: str) -> None:
    """A long string (FITS 4.0 sec. 4.2.1.2): a string ending in ``&`` goes on in the
    CONTINUE cards that follow it. The value joins the owner's; the CONTINUE cards stay, so
    the cards are still those stored."""
    owner = len(cards) - 1
    while owner >= 0 and cards[owner][0] == "CONTINUE":
        owner -= 1
    if owner < 0:
        return
    keyword, value = cards[owner]
    more = card_value(text)
    if isinstance(value, str) and value.endswith("&") and text.strip().startswith("'"):
        cards[owner] = (keyword, value[:-1] + str(more))


def parse_header(data: bytes) -> Header:
    """The header at the start of ``data`` (a whole header, or a file's first bytes: the
    cards present, with ``end=False`` when END is not among them)."""
    header = Header()
    header.end = _add_cards(data, header.cards)
    return header


def read_header(fh: BinaryIO, max_blocks: int | None = None) -> Header:
    """The header starting at ``fh``'s position (a primary header at 0, an extension's at its
    offset), read block by block up to END; at most ``max_blocks`` blocks."""
    header = Header()
    blocks = 0
    while max_blocks is None or blocks < max_blocks:
        block = fh.read(BLOCK)
        blocks += 1
        if _add_cards(block, header.cards):
            header.end = True
            break
        if len(block) < BLOCK:
            break
    return header


def primary_header(path: str, max_blocks: int = 100) -> Header:
    """The primary header of the file at ``path``; :class:`NotFits` when the file does not
    start with a SIMPLE card or no END comes within ``max_blocks`` blocks."""
    with open(path, "rb") as fh:
        if not is_fits(fh.read(len(SIMPLE))):
            raise NotFits("not a FITS file: it does not start with 'SIMPLE  ='")
        fh.seek(0)
        header = read_header(fh, max_blocks)
    if not header.end:
        raise NotFits("FITS primary header has no END card")
    return header
