"""PHOENIX-ACES-AGSS-COND-2011 high-resolution spectra (Husser et al. 2013), Göttingen.

Tree (Starfish ``grid_tools``; taurex-space/phoenix4all ``sources/hiresfits.py``):
``https://phoenix.astro.physik.uni-goettingen.de/data/HiResFITS/`` holds
``WAVE_PHOENIX-ACES-AGSS-COND-2011.fits`` and ``PHOENIX-ACES-AGSS-COND-2011/Z<FeH>
[.Alpha=<a>]/lte{Teff:05d}-{logg:.2f}{FeH:+.1f}[.Alpha={a:+.2f}].PHOENIX-ACES-AGSS-COND-2011-
HiRes.fits``. Solar metallicity is written ``-0.0`` (``Z-0.0``); alpha directories look like
``Z-0.0.Alpha=+0.20`` / ``Z-0.5.Alpha=-0.20`` (sign always written, two decimals: Starfish docs
list ``Z-0.0.Alpha=+0.20 ... Z-0.0.Alpha=-0.20``, eniric tests, phoenix4all regexes; a point no
documentation settled, resolved). A newer copy of the same tree is served under
``/data/v2.0/HiResFITS/`` (phoenix4all): choose it with ``-a root=/data/v2.0/HiResFITS/``.

Discovery: the directory listings (phoenix4all walks them recursively with a generic
Apache/nginx parser, so they exist; their exact HTML is UNCONFIRMED and any of the three styles
is accepted). Only the grid directory and the ``Z...`` directories whose [Fe/H]/alpha pass the
filters are listed; spectra are kept when the parameters parsed from the FILE NAME (never the
listing text) pass ``-a teff= logg= feh= alpha=`` (ranges ``lo-hi``, inclusive; single values
allowed). The wavelength file is yielded once.

Fallback where a listing is unavailable (403 or 404): the root -> the documented grid directory
(and the wavelength file by its documented name); the grid directory -> the documented ``Z``
directories within the filters; a ``Z`` directory -> the documented names over the documented
steps (Teff 100 K to 7000 K, 200 K above; logg 0.5; Husser et al. 2013) within the filters.
Not every node exists (e.g. 5250 K, third-party code), so each generated name is first probed
with ``HEAD``: a 404 there means "not in the grid" and the name is skipped with the stat
``phoenix/pattern/not_in_grid`` (a guess that missed is not a failed capture), while a file the
server LISTED and then answers 404 for stays a per-file ``failed`` item (the archive contradicts
itself, which an operator must see). Other probe outcomes hand the file to the downloader, which
reports them per file.

No checksums or exact sizes are published; ``inspect_file`` reads the FITS headers (astropy),
checks the file is as long as its headers say, that a spectrum has its abundance-table
extension (documented on the archive's "Info on spectra" page), and that ``PHXTEFF``,
``PHXLOGG``, ``PHXM_H``, ``PHXALPHA`` agree with the name; any disagreement quarantines it.

Default (no arguments; the mission's high-resolution stellar spectra, Teff 2,300-25,000 K): the
whole PHOENIX-ACES-AGSS-COND-2011 HiRes grid, i.e. ``GET /data/HiResFITS/`` on
``https://phoenix.astro.physik.uni-goettingen.de``, then ``PHOENIX-ACES-AGSS-COND-2011/`` and
every ``Z<FeH>[.Alpha=<a>]/`` below it (``max_depth=2``), capturing the wavelength file and every
``lte*.PHOENIX-ACES-AGSS-COND-2011-HiRes.fits`` spectrum; no parameter filter. The grid spans
what it spans: Teff 2,300-12,000 K, log g 0.0-6.0, [Fe/H] -4.0..+1.0, [alpha/M] -0.2..+1.2
(Husser et al. 2013); the mission's hotter stars (12,000-25,000 K) are not in this grid (the
Kurucz ATLAS9 grids cover them).

Arguments (:class:`PhoenixParams`): ``teff``, ``logg``, ``feh``, ``alpha`` (a value or an
inclusive range ``lo-hi``; default: no filter), ``root``, ``include``, ``exclude``,
``max_depth``, ``render_js``, ``base_url``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import scrapy
from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema
from scrapy.http import Response
from scrapy_spider_metadata import Args

from capture.formats.autoindex import IndexEntry
from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from spiders.listing import Directories, DirectoryListingSpider, ListingParams, NonNegativeInt

GRID = "PHOENIX-ACES-AGSS-COND-2011"
WAVE = f"WAVE_{GRID}.fits"
_NUM = r"[+-]?\d+(?:\.\d*)?"
FILE_RE = re.compile(
    r"^lte(?P<teff>\d{5})-(?P<logg>\d+\.\d+)(?P<feh>[+-]\d+\.\d+)"
    r"(?:\.Alpha=(?P<alpha>[+-]\d+\.\d+))?\." + re.escape(GRID) + r"-HiRes\.fits$"
)
DIR_RE = re.compile(r"^Z(?P<feh>[+-]\d+\.\d+)(?:\.Alpha=(?P<alpha>[+-]\d+\.\d+))?$")
RANGE_RE = re.compile(rf"^(?P<lo>{_NUM})(?:(?:\.\.|:|-)(?P<hi>{_NUM}))?$")

# Documented grid (Husser et al. 2013, A&A 553, A6).
TEFFS = (*range(2300, 7001, 100), *range(7200, 12001, 200))
LOGGS = tuple(i * 0.5 for i in range(13))
FEHS = (-4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0)
ALPHAS = (-0.2, 0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
EPS = 1e-6

# FITS keyword, name parameter, tolerance (the keywords the archive documents, ?page_id=10)
HEADER_CHECKS = (
    ("PHXTEFF", "teff", 0.5),
    ("PHXLOGG", "logg", 0.005),
    ("PHXM_H", "feh", 0.005),
    ("PHXALPHA", "alpha", 0.005),
)
HEADER_RECORDED = ("PHXVER", "PHXEOS", "PHXDUST", "PHXXI_L", "PHXMASS", "PHXREFF", "PHXLUM")


@dataclass(frozen=True)
class Range:
    """An inclusive range of a grid parameter (a single value is ``lo == hi``)."""

    lo: float
    hi: float

    def __contains__(self, value: float) -> bool:
        return self.lo - EPS <= value <= self.hi + EPS

    def __str__(self) -> str:
        return f"{self.lo:g}" if self.lo == self.hi else f"{self.lo:g}-{self.hi:g}"


#: Every value: no filter on that parameter.
ANY = Range(float("-inf"), float("inf"))


def parse_range(text: str) -> Range:
    """``"2300-12000"``, ``"-4.0--1.0"``, ``"0.0"`` (one value), ``"0..6"`` or ``"0:6"``."""
    m = RANGE_RE.match(text.replace(" ", ""))
    if not m:
        raise ValueError(f"expected a value or a range lo-hi (e.g. 2300-7000), got {text!r}")
    lo = float(m.group("lo")) + 0.0
    hi = float(m.group("hi")) + 0.0 if m.group("hi") is not None else lo
    if hi < lo:
        raise ValueError(f"the range {text!r} is empty (lo > hi)")
    return Range(lo, hi)


def _range_arg(value: Any) -> Range | None:
    """A range from the command line (``"5000-6000"``) or a JSON config (a number, a
    ``[lo, hi]`` pair or the same string)."""
    if value is None or isinstance(value, Range):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a value or a range lo-hi, got {value!r}")
    if isinstance(value, int | float):
        return Range(float(value), float(value))
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            lo, hi = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            raise ValueError(f"expected a [lo, hi] pair of numbers, got {value!r}") from None
        if hi < lo:
            raise ValueError(f"the range {value!r} is empty (lo > hi)")
        return Range(lo, hi)
    if isinstance(value, str):
        return parse_range(value) if value.strip() else None
    raise ValueError(f"expected a value or a range lo-hi, got {value!r}")


#: ``-a teff=5000-6000``: a value or an inclusive range (``None``: no filter).
RangeArg = Annotated[
    Range | None,
    PlainValidator(_range_arg),
    PlainSerializer(lambda r: None if r is None else str(r), return_type=str | None),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "examples": ["2300-7000", "4.5", "-1.0-0.5"],
        }
    ),
]


@dataclass(frozen=True)
class Spectrum:
    teff: int
    logg: float
    feh: float
    alpha: float

    @property
    def directory(self) -> str:
        return z_directory(self.feh, self.alpha)

    @property
    def filename(self) -> str:
        return (
            f"lte{self.teff:05d}-{self.logg:.2f}{feh_text(self.feh)}{alpha_text(self.alpha)}"
            f".{GRID}-HiRes.fits"
        )

    def metadata(self) -> dict[str, Any]:
        return {"teff": self.teff, "logg": self.logg, "feh": self.feh, "alpha": self.alpha}


def feh_text(feh: float) -> str:
    return "-0.0" if abs(feh) < EPS else f"{feh:+.1f}"  # solar is written "-0.0"


def alpha_text(alpha: float) -> str:
    return "" if abs(alpha) < EPS else f".Alpha={alpha:+.2f}"


def z_directory(feh: float, alpha: float) -> str:
    return f"Z{feh_text(feh)}{alpha_text(alpha)}"


def _number(text: str | None) -> float:
    return float(text) + 0.0 if text else 0.0  # "+ 0.0" turns -0.0 into 0.0


def parse_spectrum_name(name: str) -> Spectrum | None:
    m = FILE_RE.match(name)
    if not m:
        return None
    return Spectrum(
        int(m.group("teff")),
        _number(m.group("logg")),
        _number(m.group("feh")),
        _number(m.group("alpha")),
    )


def parse_z_directory(name: str) -> tuple[float, float] | None:
    m = DIR_RE.match(name)
    return (_number(m.group("feh")), _number(m.group("alpha"))) if m else None


class PhoenixParams(ListingParams):
    teff: RangeArg = Field(
        None,
        description="effective temperature in K, a value or a range lo-hi (grid: 2300-12000; "
        "default: all)",
    )
    logg: RangeArg = Field(
        None,
        description="surface gravity log g, a value or a range lo-hi (grid: 0-6; default: all)",
    )
    feh: RangeArg = Field(
        None,
        description="metallicity [Fe/H], a value or a range lo-hi, e.g. -1.0-0.5 (grid: -4.0 to "
        "+1.0; default: all)",
    )
    alpha: RangeArg = Field(
        None,
        description="alpha enhancement [alpha/M], a value or a range lo-hi (grid: -0.2 to +1.2; "
        "default: all)",
    )
    root: Directories = Field(
        default=["/data/HiResFITS/"],
        description="the HiRes tree, comma-separated (default /data/HiResFITS/; the newer copy "
        "is /data/v2.0/HiResFITS/)",
    )
    # HiResFITS/ -> PHOENIX-ACES-AGSS-COND-2011/ -> Z.../
    max_depth: NonNegativeInt = Field(
        2, description="directory levels below the root that are listed (the grid has 2)"
    )


class PhoenixSpider(DirectoryListingSpider, Args[PhoenixParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: PhoenixParams
    name = "phoenix"
    domain = "astrophysics"
    publisher = {
        "name": "PHOENIX stellar atmosphere library (Universität Göttingen)",
        "url": "https://phoenix.astro.physik.uni-goettingen.de/",
    }
    formats = ("fits",)
    scope = (
        "the whole PHOENIX-ACES-AGSS-COND-2011 HiRes grid (/data/HiResFITS/: wavelength file "
        "and every spectrum, all log g, [Fe/H], alpha); the grid spans Teff 2,300-12,000 K, "
        "not the mission's full 2,300-25,000 K"
    )
    default_base_url = "https://phoenix.astro.physik.uni-goettingen.de"
    custom_settings = {
        # One server in Göttingen, no published limit; the full grid is >100 GB and "slow"
        # (BrownDwarf/gollum docs/fetching_models.rst): two connections at a time.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_DELAY": 0,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        params: PhoenixParams = self.args
        self.teff = params.teff or ANY
        self.logg = params.logg or ANY
        self.feh = params.feh or ANY
        self.alpha = params.alpha or ANY
        self._yielded: set[str] = set()

    # -- filters ---------------------------------------------------------------------------
    def z_wanted(self, feh: float, alpha: float) -> bool:
        return feh in self.feh and alpha in self.alpha

    def spectrum_wanted(self, s: Spectrum) -> bool:
        return s.teff in self.teff and s.logg in self.logg and self.z_wanted(s.feh, s.alpha)

    # -- listings --------------------------------------------------------------------------
    def directory_request(self, url: str, root: str, depth: int) -> scrapy.Request:
        request = super().directory_request(url, root, depth)
        # 403/404 come to parse_directory: they mean "use the documented names instead".
        return request.replace(meta={**request.meta, "handle_httpstatus_list": [403, 404]})

    def parse_directory(self, response: Response, root: str, depth: int) -> Iterator[Any]:
        if response.status in (403, 404):
            yield from self.listing_unavailable(response, root)
            return
        yield from super().parse_directory(response, root, depth)

    def wanted_directory(self, entry: IndexEntry, root: str) -> bool:
        if not super().wanted_directory(entry, root):
            return False
        rel = self.path_below_root(entry.url, root).strip("/")
        if rel == GRID:
            return True
        parent, _, name = rel.rpartition("/")
        z = parse_z_directory(name) if parent == GRID else None
        return z is not None and self.z_wanted(*z)

    def file_item(self, entry: IndexEntry, rel: str) -> CapturedFile | None:
        if rel == WAVE:
            item = super().file_item(entry, rel)
            return self._once(self._wave(item, "listing")) if item else None
        parent, _, name = rel.rpartition("/")
        if not parent.startswith(GRID + "/"):
            self.crawler.stats.inc_value("phoenix/listing/other_files")
            return None
        spectrum = parse_spectrum_name(name)
        if spectrum is None:
            self.crawler.stats.inc_value("phoenix/listing/unrecognised_names")
            return None
        if not self.spectrum_wanted(spectrum):
            return None
        item = super().file_item(entry, rel)
        if item is None:
            return None
        item.metadata.update(self._spectrum_metadata(spectrum, "listing"))
        return self._once(item)

    # -- fallback to the documented names --------------------------------------------------
    def listing_unavailable(self, response: Response, root: str) -> Iterator[Any]:
        rel = self.path_below_root(response.url, root).strip("/")
        self.crawler.stats.inc_value("phoenix/listing/unavailable")
        self.logger.warning(
            "Listing %s unavailable (HTTP %d): using the documented names",
            response.url,
            response.status,
        )
        base = self.base_url + root
        if rel == "":
            path = root + WAVE
            item = self.new_file(self.archive_url(path), path.lstrip("/"))
            wave = self._once(self._wave(item, "pattern"))
            if wave is not None:
                yield wave
            yield self.directory_request(f"{base}{GRID}/", root, 1)
        elif rel == GRID:
            for feh in FEHS:
                for alpha in ALPHAS:
                    if self.z_wanted(feh, alpha):
                        z = z_directory(feh, alpha)
                        yield self.directory_request(f"{base}{GRID}/{z}/", root, 2)
        elif rel.startswith(GRID + "/") and (node := parse_z_directory(rel[len(GRID) + 1 :])):
            yield from self.probes(root, *node)

    def probes(self, root: str, feh: float, alpha: float) -> Iterator[scrapy.Request]:
        """Every documented node of one Z directory that passes the filters."""
        for teff in TEFFS:
            for logg in LOGGS:
                spectrum = Spectrum(teff, logg, feh, alpha)
                if self.spectrum_wanted(spectrum):
                    yield self.probe(root, spectrum)

    def probe(self, root: str, spectrum: Spectrum) -> scrapy.Request:
        """HEAD a generated name: only nodes that exist become items."""
        self.crawler.stats.inc_value("phoenix/pattern/probes")
        path = f"{root}{GRID}/{spectrum.directory}/{spectrum.filename}"
        return scrapy.Request(
            self.archive_url(path),
            method="HEAD",
            callback=self.probe_answered,
            errback=self.probe_failed,
            meta={"handle_httpstatus_list": [404]},
            cb_kwargs={"spectrum": spectrum, "path": path},
        )

    def probe_answered(
        self, response: Response, spectrum: Spectrum, path: str
    ) -> Iterator[CapturedFile]:
        if response.status == 404:
            self.crawler.stats.inc_value("phoenix/pattern/not_in_grid")
            self.logger.debug("Not in the grid (404): %s", response.url)
            return
        self.crawler.stats.inc_value("phoenix/pattern/found")
        item = self._pattern_item(spectrum, path)
        if item is not None:
            yield item

    def probe_failed(self, failure: Any) -> Iterator[CapturedFile]:
        """Not a 404: let the downloader try the file and report the outcome per file."""
        request = failure.request
        self.crawler.stats.inc_value("phoenix/pattern/probe_errors")
        self.logger.warning("Probe of %s failed: %s", request.url, failure.getErrorMessage())
        item = self._pattern_item(**request.cb_kwargs)
        if item is not None:
            yield item

    def _pattern_item(self, spectrum: Spectrum, path: str) -> CapturedFile | None:
        item = self.new_file(self.archive_url(path), path.lstrip("/"))
        item.metadata.update(self._spectrum_metadata(spectrum, "pattern"))
        return self._once(item)

    # -- items -----------------------------------------------------------------------------
    def _spectrum_metadata(self, spectrum: Spectrum, how: str) -> dict[str, Any]:
        return {**spectrum.metadata(), "grid": GRID, "resolution": "HiRes", "discovered_by": how}

    def _wave(self, item: CapturedFile, how: str) -> CapturedFile:
        item.metadata.update({"grid": GRID, "kind": "wavelength_grid", "discovered_by": how})
        return item

    def _once(self, item: CapturedFile | None) -> CapturedFile | None:
        if item is None or item.archive_path in self._yielded:
            return None
        self._yielded.add(item.archive_path)
        return item

    # -- inspection ------------------------------------------------------------------------
    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        """FITS structure and the PHX* grid keywords against the file name."""
        from astropy.io import fits

        name = item.archive_path.rsplit("/", 1)[-1]
        try:
            with fits.open(path, memmap=False) as hdul:
                headers = [hdu.header for hdu in hdul]
                needed = max(hdul.fileinfo(i)["datLoc"] + hdul[i].size for i in range(len(hdul)))
        except (OSError, ValueError, KeyError) as exc:
            raise InspectionProblem(f"not a readable FITS file: {exc}") from exc
        size = os.path.getsize(path)
        if size < needed:
            raise InspectionProblem(
                f"truncated FITS: its headers describe {needed} bytes, the file has {size}"
            )
        primary = headers[0]
        found: dict[str, Any] = {"hdus": len(headers), "naxis1": primary.get("NAXIS1")}
        spectrum = parse_spectrum_name(name)
        if spectrum is None:
            return {"fits": found}
        problems = []
        if len(headers) < 2:
            problems.append("no abundance-table extension (HiRes spectra have one)")
        for keyword, param, tolerance in HEADER_CHECKS:
            value = primary.get(keyword)
            if not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"{keyword} missing from the primary header")
                continue
            found[keyword] = float(value)
            expected = getattr(spectrum, param)
            if abs(float(value) - expected) > tolerance:
                problems.append(f"{keyword}={value} but the file name says {param}={expected}")
        for keyword in HEADER_RECORDED:
            value = primary.get(keyword)
            if isinstance(value, str | int | float | bool):
                found[keyword] = value
        if problems:
            raise InspectionProblem(*problems, metadata={"fits": found})
        return {"fits": found}
