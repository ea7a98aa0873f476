"""1000 Genomes emulator: ``/vol1/ftp/current.tree`` plus the files it lists.

``current.tree`` is produced in the real format (``path<TAB>type<TAB>size<TAB>updated<TAB>md5``,
paths relative to ``vol1/``, trailing tabs on most lines, directory lines mixed in, and the
tree's own entry under a server path ``/nfs/1000g-work/...`` as in the real file).

:func:`default_archive` lays out the mission's scope in the real tree layout and formats: the
phase 3 release (BGZF genotype VCF, population panel), a phase 3 BAM with its ``.bai`` and
``.bas``, a GRCh38 CRAM with its ``.crai`` and the ``*.alignment.index`` /
``*.sequence.index`` tables in IGSR's ``##``/``#`` header layout (samples in
``shared/samples/thousand_genomes``), plus files outside the default scope.
"""

from __future__ import annotations

import gzip
import hashlib
import pathlib
import struct
import zlib
from dataclasses import dataclass, field

from tests.archives.content import Blob
from tests.archives.server import ArchiveServer

UPDATED = "2015-09-17 16:15:09"
#: Spider arguments for tests that put files anywhere in the tree (the spider's default scope
#: is the mission's four prefixes, see spiders/thousand_genomes.py).
WHOLE_TREE = {"prefix": "ftp/"}


@dataclass
class TreeEntry:
    path: str  # relative to vol1/, e.g. "ftp/release/x.vcf.gz"
    blob: Blob | None
    kind: str = "file"
    md5: str | None = None  # override (e.g. a wrong md5); default: the blob's real md5
    size: int | None = None  # override of the listed size
    served: bool = True


@dataclass
class ThousandGenomesArchive:
    server: ArchiveServer
    entries: list[TreeEntry] = field(default_factory=list)
    raw_lines: list[str] = field(default_factory=list)

    def add_file(self, path: str, blob: Blob, **kw: object) -> TreeEntry:
        entry = TreeEntry(path, blob, **kw)  # type: ignore[arg-type]
        self.entries.append(entry)
        if entry.served:
            self.server.add(f"/vol1/{path}", blob)
        return entry

    def add_directory(self, path: str) -> None:
        self.entries.append(TreeEntry(path, None, kind="directory"))

    def tree_text(self) -> str:
        lines = [
            "/nfs/1000g-work/G1K/archive_staging/ftp/current.tree\tfile\t115513189\t"
            "2020-12-09 14:58:10\t83c60f0266fac94f39385f0076435c1e\t"
        ]
        for e in self.entries:
            if e.kind == "directory":
                lines.append(f"{e.path}\tdirectory\t4096\t{UPDATED}\t\t")
                continue
            assert e.blob is not None
            size = e.size if e.size is not None else e.blob.size
            md5 = e.md5 if e.md5 is not None else e.blob.md5
            lines.append(f"{e.path}\tfile\t{size}\t{UPDATED}\t{md5}\t")
        lines.extend(self.raw_lines)
        return "\n".join(lines) + "\n"

    def publish(self) -> str:
        """(Re)build current.tree from the entries; returns the archive's base URL."""
        data = self.tree_text().encode()
        self.server.add("/vol1/ftp/current.tree", Blob.of(data), content_type="text/plain")
        return self.server.base_url


# -- a small archive in the mission's default scope ---------------------------------------------

#: The 26 populations of phase 3 and their super-populations (the panel's pop/super_pop).
POPULATIONS = {
    "AFR": ("YRI", "LWK", "GWD", "MSL", "ESN", "ASW", "ACB"),
    "AMR": ("MXL", "PUR", "CLM", "PEL"),
    "EAS": ("CHB", "JPT", "CHS", "CDX", "KHV"),
    "EUR": ("CEU", "TSI", "FIN", "GBR", "IBS"),
    "SAS": ("GIH", "PJL", "BEB", "STU", "ITU"),
}
#: The empty block that ends every BGZF file (SAM/BAM specification 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
REL = "ftp/release/20130502"
PHASE3 = "ftp/phase3/data/HG00096/alignment/HG00096.mapped.ILLUMINA.bwa.GBR.low_coverage.20120522"
GRCH38 = "ftp/data_collections/1000_genomes_project"
CRAM = f"{GRCH38}/data/GBR/HG00096/alignment/HG00096.alt_bwamem_GRCh38DH.20150718.GBR.low_coverage"
HIGH_COVERAGE = "ftp/data_collections/1000G_2504_high_coverage"

