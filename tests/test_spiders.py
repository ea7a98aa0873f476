"""Every spider the loader finds (Kingfisher Collect's ``test_spiders.py`` style): it declares
its archive and its parameters, starts with no arguments against its emulator (honouring
``base_url``), and refuses a bad argument with one line and a non-zero exit."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.project import get_project_settings
from scrapy_spider_metadata import get_spider_metadata

from capture.items import DOMAINS
from spiders.base import CaptureSpider
from spiders.params import SpiderArgumentError
from tests.archives import ArchiveServer
from tests.crawl import REPO, DeadPort, catalog_rows, run_crawl

#: The emulator module of each spider (each has ``default_archive(server, workdir)``).
EMULATORS = {
    "nasa_exoplanet_archive": "tests.archives.nasa_exoplanet_archive",
    "phoenix": "tests.archives.phoenix",
    "kurucz": "tests.archives.kurucz",
    "jwst_mast": "tests.archives.mast",
    "psg": "tests.archives.psg",
    "rocke3d": "tests.archives.rocke3d",
    "exocubed": "tests.archives.exocubed",
    "kegg": "tests.archives.kegg",
    "thousand_genomes": "tests.archives.thousand_genomes",
    "noaa_paleo": "tests.archives.noaa_paleo",
    "iris_emc": "tests.archives.iris_emc",
    "pds_gravity": "tests.archives.pds_gravity",
}
#: Spiders whose defaults skip the archive by design (no confirmed public location).
SKIPPED_BY_DEFAULT = {"exocubed"}


def loader() -> SpiderLoader:
    return SpiderLoader.from_settings(get_project_settings())


SPIDER_NAMES = sorted(loader().list())


def spider_class(name: str) -> type[CaptureSpider]:
    return loader().load(name)  # type: ignore[no-any-return]


def test_every_spider_has_an_emulator() -> None:
    assert set(SPIDER_NAMES) == set(EMULATORS)


@pytest.mark.parametrize("name", SPIDER_NAMES)
def test_spider_declares_its_archive_and_parameters(name: str) -> None:
    cls = spider_class(name)
    assert issubclass(cls, CaptureSpider)
    decl = cls.declaration()
    assert decl["domain"] in DOMAINS
    assert decl["publisher"]["name"] and decl["publisher"]["url"].startswith("http")
    assert decl["scope"] and decl["formats"]
    assert cls.default_base_url.startswith(("http://", "https://"))
    meta = get_spider_metadata(cls, normalize=True)
    props = meta["param_schema"]["properties"]
    assert "base_url" in props
    for field, schema in props.items():
        assert schema.get("description"), f"{name}.{field} has no help text"
    cls.check_args({})  # no arguments: the mission's default scope, never an error
    with pytest.raises(SpiderArgumentError, match=rf"^{name}: unknown argument 'no_such_arg'"):
        cls.check_args({"no_such_arg": "1"})


def bad_value(cls: type[CaptureSpider]) -> tuple[str, str]:
    """An argument of the spider and a value its declaration must refuse."""
    props = get_spider_metadata(cls, normalize=True)["param_schema"]["properties"]
    for field, schema in props.items():
        types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
        if "integer" in types or "number" in types:
            return field, "abc"
    return "base_url", "gopher://nowhere"  # ftp:// is a supported mirror scheme


@pytest.mark.parametrize("name", SPIDER_NAMES)
def test_bad_argument_is_one_line_and_non_zero(name: str, tmp_path: Path) -> None:
    field, value = bad_value(spider_class(name))
    for arg in (f"{field}={value}", "no_such_arg=1"):
        proc = subprocess.run(
            [sys.executable, "-m", "scrapy", "crawl", name, "-a", arg],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CAPTURE_DATA_DIR": str(tmp_path / "data")},
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"error: {name}: "), lines[0]
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "data" / "catalog.sqlite").exists()  # nothing started


@pytest.mark.parametrize("name", SPIDER_NAMES)
def test_spider_starts_with_no_arguments_against_its_emulator(name: str, tmp_path: Path) -> None:
    emulator = importlib.import_module(EMULATORS[name])
    data = tmp_path / "data"
    with ArchiveServer() as server:
        extra: dict[str, Any] = emulator.default_archive(server, tmp_path / "work")
        assert extra == {}, "the default scope needs no arguments"
        result = run_crawl(name, data, args={"base_url": server.base_url}, timeout=300)
        hosts = {e.headers.get("host") for e in server.log}
        port, base = server.port, server.base_url
    assert "Traceback" not in result.log, result.log[-3000:]
    if name in SKIPPED_BY_DEFAULT:
        assert result.returncode == 0, result.log[-3000:]
        assert "skipped" in result.log and not result.items
        return
    assert result.returncode == 0, result.log[-3000:]
    stored = [i for i in result.items if i["status"] == "stored"]
    assert stored, result.log[-3000:]
    assert all(i["url"].startswith(base) for i in result.items)
    assert hosts == {f"127.0.0.1:{port}"}  # base_url honoured: nothing else asked
    states = {r["state"] for r in catalog_rows(data, "select state from files")}
    assert "failed" not in states


def readme_spider_rows() -> dict[str, str]:
    text = (REPO / "README.md").read_text()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([a-z0-9_]+)` \| ([a-z_]+) \|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_readme_spider_table_matches_the_declarations() -> None:
    from capture.cli.spiders import markdown, spider_rows

    assert markdown(spider_rows()) in (REPO / "README.md").read_text()
    rows = readme_spider_rows()
    assert set(rows) == set(SPIDER_NAMES)
    for name, domain in rows.items():
        assert spider_class(name).domain == domain
    text = (REPO / "README.md").read_text()
    for name in SPIDER_NAMES:
        props = get_spider_metadata(spider_class(name))["param_schema"]["properties"]
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        for arg in re.findall(r"`([a-z_]+)=", row):
            assert arg in props, f"README names {name} argument {arg!r} it does not declare"


def test_archive_and_domain_tables_come_from_the_spiders() -> None:
    from capture import archives, domains

    for name in SPIDER_NAMES:
        cls = spider_class(name)
        assert name in domains.spiders_of(cls.domain)
        assert archives.publisher(cls.archive or name) == cls.declaration()["publisher"]
    assert json.dumps(domains.spiders_by_domain())  # serialisable, for reports


@pytest.mark.parametrize("name", sorted(set(SPIDER_NAMES) - SKIPPED_BY_DEFAULT))
def test_unreachable_archive_ends_fast_as_unreachable(name: str, tmp_path: Path) -> None:
    """Nothing listens at base_url: the circuit opens, the crawl ends as unreachable (exit 4)
    within seconds, and no file is marked failed (they stay discovered for a resume)."""
    import time

    data = tmp_path / "data"
    started = time.monotonic()
    with DeadPort() as dead:
        result = run_crawl(
            name, data, args={"base_url": f"http://127.0.0.1:{dead.port}"}, timeout=120
        )
    took = time.monotonic() - started
    assert result.returncode == 4, result.log[-3000:]
    assert f"{name}: unreachable: 127.0.0.1:" in result.log
    assert "Traceback" not in result.log and "AlreadyCalledError" not in result.log
    assert took < 60, took
    if (data / "catalog.sqlite").exists():
        states = {r["state"] for r in catalog_rows(data, "select state from files")}
        assert "failed" not in states, states
