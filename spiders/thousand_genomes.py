"""1000 Genomes / IGSR FTP tree, discovered from ``vol1/ftp/current.tree``.

Protocol (IGSR's own ``igsr_archive/current_tree.py``):
``current.tree`` sits at the top of ``vol1/ftp/`` and lists every file and directory, one per
line, tab-separated: ``path  type(file|directory)  size  updated(YYYY-MM-DD HH:MM:SS)  md5``,
with paths relative to ``vol1/`` starting ``ftp/``. Lines may end with a trailing tab (IGSR's
parser strips it); directory lines and lines without 5 fields are skipped. The real file is
~115 MB, so it is streamed to disk and parsed incrementally; files are fed to the downloader
lazily as earlier ones finish (Scrapy's ``CONCURRENT_ITEMS`` bounds what is in flight).

Served at ``https://ftp.1000genomes.ebi.ac.uk/vol1/ftp/...`` (also http:// and ftp://). The md5
in ``current.tree`` is verified for every file; the size is checked too.

What a run with no arguments captures (the mission's genomics scope: "BAM/CRAM metadata,
population data, 2,504+ individuals, 26 populations"): the files of ``current.tree`` under

* ``ftp/release/20130502/``: the final phase 3 release, the genotypes of the 2,504
  individuals (``ALL.chr*.phase3_*.genotypes.vcf.gz`` + ``.tbi``) and their population panel
  ``integrated_call_samples_v3.20130502.ALL.panel`` (sample, pop, super_pop, gender: the 26
  populations in 5 super-populations), pedigree, READMEs and ``supporting/``;
* ``ftp/phase3/``: the phase 3 alignment and sequence indexes
  (``20130502.phase3.low_coverage.alignment.index``: BAM/BAI/BAS paths with md5s) and, per
  sample, the BAM metadata beside each BAM (``.bai`` index, ``.bas`` read statistics);
* ``ftp/data_collections/1000_genomes_project/``: the GRCh38 re-alignment of the same samples
  (``*.GRCh38DH.alignment.index``: CRAM/CRAI/BAS with md5s; per-sample ``.crai``);
* ``ftp/data_collections/1000G_2504_high_coverage/``: the 30x high-coverage set of the 2,504
  (+698 related) samples: its ``*.sequence.index`` files and per-CRAM ``.crai``;

but not the alignments and reads themselves: files ending ``.bam``, ``.cram``, ``.fastq.gz``,
``.fq.gz``, ``.fastq`` are skipped unless ``-a alignments=1`` (the BAMs and CRAMs alone are
tens of TB; the mission asks for their metadata). Path layout from IGSR's
``README_ftp_site_structure.md`` and its ``README_data_collections.md`` (index columns);
``ftp/phase3/20130502.phase3.low_coverage.alignment.index`` and the ``release/20130502`` file
names are those third-party download scripts fetch.

Open cloud replica (``-a replica=cloud``): the AWS Registry of Open Data's ``1000genomes``
bucket (us-east-1, ``arn:aws:s3:::1000genomes``; awslabs/open-data-registry
``datasets/1000-genomes.yaml``) mirrors the FTP tree below ``ftp/``: a file
``ftp/release/20130502/X`` of current.tree is the key ``release/20130502/X`` (e.g. the
bucket's ``phase3/data/NA12878/...`` prefixes, as Bioconductor's survey1kg lists them).
current.tree itself, and so every md5 and size, still comes from EBI: the publisher's md5 is
what verifies the bytes S3 serves.

Arguments:
Citations: IGSR publishes no dataset DOI; it asks users to cite the publications of each data
collection, listed on the collection's page of its data portal
(``internationalgenome.org/data-portal/data-collection/<collection>``: phase 3 -> the 1000
Genomes Project Consortium, Nature 526:68-74, 2015; 30x GRCh38 -> Byrska-Bishop et al., Cell
185:3426, 2022; GRCh38 re-alignment -> Zheng-Bradley et al., GigaScience 6(7), 2017).
:data:`COLLECTIONS` holds them by tree prefix; each file gets its collection's citation
(``kind=publication``: the files are data supplementing the paper).

Arguments:
  ``-a prefix=ftp/release/20130502/,ftp/phase3/`` (comma-separated path prefixes; default: the
  four above; ``prefix=ftp/`` is the whole tree), ``-a exclude=...`` (comma-separated path
  prefixes to skip), ``-a alignments=1`` (also the BAM/CRAM/FASTQ files), ``-a replica=cloud``,
  ``-a base_url=...``.

Replicas (``-s CAPTURE_REPLICAS=ncbi,aws`` or ``all``; capture/replicas.py): the same file from
EBI over HTTPS or FTP, NCBI's mirror or the AWS bucket, failing over between them; current.tree's
md5 and size let a partial file continue on another mirror.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic import Field, field_validator
from scrapy_spider_metadata import Args

from capture import citation
from capture.formats.textio import iter_lines
from spiders.base import CaptureParams, CaptureSpider
from spiders.params import CommaList, Flag, Replica

MD5 = re.compile(r"^[0-9a-f]{32}$")
#: The mission's default scope (module docstring).
DEFAULT_PREFIXES = (
    "ftp/release/20130502/",
    "ftp/phase3/",
    "ftp/data_collections/1000_genomes_project/",
    "ftp/data_collections/1000G_2504_high_coverage/",
)
#: Alignments and reads themselves: skipped unless ``alignments=1``.
BULK_SUFFIXES = (".bam", ".cram", ".fastq.gz", ".fq.gz", ".fastq")


#: IGSR's publications: (doi, title, authors, year, reference as the journal prints it).
PHASE3 = (
    "10.1038/nature15393",
    "A global reference for human genetic variation",
    "The 1000 Genomes Project Consortium",
    2015,
    "The 1000 Genomes Project Consortium. A global reference for human genetic variation. "
    "Nature 526, 68-74 (2015).",
)
HIGH_COVERAGE = (
    "10.1016/j.cell.2022.08.004",
    "High-coverage whole-genome sequencing of the expanded 1000 Genomes Project cohort "
    "including 602 trios",
    "Byrska-Bishop, M. et al.",
    2022,
    "Byrska-Bishop M. et al. High-coverage whole-genome sequencing of the expanded 1000 Genomes "
    "Project cohort including 602 trios. Cell 185(18), 3426-3440.e19 (2022).",
)
GRCH38 = (
    "10.1093/gigascience/gix038",
    "Alignment of 1000 Genomes Project reads to reference assembly GRCh38",
    "Zheng-Bradley, X. et al.",
    2017,
    "Zheng-Bradley X. et al. Alignment of 1000 Genomes Project reads to reference assembly "
    "GRCh38. GigaScience 6(7), 1-8 (2017).",
)
Publication = tuple[str, str, str, int, str]
#: (tree prefix, IGSR data collection, its publications, the one to cite first), longest first.
COLLECTIONS: tuple[tuple[str, str, tuple[Publication, ...]], ...] = (
    (
        "ftp/data_collections/1000G_2504_high_coverage/",
        "1000 Genomes 30x on GRCh38",
        (HIGH_COVERAGE, PHASE3),
    ),
    ("ftp/data_collections/1000_genomes_project/", "1000 Genomes on GRCh38", (GRCH38, PHASE3)),
    ("ftp/release/20130502/", "1000 Genomes phase 3 release", (PHASE3,)),
    ("ftp/phase3/", "1000 Genomes phase 3 release", (PHASE3,)),
)


def collection_citation(rel: str) -> dict[str, Any] | None:
    """The citation IGSR asks for the data collection a ``current.tree`` path belongs to."""
    for prefix, collection, (first, *more) in COLLECTIONS:
        if rel.startswith(prefix):
            doi, title, author, year, text = first
            return citation.make(
                doi=doi,
                kind="publication",
                title=title,
                authors=[author],
                year=year,
                text=text,
                related=[citation.related(m[0], m[4]) for m in more],
                identifiers=[{"type": "IGSR data collection", "value": collection}],
                source="IGSR data portal, publications of the data collection "
                "(spiders/thousand_genomes.py COLLECTIONS)",
            )
    return None


def _tree_paths(value: list[str]) -> list[str]:
    for path in value:
        if not path.startswith("ftp/") or ".." in path.split("/"):
            raise ValueError(f"takes paths of current.tree, starting 'ftp/', got {path!r}")
    return value


class ThousandGenomesParams(CaptureParams):
    prefix: CommaList = Field(
        default=list(DEFAULT_PREFIXES),
        description="path prefixes of current.tree to capture (default: the phase 3 release, "
        "phase 3 and GRCh38/high-coverage alignment metadata; ftp/ = the whole tree)",
    )
    exclude: CommaList = Field(default=[], description="path prefixes to skip")
    alignments: Flag = Field(
        False,
        description="also capture the BAM/CRAM alignments and FASTQ reads themselves "
        "(tens of TB); default: only their indexes (.bai/.crai), statistics (.bas) and "
        "index tables",
    )
    replica: Replica = Field(
        "origin",
        description="where file bodies come from: origin (EBI) or cloud (the AWS Open Data "
        "bucket s3://1000genomes, read anonymously; current.tree's md5 still verified)",
    )

    @field_validator("prefix", "exclude")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        return _tree_paths(value)


class ThousandGenomesSpider(CaptureSpider, Args[ThousandGenomesParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: ThousandGenomesParams
    name = "thousand_genomes"
    domain = "genomics"
    publisher = {
        "name": "International Genome Sample Resource (1000 Genomes)",
        "url": "https://www.internationalgenome.org/",
    }
    formats = ("vcf.gz", "tabix", "index", "bai", "bas", "crai", "text")
    scope = (
        "current.tree files under ftp/release/20130502/, ftp/phase3/ and "
        "ftp/data_collections/{1000_genomes_project,1000G_2504_high_coverage}/ "
        "(2,504-sample genotypes, population panel, alignment/sequence indexes, .bai/.bas/.crai; "
        "no .bam/.cram/.fastq), md5-verified"
    )
    default_base_url = "https://ftp.1000genomes.ebi.ac.uk"
    cloud_bucket = "1000genomes"
    #: IGSR's official mirrors of ``vol1/ftp/`` (README_ftp_site_structure; NCBI's copy at
    #: ftp-trace; the AWS Open Data bucket), for CAPTURE_REPLICAS (capture/replicas.py).
    mirrors = {
        "ebi": "https://ftp.1000genomes.ebi.ac.uk/vol1/ftp/",
        "ebi_ftp": "ftp://ftp.1000genomes.ebi.ac.uk/vol1/ftp/",
        "ncbi": "https://ftp-trace.ncbi.nih.gov/1000genomes/ftp/",
        "aws": "s3://1000genomes/",
    }
    replica_root = "vol1/ftp/"
    tree_path = "vol1/ftp/current.tree"
    custom_settings = {
        # EBI publishes no rate limit for this tree; stay modest and let big files share.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_DELAY": 0,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.prefixes = list(self.args.prefix)
        self.excludes = list(self.args.exclude)
        self.alignments = self.args.alignments

    async def discover(self) -> AsyncIterator[Any]:
        yield self.listing_request(
            self.archive_url(self.tree_path), "current.tree", self.parse_tree
        )

    def file_url(self, rel: str) -> str:
        """Where the file ``ftp/...`` of current.tree is fetched from (see ``replica``)."""
        if self.replica == "cloud":
            return self.cloud_url(rel[len("ftp/") :])
        return self.archive_url(f"vol1/{rel}")

    def wanted(self, path: str) -> bool:
        if self.prefixes and not any(path.startswith(p) for p in self.prefixes):
            return False
        if not self.alignments and path.lower().endswith(BULK_SUFFIXES):
            self.crawler.stats.inc_value("thousand_genomes/tree/skipped_alignments")
            return False
        return not any(path.startswith(x) for x in self.excludes)

    def covers(self, archive_path: str) -> bool:
        """Exactly the paths :meth:`wanted` takes: current.tree lists the whole archive."""
        rel = archive_path.removeprefix("vol1/")
        if self.prefixes and not any(rel.startswith(p) for p in self.prefixes):
            return False
        if not self.alignments and rel.lower().endswith(BULK_SUFFIXES):
            return False
        return not any(rel.startswith(x) for x in self.excludes)

    async def parse_tree(self, response: Any) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        path = self.streamed_path(response)
        async for line in iter_lines(path, self.ctx.io):
            if not self.crawler.crawling:
                return
            fields = line.split("\t")
            if len(fields) > 5 and fields[-1] == "":
                fields.pop()  # the trailing tab IGSR's own parser strips
            if len(fields) >= 2 and fields[1].strip() == "directory":
                continue
            if len(fields) < 5:
                if line.strip():
                    stats.inc_value("thousand_genomes/tree/skipped_malformed")
                continue
            rel, kind, size, updated, md5 = (f.strip() for f in fields[:5])
            if kind != "file":
                continue
            if not rel.startswith("ftp/"):
                # e.g. the tree's own entry "/nfs/1000g-work/.../current.tree" (a server path)
                stats.inc_value("thousand_genomes/tree/skipped_not_ftp")
                continue
            if not self.wanted(rel):
                continue
            try:
                expected = int(size)
            except ValueError:
                stats.inc_value("thousand_genomes/tree/skipped_bad_size")
                self.logger.warning("current.tree: bad size %r for %s", size, rel)
                continue
            item = self.new_file(
                self.file_url(rel),
                f"vol1/{rel}",
                expected_size=expected,
                metadata={"updated": updated, "tree": "vol1/ftp/current.tree"},
                citation=collection_citation(rel),
            )
            md5 = md5.lower()
            if MD5.match(md5):
                item.expect_digest("md5", md5, "vol1/ftp/current.tree")
            else:
                stats.inc_value("thousand_genomes/tree/no_valid_md5")
                self.logger.warning("current.tree: md5 %r of %s is not an md5; size only", md5, rel)
            stats.inc_value("thousand_genomes/tree/files")
            yield item