BAS_COLUMNS = (
    "bam_filename md5 study sample platform library readgroup #_total_bases "
    "#_mapped_bases #_total_reads #_mapped_reads #_mapped_reads_paired_in_sequencing "
    "#_mapped_reads_properly_paired %_of_mismatched_bases average_quality_of_mapped_bases "
    "mean_insert_size insert_size_sd median_insert_size "
    "insert_size_median_absolute_deviation #_duplicate_reads #_duplicate_bases"
)
BAS_VALUES = (
    "4785862100 4710381203 47858621 47103812 47103812 45981120 0.41 31.9 449.2 38.1 446 25 "
    "1128820 112882000"
)
SEQUENCE_INDEX_COLUMNS = (
    "ENA_FILE_PATH MD5SUM RUN_ID STUDY_ID STUDY_NAME CENTER_NAME SUBMISSION_ID "
    "SUBMISSION_DATE SAMPLE_ID SAMPLE_NAME POPULATION EXPERIMENT_ID INSTRUMENT_PLATFORM "
    "INSTRUMENT_MODEL LIBRARY_NAME RUN_NAME INSERT_SIZE LIBRARY_LAYOUT PAIRED_FASTQ "
    "READ_COUNT BASE_COUNT ANALYSIS_GROUP"
)


def bgzf(data: bytes) -> bytes:
    """BGZF: gzip members of at most 64 KiB with the ``BC`` extra field, then the EOF block."""
    out = bytearray()
    for start in range(0, len(data), 0xFF00):
        chunk = data[start : start + 0xFF00]
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated = packer.compress(chunk) + packer.flush()
        header = struct.pack(
            "<4BI2BH2B2H", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, 18 + len(deflated) + 8 - 1
        )
        out += header + deflated + struct.pack("<2I", zlib.crc32(chunk), len(chunk))
    return bytes(out + BGZF_EOF)


def samples() -> list[tuple[str, str, str, str]]:
    """(sample, pop, super_pop, gender): one emulated individual per population."""
    rows = []
    for n, (superpop, pop) in enumerate((s, p) for s, pops in POPULATIONS.items() for p in pops):
        rows.append((f"HG{n + 96:05d}", pop, superpop, "male" if n % 2 else "female"))
    return rows


def panel() -> bytes:
    lines = ["sample\tpop\tsuper_pop\tgender"] + ["\t".join(r) for r in samples()]
    return ("\n".join(lines) + "\n").encode()


def genotypes_vcf(records: int = 60) -> bytes:
    """A phase 3 style chromosome 22 VCF: sites with AC/AF/AN, a GT column per sample."""
    ids = [s[0] for s in samples()]
    head = [
        "##fileformat=VCFv4.1",
        "##source=1000GenomesPhase3Pipeline",
        "##contig=<ID=22,assembly=b37,length=51304566>",
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Total number of alternate alleles">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Estimated allele frequency">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(ids),
    ]
    body = []
    for i in range(records):
        gts = [("0|0", "0|1", "1|0", "1|1")[(i * 7 + j * 3) % 4] for j in range(len(ids))]
        ac = sum(g.count("1") for g in gts)
        an = 2 * len(ids)
        body.append(
            f"22\t{16050075 + 37 * i}\trs{587697622 + i}\tA\tG\t100\tPASS\t"
            f"AC={ac};AF={ac / an:.4f};AN={an}\tGT\t" + "\t".join(gts)
        )
    return bgzf(("\n".join(head + body) + "\n").encode())


def bai() -> bytes:
    """A BAI index for one reference with no bins (BAM spec 5.2: magic, n_ref, n_bin, n_intv)."""
    return b"BAI\x01" + struct.pack("<3i", 1, 0, 0)


def bas(bam: str, md5: str) -> bytes:
    """BAM statistics (``.bas``): one tab-separated row per read group under a header."""
    cols = BAS_COLUMNS.split()
    name = bam.rsplit("/", 1)[-1]
    stats = BAS_VALUES.split()
    rows = [
        [name, md5, "SRP001294", "HG00096", "ILLUMINA", lib, rg, *stats]
        for lib, rg in (("2845856850", "SRR062634"), ("2845856851", "SRR062635"))
    ]
    return ("\n".join("\t".join(r) for r in [cols, *rows]) + "\n").encode()


def crai() -> bytes:
    """A CRAM index: gzip of ``seq, start, span, container offset, slice offset, slice size``."""
    rows = [
        f"{ref}\t{1 + 10000 * i}\t10000\t{26 + 5000 * i}\t563\t4437"
        for ref in (0, 1)
        for i in range(20)
    ]
    return gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0)


def alignment_index(rows: list[tuple[str, str, str, str, str, str]]) -> bytes:
    """IGSR ``*.alignment.index`` (header lines as in the real GRCh38DH index)."""
    head = [
        "##Date=2015-10-08",
        "##Project-the 1000 Genomes Project",
        "##CRAM=EBI ftp path to the CRAM file.",
        "##CRAM_MD5=md5 for CRAM file",
        "##BAI=EBI ftp path to the CRAI file. ",
        "##BAI_MD5=md5 for the CRAI file",
        "##BAS=EBI ftp path to the BAS file. ",
        "##BAS_MD%=md5 for the BAS file",
        "#CRAM\tCRAM_MD5\tCRAI\tCRAI_MD5\tBAS\tBAS_MD5",
    ]
    return ("\n".join(head + ["\t".join(r) for r in rows]) + "\n").encode()


