"""Who publishes each archive (for DataCite/RO-Crate exports and reports)."""

from __future__ import annotations

PUBLISHERS: dict[str, dict[str, str]] = {
    "nasa_exoplanet_archive": {
        "name": "NASA Exoplanet Archive (NExScI/IPAC, Caltech)",
        "url": "https://exoplanetarchive.ipac.caltech.edu/",
    },
    "jwst_mast": {
        "name": "Mikulski Archive for Space Telescopes (STScI)",
        "url": "https://mast.stsci.edu/",
    },
    "psg": {
        "name": "NASA Planetary Spectrum Generator (GSFC)",
        "url": "https://psg.gsfc.nasa.gov/",
    },
    "phoenix": {
        "name": "PHOENIX stellar atmosphere library (Universität Göttingen)",
        "url": "https://phoenix.astro.physik.uni-goettingen.de/",
    },
    "kurucz": {
        "name": "Kurucz model atmospheres (Harvard-Smithsonian CfA)",
        "url": "http://kurucz.harvard.edu/",
    },
    "rocke3d": {
        "name": "ROCKE-3D (NASA GISS)",
        "url": "https://www.giss.nasa.gov/projects/rocke-3d/",
    },
    "exocubed": {"name": "ExoCubed GCM outputs", "url": "https://portal.nccs.nasa.gov/datashare/"},
    "kegg": {"name": "KEGG (Kanehisa Laboratories)", "url": "https://www.kegg.jp/"},
    "thousand_genomes": {
        "name": "International Genome Sample Resource (1000 Genomes)",
        "url": "https://www.internationalgenome.org/",
    },
    "noaa_paleo": {"name": "NOAA NCEI Paleoclimatology", "url": "https://www.ncei.noaa.gov/"},
    "iris_emc": {
        "name": "EarthScope Consortium (IRIS Earth Model Collaboration)",
        "url": "https://ds.iris.edu/ds/products/emc/",
    },
    "pds_gravity": {
        "name": "NASA PDS Geosciences Node",
        "url": "https://pds-geosciences.wustl.edu/",
    },
    "capture_ops": {"name": "capture (this system)", "url": "https://capture.invalid/"},
}

MEDIA_TYPES: dict[str, str] = {
    "fits": "application/fits",
    "fits.gz": "application/gzip",
    "netcdf": "application/x-netcdf",
    "hdf5": "application/x-hdf5",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "votable": "application/x-votable+xml",
    "ipac": "text/plain",
    "json": "application/json",
    "vcf": "text/plain",
    "vcf.gz": "application/gzip",
    "gzip": "application/gzip",
    "text": "text/plain",
    "kegg_flat": "text/plain",
    "psg": "text/plain",
    "pds_table": "text/plain",
    "pds_label": "text/plain",
    "index": "text/tab-separated-values",
    "html": "text/html",
    "xml": "application/xml",
    "bam": "application/octet-stream",
    "cram": "application/octet-stream",
}


def publisher(archive: str) -> dict[str, str]:
    return PUBLISHERS.get(archive, {"name": archive, "url": ""})


def media_type(fmt: str | None) -> str:
    return MEDIA_TYPES.get(fmt or "", "application/octet-stream")
