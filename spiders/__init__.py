"""One spider per archive; shared behaviour lives in :mod:`spiders.base`."""

#: Spider name -> class, so ``scrapy crawl NAME`` imports one spider module, not all of them
#: (capture/spiderloader.py). tests/test_spiderloader.py checks it against Scrapy's full walk.
SPIDER_INDEX = {
    "exocubed": "spiders.exocubed.ExoCubedSpider",
    "iris_emc": "spiders.iris_emc.IrisEmcSpider",
    "jwst_mast": "spiders.jwst_mast.JwstMastSpider",
    "kegg": "spiders.kegg.KeggSpider",
    "kurucz": "spiders.kurucz.KuruczSpider",
    "nasa_exoplanet_archive": "spiders.nasa_exoplanet_archive.NasaExoplanetArchiveSpider",
    "noaa_paleo": "spiders.noaa_paleo.NoaaPaleoSpider",
    "pds_gravity": "spiders.pds_gravity.PdsGravitySpider",
    "phoenix": "spiders.phoenix.PhoenixSpider",
    "psg": "spiders.psg.PsgSpider",
    "rocke3d": "spiders.rocke3d.Rocke3DSpider",
    "thousand_genomes": "spiders.thousand_genomes.ThousandGenomesSpider",
}