def sequence_index() -> bytes:
    """IGSR ``*.sequence.index``: ENA fastq paths with md5 and read counts (22 columns)."""
    cols = SEQUENCE_INDEX_COLUMNS.split()
    head = [f"##{c}=" for c in ("ENA_FILE_PATH", "MD5", "RUN_ID")] + ["#" + "\t".join(cols)]
    rows = []
    for n, (sample, pop, _, _) in enumerate(samples()[:6]):
        run = f"ERR{3239276 + n}"
        for mate in (1, 2):
            fastq = f"ftp://ftp.sra.ebi.ac.uk/vol1/fastq/ERR323/00{n}/{run}/{run}_{mate}.fastq.gz"
            md5 = hashlib.md5(fastq.encode()).hexdigest()
            study = ["ERP114329", "1000G high coverage", "NYGC", "ERA1975217", "2019-06-27 00:00"]
            library = [f"ERX{3266700 + n}", "ILLUMINA", "Illumina NovaSeq 6000", f"lib{n}", ""]
            reads = ["450", "PAIRED", f"{run}_{3 - mate}.fastq.gz", "369614418", "55811777118"]
            rows.append(
                [
                    fastq,
                    md5,
                    run,
                    *study,
                    f"SAMEA{3302600 + n}",
                    sample,
                    pop,
                    *library,
                    *reads,
                    "high coverage",
                ]
            )
    return ("\n".join(head + ["\t".join(r) for r in rows]) + "\n").encode()


def default_archive(server: ArchiveServer, workdir: pathlib.Path) -> dict[str, str]:
    """The default scope in a few KB: in scope (captured by a no-argument crawl) the release's
    panel, chr22 genotype VCF and README, a phase 3 BAM's ``.bai``/``.bas``, a GRCh38 CRAM's
    ``.crai``, the GRCh38 alignment index and the high-coverage sequence index; listed but not
    captured: the BAM and CRAM themselves, and files outside the four default prefixes."""
    tg = ThousandGenomesArchive(server)
    for d in ("ftp/release", REL, "ftp/phase3", GRCH38, HIGH_COVERAGE):
        tg.add_directory(d)
    tg.add_file(f"{REL}/integrated_call_samples_v3.20130502.ALL.panel", Blob.of(panel()))
    tg.add_file(
        f"{REL}/ALL.chr22.phase3_shapeit2_mvncall_integrated_v5a.20130502.genotypes.vcf.gz",
        Blob.of(genotypes_vcf()),
    )
    tg.add_file(
        f"{REL}/README_phase3_callset_20150220",
        Blob.of(b"Phase 3 integrated call set: 2504 individuals from 26 populations.\n"),
    )
    bam = Blob("HG00096.bam", 48_000)
    tg.add_file(f"{PHASE3}.bam", bam)
    tg.add_file(f"{PHASE3}.bam.bai", Blob.of(bai()))
    tg.add_file(f"{PHASE3}.bam.bas", Blob.of(bas(f"{PHASE3}.bam", bam.md5)))
    cram, index = Blob("HG00096.cram", 32_000), Blob.of(crai())
    cram_bas = Blob.of(bas(f"{CRAM}.cram", cram.md5))
    tg.add_file(f"{CRAM}.cram", cram)
    tg.add_file(f"{CRAM}.cram.crai", index)
    tg.add_file(f"{CRAM}.bas", cram_bas)
    ftp = "ftp:/ftp.1000genomes.ebi.ac.uk/vol1/"  # single slash, as IGSR publishes it
    row = (
        f"{ftp}{CRAM}.cram",
        cram.md5,
        f"{ftp}{CRAM}.cram.crai",
        index.md5,
        f"{ftp}{CRAM}.bas",
        cram_bas.md5,
    )
    tg.add_file(
        f"{GRCH38}/1000genomes.low_coverage.GRCh38DH.alignment.index",
        Blob.of(alignment_index([row])),
    )
    tg.add_file(
        f"{HIGH_COVERAGE}/1000G_2504_high_coverage.sequence.index", Blob.of(sequence_index())
    )
    # Outside the default scope.
    tg.add_file("ftp/technical/working/20130606_sample_info/notes.txt", Blob.of(b"working\n"))
    tg.add_file(
        "ftp/historical_data/former_toplevel/README.pilot_data", Blob.of(b"pilot data readme\n")
    )
    tg.publish()
    return {}
