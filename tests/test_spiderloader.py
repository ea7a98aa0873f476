"""capture.spiderloader: ``scrapy crawl NAME`` imports one spider module, and the index it
relies on says exactly what Scrapy's full walk finds."""

from __future__ import annotations

import subprocess
import sys

from scrapy.spiderloader import SpiderLoader
from scrapy.utils.project import get_project_settings

from capture.spiderloader import IndexedSpiderLoader
from spiders import SPIDER_INDEX


def test_index_is_what_scrapys_walk_finds() -> None:
    walked = SpiderLoader.from_settings(get_project_settings())
    found = {
        name: f"{cls.__module__}.{cls.__qualname__}"
        for name in walked.list()
        for cls in [walked.load(name)]
    }
    assert found == SPIDER_INDEX


def test_loader_answers_like_scrapys() -> None:
    settings = get_project_settings()
    assert settings["SPIDER_LOADER_CLASS"] == "capture.spiderloader.IndexedSpiderLoader"
    ours, scrapys = IndexedSpiderLoader(settings), SpiderLoader(settings)
    for name in SPIDER_INDEX:
        assert ours.load(name) is scrapys.load(name)
    assert sorted(IndexedSpiderLoader(settings).list()) == sorted(scrapys.list())
    try:
        IndexedSpiderLoader(settings).load("no_such_spider")
    except KeyError as exc:
        assert "no_such_spider" in str(exc)
    else:
        raise AssertionError("an unknown spider name must raise KeyError")


def test_loading_one_spider_imports_no_other_spider_module() -> None:
    code = (
        "import sys\n"
        "from scrapy.utils.project import get_project_settings\n"
        "from capture.spiderloader import IndexedSpiderLoader\n"
        "IndexedSpiderLoader(get_project_settings()).load('kegg')\n"
        "print(sorted(m for m in sys.modules if m.startswith('spiders.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {m for m in eval(out.stdout) if m.count(".") == 1}
    others = {path.rsplit(".", 1)[0] for name, path in SPIDER_INDEX.items() if name != "kegg"}
    assert "spiders.kegg" in loaded
    assert not (others - {"spiders.base", "spiders.listing", "spiders.params"}) & loaded
