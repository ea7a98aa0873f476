"""NASA Planetary Spectrum Generator (PSG): one computed spectrum per (config file, type).

Protocol (https://psg.gsfc.nasa.gov/helpapi.php and the api.php source):
``POST /api.php`` with a url-encoded form: ``file=<config>`` (PSG's "relaxed XML", one
``<KEY>value`` per line; api.php answers nothing unless it starts with ``<``) and
``type=rad|trn|atm|str|srf|tel|noi|cfg|ret|opc|mss`` (``set``/``upd`` change server state and
are refused). The curl form ``curl -d type=trn --data-urlencode file@config.txt`` is the same
request. Clients send an API key as the form field ``key`` (VSPEC ``call_api``); here it comes
from ``PSG_API_KEY`` and is added by the download handler to the copy of the request that goes
on the wire (:mod:`capture.credentials`), so it is never part of an item, a queued request
(JOBDIR) or a feed (items, with their ``fetch`` body, are stored in the catalog).

Each answer is a file ``api/<config stem>.<type>.txt``; provenance is the config file's name and
sha256 (plus PSG's own ``# Synthesized on`` line). PSG reports errors inside a 200 answer as
``# ERROR | <module> | <message>`` (HTTP status of errors UNCONFIRMED: both a 200 error body and
an HTTP error are handled). Such an answer is quarantined by :meth:`inspect_file` with PSG's
message, never stored as a result: the bytes are kept (for diagnosis, next to a
``.reason.json``), and the next run computes it again. The rest of the configs go on.

Rate: PSG publishes no limit (none found) and each request is a computation on a
shared server, so one request at a time and at most one per second.

Default (``scrapy crawl psg``): the configs shipped with the spider as package data,
``spiders/data/psg/*.txt`` (read through :mod:`importlib.resources`, so they are found from a
source checkout, ``pip install -e .`` and a scrapyd egg alike), each POSTed with ``type=rad``
and ``type=trn``: radiance and transmittance of Earth, Venus, Mars, Jupiter, TRAPPIST-1 e,
WASP-39 b and Proxima Cen b, 0.3-20 um (solar-system bodies) or 0.6-5.3 um (transiting
planets, JWST NIRSpec PRISM range) at resolving power 100 for a 6.5 m telescope. 14 requests.
The configs are ours, written in the format of the recorded VSPEC config
(``shared/samples/psg/config_request_body_example.txt``): each a full, self-contained model
(object, geometry, a 12-layer P-T-abundance profile with HITRAN gases, surface, generator), so
PSG needs no ephemeris or template look-up (api.php's ``wephm``/``watm`` stay ``n``). Profiles
are textbook values (US Standard 1976 for Earth, VIRA-like Venus, mean Mars, Galileo-probe-like
Jupiter, H2/He with H2O, CO2, CO, SO2 for WASP-39 b); TRAPPIST-1 e and Proxima Cen b carry an
assumed temperate N2-dominated atmosphere (none is measured). Whether PSG accepts each file
unchanged is UNCONFIRMED (no PSG run from here); a refused one comes back as
``# ERROR | ...`` and is quarantined with PSG's message, as any config.

Arguments:
  ``-a configs=path/`` (a directory of config files, instead of the shipped set),
  ``-a types=rad,trn`` (default), ``-a base_url=...`` (e.g. a local ``nasapsg/psg``
  container, ``http://localhost:3000``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import Field, field_validator
from scrapy_spider_metadata import Args

from capture.formats.psg_output import PsgProblem, read_psg_output
from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from spiders.base import CaptureParams, CaptureSpider
from spiders.params import CommaList

TYPES = ("rad", "trn", "atm", "str", "srf", "tel", "noi", "cfg", "ret", "opc", "mss")
# A config file larger than this is refused rather than posted (GCM binaries can be large).
MAX_CONFIG_BYTES = 64 * 1024 * 1024
#: The shipped configs (package data ``spiders/data/psg``; module docstring).
DEFAULT_CONFIGS = ("data", "psg")


def default_configs() -> Traversable:
    """The shipped config directory, wherever the package lives (also inside a zipped egg)."""
    return files("spiders").joinpath(*DEFAULT_CONFIGS)


class PsgParams(CaptureParams):
    configs: str | None = Field(
        None,
        description="directory of PSG config files (<KEY>value lines); default: the shipped "
        "set in spiders/data/psg (Earth, Venus, Mars, Jupiter, TRAPPIST-1 e, WASP-39 b, "
        "Proxima Cen b)",
    )
    types: CommaList = Field(
        default=["rad", "trn"],
        description=f"PSG output types to compute for each config, among {', '.join(TYPES)}",
    )

    @field_validator("configs")
    @classmethod
    def _configs(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_dir():
            raise ValueError(f"not a directory: {value!r}")
        return value

    @field_validator("types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        value = [t.lower() for t in value]
        if not value:
            raise ValueError(f"give at least one of {', '.join(TYPES)}")
        for t in value:
            if t not in TYPES:
                raise ValueError(f"{t!r} is not one of {', '.join(TYPES)}")
        return value


class PsgSpider(CaptureSpider, Args[PsgParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: PsgParams
    name = "psg"
    domain = "spectroscopy"
    publisher = {
        "name": "NASA Planetary Spectrum Generator (GSFC)",
        "url": "https://psg.gsfc.nasa.gov/",
    }
    formats = ("text",)
    scope = (
        "PSG radiance and transmittance spectra (types rad, trn) of the shipped configs: "
        "Earth, Venus, Mars, Jupiter, TRAPPIST-1 e, WASP-39 b, Proxima Cen b"
    )
    default_base_url = "https://psg.gsfc.nasa.gov"
    api_path = "api.php"
    # No published limit: one computation at a time, at most 1 request per second.
    rate_limit: ClassVar[float] = 1.0
    form_credentials: ClassVar[dict[str, Any]] = {
        "env": "PSG_API_KEY",
        "field": "key",
        "paths": ["/api.php"],
    }
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 0,
        # Headers only arrive once PSG has computed the spectrum.
        "DOWNLOAD_TIMEOUT": 600,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        given = self.args.configs
        self.configs: Traversable = (
            Path(given).expanduser() if given is not None else default_configs()
        )
        #: Where the configs came from, kept with each result as provenance.
        self.config_source = str(self.configs) if given is not None else "spiders/data/psg"
        self.types = list(self.args.types)

    async def discover(self) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        seen: dict[str, str] = {}
        paths = sorted((p for p in self.configs.iterdir() if p.is_file()), key=lambda p: p.name)
        for path in paths:
            if path.name.startswith("."):
                continue
            config = await self.ctx.io.run(self.read_config, path)
            if config is None:
                stats.inc_value("psg/configs_refused")
                continue
            text, digest = config
            stem = PurePosixPath(path.name).stem or path.name
            if stem in seen:
                stats.inc_value("psg/configs_refused")
                self.logger.error(
                    "Config %s has the same stem as %s; rename one (results are api/<stem>.*)",
                    path.name,
                    seen[stem],
                )
                continue
            seen[stem] = path.name
            stats.inc_value("psg/configs")
            for psg_type in self.types:
                yield self.result_item(path.name, stem, text, digest, psg_type)

    def read_config(self, path: Traversable) -> tuple[str, str] | None:
        """(text to send, sha256 of the file) or None with a clear log line."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.logger.error("Cannot read config %s: %s", path, exc)
            return None
        if len(data) > MAX_CONFIG_BYTES:
            self.logger.error("Config %s is larger than %d bytes; refused", path, MAX_CONFIG_BYTES)
            return None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.logger.error("Config %s is not UTF-8 text: %s", path, exc)
            return None
        text = text.lstrip()
        if not text.startswith("<"):
            # api.php returns nothing for such a file (its source checks the leading '<').
            self.logger.error(
                "Config %s does not start with '<KEY>value' lines: not a PSG config", path
            )
            return None
        return text, hashlib.sha256(data).hexdigest()

    def result_item(
        self, name: str, stem: str, text: str, digest: str, psg_type: str
    ) -> CapturedFile:
        return self.new_file(
            self.archive_url(self.api_path),
            f"api/{stem}.{psg_type}.txt",
            format="text",
            metadata={
                "config_file": name,
                "config_source": self.config_source,
                "config_sha256": digest,
                "type": psg_type,
            },
            fetch={
                "method": "POST",
                "body": urlencode({"file": text, "type": psg_type}),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
        )

    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        try:
            output = read_psg_output(path, item.metadata.get("type", "rad"))
        except PsgProblem as problem:
            raise InspectionProblem(
                *(
                    f"{item.metadata.get('config_file')} ({item.metadata.get('type')}): {r}"
                    for r in problem.reasons
                ),
                metadata=problem.metadata,
            ) from None
        return output.metadata()
