"""End-to-end crawl of the PSG spider against its ``/api.php`` emulator (real sockets, a real
``scrapy crawl`` process): good configs are stored with their provenance, PSG's in-body errors
are quarantined without stopping the other configs, and the API key reaches PSG but never the
data root, the feed or the log."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import zipfile
from pathlib import Path

import pytest

from spiders.base import SpiderArgumentError
from spiders.psg import PsgSpider, default_configs
from tests.archives import ArchiveServer
from tests.archives.psg import PsgArchive
from tests.archives.psg import default_archive as psg_default_archive
from tests.archives.samples import samples_root
from tests.crawl import STABLE_FIELDS, catalog_rows, run_crawl

KEY = "psg-test-key-7f3a9c1e"
SYNTHETIC_CONFIG = """<OBJECT>Exoplanet
<OBJECT-NAME>Synthetic b
<OBJECT-DIAMETER>12742
<OBJECT-GRAVITY>9.8
<GENERATOR-RANGE1>1
<GENERATOR-RANGE2>18
<GENERATOR-RANGEUNIT>um
<GENERATOR-RESOLUTION>50
<GENERATOR-RADUNITS>Wm2um
<ATMOSPHERE-LAYERS>2
<ATMOSPHERE-LAYER-1>1.0,288.0,0.78,0.21
<ATMOSPHERE-LAYER-2>0.1,250.0,0.78,0.21
"""


def write_configs(directory: Path) -> dict[str, bytes]:
    """Configs on disk: the real VSPEC config where the samples exist, synthetic ones always."""
    directory.mkdir()
    configs = {
        "earth.txt": SYNTHETIC_CONFIG.replace("Synthetic b", "Earth twin").encode(),
        # An invalid GCM parameter line: PSG answers "# ERROR | GlobES | ...".
        "badgcm.txt": (SYNTHETIC_CONFIG + "<ATMOSPHERE-GCM-PARAMETERS>\n").encode(),
    }
    root = samples_root()
    real = root / "psg" / "config_request_body_example.txt" if root else None
    configs["proxima.txt"] = (
        real.read_bytes() if real is not None and real.exists() else SYNTHETIC_CONFIG.encode()
    )
    for name, data in configs.items():
        (directory / name).write_bytes(data)
    (directory / "notes.md").write_text("# my notes, not a PSG config\n")
    return configs


def file_metadata(data_dir: Path, archive_path: str) -> dict:
    (row,) = catalog_rows(
        data_dir, "select file_metadata from files where archive_path=?", archive_path
    )
    return json.loads(row["file_metadata"])


@pytest.fixture
def psg(server: ArchiveServer) -> PsgArchive:
    return PsgArchive(server)


def test_configs_to_results_errors_and_secret_key(
    psg: PsgArchive, tmp_path: Path, data_dir: Path
) -> None:
    configs = write_configs(tmp_path / "configs")
    result = run_crawl(
        "psg",
        data_dir,
        args={"base_url": psg.base_url, "configs": tmp_path / "configs", "types": "rad,trn"},
        env={"PSG_API_KEY": KEY},
    )
    assert result.returncode == 0, result.log[-3000:]
    items = result.by_path()
    stems = ("earth", "proxima", "badgcm")
    assert set(items) == {f"api/{c}.{t}.txt" for c in stems for t in ("rad", "trn")}
    for item in result.items:
        assert set(item) >= STABLE_FIELDS
        assert item["archive"] == "psg" and item["domain"] == "spectroscopy"
        assert item["url"] == f"{psg.base_url}/api.php"
        assert item["fetch"]["method"] == "POST"

    # Good configs: PSG's answer stored byte for byte, with the config's digest as provenance.
    for stem in ("earth", "proxima"):
        digest = hashlib.sha256(configs[f"{stem}.txt"]).hexdigest()
        for psg_type in ("rad", "trn"):
            item = items[f"api/{stem}.{psg_type}.txt"]
            assert item["status"] == "stored", item["error"]
            answer = psg.answers[psg_type]
            assert item["sha256"] == hashlib.sha256(answer).hexdigest()
            assert (data_dir / item["path"]).read_bytes() == answer
            meta = file_metadata(data_dir, item["archive_path"])
            assert meta["config_sha256"] == digest and meta["config_file"] == f"{stem}.txt"
            assert meta["type"] == psg_type and meta["psg_synthesized_on"]
            assert meta["data_rows"] > 0 and meta["data_columns"] >= 2
    rad = file_metadata(data_dir, "api/proxima.rad.txt")
    assert rad["psg_columns"] == "Wave/freq Total Noise Stellar Planet"
    assert rad["psg_title"] == "Radiance spectrum"
    if psg.real_samples:  # the recorded VSPEC answer
        assert rad["psg_synthesized_on"] == "Mon Feb 13 21:18:08 2023"
        assert rad["psg_warnings"][0].startswith("PUMAS: The aerosols require")

    # PSG's in-body error: quarantined with PSG's own message, not stored, others unaffected.
    for psg_type in ("rad", "trn"):
        item = items[f"api/badgcm.{psg_type}.txt"]
        assert item["status"] == "quarantined"
        assert "PSG error: GlobES: The variable ATMOSPHERE-GCM-PARAMETERS" in item["error"]
        assert not (data_dir / item["path"]).exists()
        kept = data_dir / "quarantine" / item["path"]
        assert kept.read_bytes() == psg.error_answer
        reason = (kept.parent / (kept.name + ".reason.json")).read_text()
        assert "ATMOSPHERE-GCM-PARAMETERS" in reason

    # The file that is not a config is refused with a clear line, never sent.
    assert "notes.md does not start with '<KEY>value' lines" in result.log
    assert result.stats.get("psg/configs") == 3 and result.stats.get("psg/configs_refused") == 1
    assert len(psg.forms) == 6

    # What PSG received: the config verbatim, the type, and the key from the environment.
    sent = {(f["file"][0], f["type"][0]) for f in psg.forms}
    assert (configs["earth.txt"].decode(), "trn") in sent
    assert all(f.get("key") == [KEY] for f in psg.forms)
    # ... and the key is nowhere in what we keep: data root (catalog included), feed, log.
    kept_files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".jsonl" for p in kept_files) and any(
        p.suffix == ".log" for p in kept_files
    )
    for path in kept_files:
        assert KEY.encode() not in path.read_bytes(), path

    # The spider's extra middleware joins the project's chain instead of replacing it.
    assert "middlewares.guard.ArchiveHostGuardMiddleware" in result.log
    assert "middlewares.credentials.ArchiveCredentialsMiddleware" in result.log
    # Politeness: one request at a time, at least ~1 s apart (rate_limit = 1/s).
    posts = sorted(e.at for e in psg.server.requests_for("/api.php", "POST"))
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(posts)]
    assert all(g >= 0.9 for g in gaps), (gaps, result.stats)


SHIPPED = {
    "earth",
    "venus",
    "mars",
    "jupiter",
    "trappist-1e",
    "wasp-39b",
    "proxima-cen-b",
}
LINE = re.compile(r"^<([A-Z0-9-]+)>(.*)$")


def test_no_arguments_computes_the_shipped_configs(tmp_path: Path, data_dir: Path) -> None:
    """``scrapy crawl psg`` with only base_url: every shipped config, radiance and
    transmittance, sent verbatim from the package data."""
    with ArchiveServer() as server:
        assert psg_default_archive(server, tmp_path) == {}
        result = run_crawl("psg", data_dir, args={"base_url": server.base_url})
        forms = server.requests_for("/api.php", "POST")
    assert result.returncode == 0, result.log[-3000:]
    expected = {f"api/{s}.{t}.txt": "stored" for s in SHIPPED for t in ("rad", "trn")}
    assert result.statuses() == expected
    assert len(forms) == 14
    for item in result.items:
        assert item["quality"]["score"] >= 0.9, item["quality"]
        assert (data_dir / item["path"]).is_file()
        meta = file_metadata(data_dir, item["archive_path"])
        shipped = default_configs().joinpath(meta["config_file"]).read_bytes()
        assert meta["config_sha256"] == hashlib.sha256(shipped).hexdigest()
        assert meta["config_source"] == "spiders/data/psg"
        assert meta["data_rows"] > 0


def test_shipped_configs_are_well_formed_psg_configs() -> None:
    """Each shipped config: only <KEY>value lines, the keys PSG needs for a self-contained
    model, and a layer table consistent with its declared gases and molecules."""
    names = {p.name for p in default_configs().iterdir()}
    assert names == {f"{s}.txt" for s in SHIPPED}
    for name in sorted(names):
        text = default_configs().joinpath(name).read_text()
        keys: dict[str, str] = {}
        for line in text.splitlines():
            match = LINE.match(line)
            assert match, (name, line)
            assert match[1] not in keys, (name, match[1])
            keys[match[1]] = match[2]
        for key in (
            "OBJECT",
            "OBJECT-NAME",
            "OBJECT-DIAMETER",
            "OBJECT-GRAVITY",
            "GEOMETRY",
            "ATMOSPHERE-WEIGHT",
            "ATMOSPHERE-PRESSURE",
            "GENERATOR-RANGE1",
            "GENERATOR-RANGE2",
            "GENERATOR-RESOLUTION",
            "GENERATOR-RADUNITS",
            "SURFACE-TEMPERATURE",
        ):
            assert keys.get(key), (name, key)
        gases = keys["ATMOSPHERE-GAS"].split(",")
        assert int(keys["ATMOSPHERE-NGAS"]) == len(gases)
        for key in ("ATMOSPHERE-TYPE", "ATMOSPHERE-ABUN", "ATMOSPHERE-UNIT"):
            assert len(keys[key].split(",")) == len(gases), (name, key)
        assert all(re.fullmatch(r"HIT\[\d+\]", t) for t in keys["ATMOSPHERE-TYPE"].split(","))
        molecules = keys["ATMOSPHERE-LAYERS-MOLECULES"].split(",")
        assert set(gases) <= set(molecules)
        layers = int(keys["ATMOSPHERE-LAYERS"])
        pressures = []
        for i in range(1, layers + 1):
            values = [float(v) for v in keys[f"ATMOSPHERE-LAYER-{i}"].split(",")]
            assert len(values) == 2 + len(molecules), (name, i)
            assert values[1] > 0 and all(0 <= v <= 1 for v in values[2:]), (name, i)
            pressures.append(values[0])
        assert pressures == sorted(pressures, reverse=True), name
        assert f"ATMOSPHERE-LAYER-{layers + 1}" not in keys
        assert float(keys["GENERATOR-RANGE1"]) < float(keys["GENERATOR-RANGE2"])


def test_shipped_configs_read_from_a_zipped_package(tmp_path: Path) -> None:
    """A scrapyd egg is a zip: the spider reads its configs through importlib.resources
    Traversables, which is what ``files()`` gives inside one."""
    egg = tmp_path / "capture.egg"
    with zipfile.ZipFile(egg, "w") as zf:
        for path in default_configs().iterdir():
            zf.writestr(f"spiders/data/psg/{path.name}", path.read_bytes())
    spider = PsgSpider()
    spider.configs = zipfile.Path(egg, "spiders/data/psg/")
    read = {p.name: spider.read_config(p) for p in spider.configs.iterdir()}
    assert set(read) == {f"{s}.txt" for s in SHIPPED}
    for name, config in read.items():
        assert config is not None and config[0].startswith("<OBJECT>"), name


def test_declared_parameters(tmp_path: Path) -> None:
    args = PsgSpider.param_model()()
    assert args.configs is None and args.types == ["rad", "trn"]
    spider = PsgSpider()
    assert spider.types == ["rad", "trn"] and spider.config_source == "spiders/data/psg"
    spider = PsgSpider(configs=str(tmp_path), types="RAD, noi")
    assert spider.types == ["rad", "noi"] and spider.configs == tmp_path
    for bad, message in (
        ({"types": "rad,xyz"}, "psg: types: 'xyz' is not one of rad, trn"),
        ({"types": ","}, "psg: types: give at least one of rad"),
        ({"configs": str(tmp_path / "nope")}, "psg: configs: not a directory: "),
        ({"config": str(tmp_path)}, "psg: unknown argument 'config'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            PsgSpider.check_args(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value), err.value
