"""Scrapy settings for capture.

Every project setting (``CAPTURE_*``) is documented next to its default. All of them can be
overridden per spider (``custom_settings``), per run (``-s KEY=VALUE``, ``capture run`` config)
and under scrapyd (``setting=KEY=VALUE``), in Scrapy's usual priority order.
"""

import os

from capture.__version__ import __version__

BOT_NAME = "capture"
SPIDER_MODULES = ["spiders"]
SPIDER_LOADER_CLASS = "capture.spiderloader.IndexedSpiderLoader"
NEWSPIDER_MODULE = "spiders"
# `scrapy crawl` that checks declared spider arguments first and exits with the crawl's outcome.
COMMANDS_MODULE = "capture.commands"

# Identify ourselves honestly to the archives.
CAPTURE_CONTACT = os.environ.get("CAPTURE_CONTACT", "")
USER_AGENT = f"capture/{__version__} (scientific data capture; Scrapy)"

# Archives are data services, not web pages: politeness is set per archive in each spider's
# custom_settings (concurrency, delays, rate limits) instead of robots.txt.
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False  # never open an unauthenticated control port
REMOTE_CONTROL_ENABLED = False  # same for the HTTP remote control (on by default in 2.19)
COOKIES_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = os.environ.get("CAPTURE_LOG_LEVEL", "INFO")
# Dropped files are logged as one line naming the file, not the item's repr (capture/logformat.py).
LOG_FORMATTER = "capture.logformat.CaptureLogFormatter"

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0
# For streamed file transfers DOWNLOAD_TIMEOUT bounds the time to response headers only; the
# body is bounded by CAPTURE_STALL_TIMEOUT, CAPTURE_MIN_SPEED and CAPTURE_MAX_TRANSFER_SECONDS.
DOWNLOAD_TIMEOUT = 180
# Applies to in-memory (listing/API) responses only; streamed files are bounded by their known
# size (CAPTURE_BODY_SLACK_BYTES) or CAPTURE_MAX_FILE_BYTES.
DOWNLOAD_MAXSIZE = 1024 * 1024 * 1024
DOWNLOAD_WARNSIZE = 256 * 1024 * 1024

DOWNLOAD_HANDLERS = {
    "http": "capture.transfer.handler.StreamingDownloadHandler",
    "https": "capture.transfer.handler.StreamingDownloadHandler",
    # Streamed, resumable FTP (SIZE/MDTM-bound REST) in the same engine; MLSD/LIST listings.
    "ftp": "capture.transfer.ftp.FtpDownloadHandler",
    # Open cloud replicas (s3://bucket/key): anonymous boto3 ranged GETs through the same
    # engine (capture/transfer/s3.py), instead of Scrapy's handler that holds bodies in memory.
    "s3": "capture.transfer.s3.S3ReplicaDownloadHandler",
}

DOWNLOADER_MIDDLEWARES = {
    # Refuse requests that leave the archive's hosts (runs before everything else).
    "middlewares.guard.ArchiveHostGuardMiddleware": 40,
    # Replace Scrapy's RetryMiddleware: exponential backoff with jitter, Retry-After,
    # resumable transfers do not burn retries while they make progress.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "middlewares.retry.BackoffRetryMiddleware": 550,
    # Fail fast on an archive that was never reached (DNS, refused, TLS): close the crawl as
    # "unreachable" instead of retrying every file for minutes (files stay discovered).
    "middlewares.circuit.ArchiveCircuitBreakerMiddleware": 560,
    # Credentials (MAST's token header, PSG's key= form field) are added by the download
    # handler to the copy of a request that goes on the wire, for the exact origin only
    # (capture/credentials.py); this middleware strips a credential header from any request to
    # another origin, whoever set it.
    "middlewares.credentials.ArchiveCredentialsMiddleware": 585,
    # Hard per-archive request rate (spider.rate_limit), closest to the wire so that retries
    # and redirects are counted too.
    "middlewares.ratelimit.RateLimitMiddleware": 950,
}

ITEM_PIPELINES = {
    "pipelines.validate.SchemaValidationPipeline": 100,
    "pipelines.register.RegisterPipeline": 200,
    "pipelines.frontier.FrontierPipeline": 250,
    "pipelines.download.DownloadPipeline": 300,
    "pipelines.checksum.ChecksumPipeline": 400,
    "pipelines.inspect.InspectPipeline": 450,
    "pipelines.quality.QualityPipeline": 500,
    "pipelines.store.StorePipeline": 600,
    "pipelines.metadata.MetadataPipeline": 700,
}

ADDONS = {"capture.addons.LeanStart": 0}

# Scrapy's MemoryStatsCollector without its per-attribute-access deprecation wrapper
# (capture/stats.py: ~3% of a small-file crawl's reactor thread).
STATS_CLASS = "capture.stats.CaptureStatsCollector"

EXTENSIONS = {
    # Built first: what every other component of the crawl shares (capture/context.py).
    "capture.context.CrawlServices": 0,
    "capture.extensions.CaptureRunExtension": 100,
    "capture.monitors.CaptureHealthMonitor": 200,
}

# Per-run JSON-lines manifests (capture run sets FEEDS); %(run_id)s and %(domain)s work in
# feed URIs.
FEED_URI_PARAMS = "feeds.uri_params"

RETRY_ENABLED = True
RETRY_TIMES = 5
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]

# --- capture: where data goes -------------------------------------------------------------
# Data root: every captured file lands under <root>/<domain>/<archive>/<archive path>.
CAPTURE_DATA_DIR = os.environ.get("CAPTURE_DATA_DIR", "./data")
# Catalog database URL; default is an SQLite file in the data root (WAL mode).
CAPTURE_CATALOG_URL = os.environ.get("CAPTURE_CATALOG_URL", "")
# Run identifier. Empty: reuse the one stored in JOBDIR, else generate <spider>_<UTC time>.
CAPTURE_RUN_ID = ""
# Discovery only: report every file as `planned` with its expected size; download nothing.
CAPTURE_DRY_RUN = False
# In a dry run, size files the listing gave no size for with a HEAD request (Content-Length).
CAPTURE_DRY_RUN_HEAD = True
# A diff (`capture diff`): a dry run that also writes no file row. Each listed file is compared
# with the catalog by the register stage's own decision (new / changed and which validator /
# unchanged / pending); files known only by HTTP validators are checked with a HEAD request;
# the result goes to <root>/diffs/<run id>/<spider>.json. Implies CAPTURE_DRY_RUN.
CAPTURE_DIFF = False
# An update round (`capture run --update`): files are fetched as usual (new and changed ones),
# and catalog rows an archive's complete discovery no longer lists are marked `retracted`
# (never deleted); the round's changes are written like a diff's.
CAPTURE_UPDATE = False
# An update round retracts nothing when more than this fraction of an archive's known files
# went unlisted (a listing served empty, or a scope change, looks like that): it reports them.
CAPTURE_RETRACT_MAX_FRACTION = 0.5
# Circuit breaker (middlewares/circuit.py): an archive never reached (DNS, refused, TLS,
# connect timeout) is closed as "unreachable" after this many connection failures, or once
# the first failure is this many seconds old; its files stay discovered for --resume.
CAPTURE_CIRCUIT_FAILURES = 3
CAPTURE_CIRCUIT_WINDOW = 30.0
# An archive that answered and then went away (refused, DNS, connect timeout) closes the crawl
# as "unreachable" once nothing has come from it (no answer, no body byte of any transfer) for
# this many seconds, with at least CAPTURE_CIRCUIT_FAILURES connection failures since; without
# this each queued file burns its retries and ends "failed". 0: never (retry each file).
CAPTURE_CIRCUIT_LOST_WINDOW = 120.0
# Failure triage (capture failures / capture retry): a file whose outcome was failed or
# quarantined in this many consecutive runs is flagged needs_attention and is no longer
# re-queued by `capture retry --failed` (only with --include-attention): retrying it forever
# wastes the archive's bandwidth; a person should look at it (0: never flag).
CAPTURE_NEEDS_ATTENTION_ROUNDS = 3
# Fixity audit (capture verify): a plain `capture verify` re-reads the stored files not
# verified in the last VERIFY_INTERVAL_DAYS (least recently verified first), so a daily
# budgeted audit (--max-gb) walks the whole store about once per interval; VERIFY_RATE_MB caps
# its reads in MB/s so it does not starve crawls of disk or bucket bandwidth (0: no cap).
CAPTURE_VERIFY_INTERVAL_DAYS = 30.0
CAPTURE_VERIFY_RATE_MB = 0.0

# Where files are stored: "" for the local data root, or s3://bucket/prefix to stream every
# file into S3 with multipart uploads (boto3's standard configuration: AWS_ENDPOINT_URL,
# AWS_PROFILE, credentials chain). The catalog and run state stay in CAPTURE_DATA_DIR.
# Schemes: capture.storage.STORE_SCHEMES (any other fails the crawl at start, naming them).
CAPTURE_STORE = os.environ.get("CAPTURE_STORE", "")
CAPTURE_S3_PART_SIZE = 16 * 1024 * 1024  # bytes per multipart part (>= 5 MiB): memory bound
CAPTURE_S3_SSE = ""  # "AES256" or "aws:kms" (server-side encryption)
CAPTURE_S3_SSE_KMS_KEY_ID = ""
# Files up to this size are fetched back to a scratch file to be scored and inspected; larger
# ones get transport checks only.
CAPTURE_S3_SCRATCH_MAX = 4 * 1024 * 1024 * 1024

# Open cloud replicas (s3:// file URLs: JWST in s3://stpubdata, 1000 Genomes in s3://1000genomes;
# spiders' -a replica=cloud). Read anonymously (unsigned requests: no AWS account, no
# credentials read or sent). ENDPOINT "" is AWS itself (the environment's AWS_ENDPOINT_URL is
# ignored: it belongs to CAPTURE_STORE); set it to an S3-compatible server (tests: moto).
CAPTURE_S3_REPLICA_ENDPOINT = ""
# Both public buckets live in us-east-1 (AWS Registry of Open Data).
CAPTURE_S3_REPLICA_REGION = "us-east-1"
# Threads that make the blocking boto3 calls and read S3 bodies (one per object in flight, never
# the reactor's): at least as many as transfers run at once (CONCURRENT_REQUESTS).
CAPTURE_S3_REPLICA_THREADS = 16

# --- capture: replicas (capture/replicas.py) ---------------------------------------------
# Mirrors a file may be fetched from, in order of preference: names the spider declares
# (thousand_genomes: ebi, ebi_ftp, ncbi, aws; jwst_mast: cloud), "name=url-prefix" for any
# other, or "all" for every declared one; "origin" (the spider's own URL) is first unless
# placed. Empty: one source only, as before. A failed or stalled attempt goes to the next
# replica; a partial continues there only when the publisher's digest and size are known.
CAPTURE_REPLICAS: list[str] = []
# A replica that failed this many attempts in a row (errors, stalls) goes behind the others
# for the files that start after it; one proven to serve wrong bytes goes last.
CAPTURE_REPLICA_DEMOTE_AFTER = 2

# --- capture: transfer engine -------------------------------------------------------------
# FTP login for the crawl's base_url origin: the user name, and the name of the environment
# variable that holds the password (never the password itself: settings end up in logs and
# run records). Both empty: anonymous login (Scrapy's FTP_USER / FTP_PASSWORD).
CAPTURE_FTP_USER = ""
CAPTURE_FTP_PASSWORD_ENV = ""
# Abort a transfer when no byte arrives for this many seconds (it is then retried/resumed).
CAPTURE_STALL_TIMEOUT = 120.0
# Bytes gathered in memory before they are handed to a writer thread (hash + write).
CAPTURE_WRITE_BUFFER = 4 * 1024 * 1024
# Every this many bytes a partial file is fsync'ed and its offset recorded as durable; a hard
# kill re-downloads at most this much of a file.
CAPTURE_CHECKPOINT_BYTES = 64 * 1024 * 1024
# Files new to the catalog are made durable in batches: the part file's data is fsynced in the
# IO job that writes it, the part is published by rename without a directory fsync, and the
# metadata stage fsyncs each directory of a catalog group once, right before the commit that
# records its files as stored. A hard kill or power loss before that commit leaves their rows
# "discovered": the resume fetches them again. False: fsync each file's directory as it is
# published.
CAPTURE_GROUP_DURABILITY = True
# A file body up to this size that arrived whole is hashed and written by one IO job after
# its response returns, so its connection and transfer slot go to the next file at once
# (small-file and latency-bound crawls); larger bodies stream as usual.
CAPTURE_WRITE_AFTER_MAX_BYTES = 256 * 1024
# File GETs go over a lean HTTP/1.1 keep-alive client (capture/transfer/lean.py: httptools on
# the reactor's asyncio loop, Twisted's response shape and error types): Twisted's Agent was the
# largest single cost of a small-file crawl. A proxy, a bind address, a custom
# DOWNLOADER_CLIENTCONTEXTFACTORY (for https) or another reactor keep Twisted's client; listings
# and API calls always use it. False: every request over Twisted's client.
CAPTURE_LEAN_HTTP = True
# Staged transfers: a transfer slot with no download delay, AutoThrottle or rate limit lets
# twice its concurrency through to the lean client, whose wire gate keeps the archive at the
# slot's concurrency; the staged requests wait with their bytes ready and go out the moment a
# file's last byte is read (capture/concurrency.py). False: a slot's concurrency is all that
# passes.
CAPTURE_STAGE_TRANSFERS = True
# `scrapy crawl` leaves without CPython's interpreter teardown once the crawl has closed
# everything it writes (threads joined, atexit handlers run, streams flushed; ~0.35 s per
# crawl, capture/procexit.py). False: the ordinary exit.
CAPTURE_FAST_EXIT = True
# Seconds the catalog's writer thread waits for more files to join a group commit (each
# file's catalog latency, against far fewer statements per file: about 20 files per group on a
# small-file crawl at 0.02).
CAPTURE_CATALOG_GROUP_WAIT = 0.02
# Threads for disk writes, hashing, fsync and renames (never on the reactor thread).
CAPTURE_IO_THREADS = 8
# Maximum body kept in memory for a non-2xx answer to a file request (error pages).
CAPTURE_ERROR_BODY_MAX = 1024 * 1024

# --- capture: transfer limits (hostile or broken servers) ----------------------------------
# A body may exceed what is known of its file (exact listed size, else Content-Length) by this
# many bytes before it is cut and discarded: enough to tell "slightly off" (then verification
# quarantines it with the size mismatch) from "far too long", small enough to waste nothing.
CAPTURE_BODY_SLACK_BYTES = 64 * 1024
# Largest file taken when neither the listing nor the server gives an exact length (chunked or
# close-delimited bodies, endless ones included); past it the part file is discarded. The
# largest real files are 1000 Genomes BAM/CRAM of tens of GB: 512 GiB leaves room for 10x.
CAPTURE_MAX_FILE_BYTES = 512 * 1024**3
# A listing's rounded size ("4.2M", spiders/listing.py) is no exact size, but a body larger
# than FACTOR x estimate + 1 MiB is no longer that file: it is cut. 0: estimates bound nothing.
CAPTURE_ESTIMATE_SIZE_FACTOR = 2.0
# Longest time one file may spend receiving, summed over its attempts in a run; then it fails
# for this run (a partial of known length is kept for the next). 24 h covers a 512 GiB file at
# 6.4 MB/s, a 50 GB CRAM at 0.6 MB/s; 0: no limit.
CAPTURE_MAX_TRANSFER_SECONDS = 24 * 3600.0
# Minimum speed (curl's --speed-limit/--speed-time): a transfer that receives less than
# MIN_SPEED bytes/s over a whole MIN_SPEED_WINDOW is cut as too slow (a drip feed resets the
# stall timer forever); its partial is kept, and such retries count against RETRY_TIMES. Every
# window a transfer still running logs one progress line (bytes, rate). 1 KiB/s over 60 s
# only catches transfers no archive would serve on purpose; 0: no minimum.
CAPTURE_MIN_SPEED = 1024.0
CAPTURE_MIN_SPEED_WINDOW = 60.0

# --- capture: listing and paging bounds (hostile or broken listings) -----------------------
# Directory-listing crawls (spiders/listing.py), per crawl process; 0 turns a bound off.
# Hitting one stops listing (files already found are still captured), logs one WARNING, sets
# the <archive>/listing/bound_reached stat and makes the crawl partial, never "finished".
# Override per spider in custom_settings or per run with -s / capture run's spider_settings.
# Directories accepted for listing. The largest real trees in scope (1000 Genomes ftp: tens of
# thousands of directories; PHOENIX/Kurucz grids: hundreds) fit well below; a branching
# symlink loop (every directory links a/ and b/) reaches it instead of 2**max_depth.
CAPTURE_LISTING_MAX_DIRECTORIES = 200_000
# Listing requests scheduled, counting retries and redirects (an Apache tree costs one request
# per directory plus a 301 for each link without its slash): twice the directories bound.
CAPTURE_LISTING_MAX_REQUESTS = 400_000
# Directory requests queued and not yet answered (the scheduler holds each one in memory,
# ~2 KB). Listings are crawled depth-first, so the queue holds the subdirectories of the
# directories on the current path: a few thousand on the widest real tree (1000 Genomes
# data/ has one directory per sample, ~2,500-3,200).
CAPTURE_LISTING_MAX_QUEUED = 50_000
# Largest listing page, after decompression (Content-Encoding: gzip/deflate/br/zstd): a
# gzip-bomb page is refused for its directory at this size instead of DOWNLOAD_MAXSIZE (1 GiB).
# Real listing pages are at most a few MB (no text sample in shared/samples exceeds 100 KB).
CAPTURE_LISTING_MAX_BYTES = 64 * 1024 * 1024

# MAST portal paging (spiders/jwst_mast.py): pages asked per portal query at most, whatever
# paging.pagesFiltered claims (pages are asked one at a time and also stop at an empty,
# repeated or all-old page). Hitting it is a WARNING, a jwst_mast/paging/cap_reached stat and a
# partial crawl. Sane: the mission sizes the JWST domain at 5.7 TB; even at 100 KB per file
# that is ~57 M files, i.e. ~1,140 pages of the default pagesize 50,000 were every file in ONE
# query, while real queries (one per instrument; products per 500 obsids) take a few pages.
# 10,000 pages (500 M rows) is ~9x that extreme and still stops a lying server.
CAPTURE_MAST_MAX_PAGES = 10_000

# --- capture: disk space ------------------------------------------------------------------
# Free bytes the data root must keep: a file is not fetched when the free space minus the
# listed sizes of the transfers in flight and its own would fall below this; the crawl then
# stops cleanly as "disk_full" (exit 3/4) instead of failing files on ENOSPC and leaving the
# catalog (an SQLite file in the data root by default) without room to record the stop.
# 1 GiB is room for the catalog's WAL, logs and the files of unknown size in flight; 0 turns
# the check off (a real ENOSPC still stops the crawl as disk_full).
CAPTURE_MIN_FREE_BYTES = 1024**3

# --- capture: retries ---------------------------------------------------------------------
# Delay before retry n is min(MAX, BASE * 2**(n-1)) scaled by a random jitter factor in
# [1 - JITTER, 1 + JITTER]; a server's Retry-After (capped at RETRY_AFTER_MAX) wins if larger.
CAPTURE_RETRY_BACKOFF_BASE = 1.0
CAPTURE_RETRY_BACKOFF_MAX = 300.0
CAPTURE_RETRY_JITTER = 0.5
CAPTURE_RETRY_AFTER_MAX = 3600.0
# Retries of a transfer that made progress do not count against RETRY_TIMES, up to this many.
CAPTURE_RETRY_PROGRESS_TIMES = 100
# Multiplies every backoff sleep; tests set it near 0 so they never sleep for real while the
# nominal delays are still computed, logged and recorded.
CAPTURE_BACKOFF_TIME_SCALE = 1.0

# --- capture: versions and de-duplication --------------------------------------------------
# A re-capture that finds a changed file publishes it as a new version; the previous bytes are
# kept under <root>/versions/<path>.v<N> (False: overwritten). History: `capture catalog
# history`.
CAPTURE_KEEP_VERSIONS = True
# Identical content (same sha256 and size) already stored, in any archive or as a kept old
# version, is linked (hard link, else reflink; an S3 server-side copy), not stored twice, after
# re-hashing the source; both catalog records are kept, the copy's copy_of names the source
# (`capture storage dedup` reports bytes saved; --apply links files stored before).
CAPTURE_DEDUP = True

# --- capture: storage tiers (capture storage plan | apply | restore; capture/storage/tiers.py)
# A local cold root (e.g. a big HDD array): `capture storage apply` moves idle files of the
# local store there (copy, fsync, sha256 verified, then the hot copy goes) and the catalog
# records each file's new location. Empty: no local cold tier (the plan still recommends it).
CAPTURE_COLD_DIR = ""
# $ per GiB-month of each tier, for the plan's estimate. S3: us-east-1 list prices (S3 Standard
# first 50 TB, Standard-IA, Glacier Instant Retrieval, Glacier Deep Archive; aws.amazon.com/
# s3/pricing). Local tiers are your own amortised disk cost: set them (defaults: an SSD/NVMe
# array for "hot", an HDD array for "cold"). Requests and retrievals are not included.
CAPTURE_TIER_PRICES = {
    "hot": 0.05,
    "cold": 0.015,
    "STANDARD": 0.023,
    "STANDARD_IA": 0.0125,
    "GLACIER_IR": 0.004,
    "DEEP_ARCHIVE": 0.00099,
}
# Idle days (since the last recorded access, else since the file was retrieved) after which a
# file goes one tier colder: warm (S3 Standard-IA, whose minimum storage is 30 days), cold
# (Glacier Instant Retrieval, 90 days; the local cold root) and archive (Deep Archive, 180 days,
# hours to restore).
CAPTURE_TIER_WARM_AFTER_DAYS = 30
CAPTURE_TIER_COLD_AFTER_DAYS = 90
CAPTURE_TIER_ARCHIVE_AFTER_DAYS = 180
# Files smaller than this stay hot: Standard-IA and Glacier IR bill every object as at least
# 128 KiB and Deep Archive adds 40 KiB of index per object, so moving them costs more.
CAPTURE_TIER_MIN_BYTES = 128 * 1024
# A file is reproducible from its archive (it may go to Deep Archive: the archive is the second
# copy) when it is stored (not retracted), has the publisher's digest to verify a re-fetch, and
# a listing named it within this many days. Any other file keeps an instantly readable copy.
CAPTURE_TIER_LISTED_WITHIN_DAYS = 90
# Set True only when every stored file has an independent second copy (bucket replication,
# tape): then non-reproducible files may go to Deep Archive as well.
CAPTURE_TIER_SECOND_COPY = False
# --- capture: compression at rest (capture/storage/compress.py) ---------------------------
# "auto": each verified file is zstd-compressed to <path>.zst when a trial on a sample saves at
# least COMPRESS_MIN_GAIN of it (text tables, logs, VCF, KEGG flat files, uncompressed FITS,
# classic netCDF); already-compressed bytes (gzip, BGZF, CRAM, zip, tile-compressed FITS,
# compressed HDF5 chunks) are stored as fetched. The round trip is proven (decode -> original
# sha256) before the original is dropped; `capture cat` streams originals. "off" (default):
# the published tree holds the archives' files as fetched, readable by every tool in place.
CAPTURE_COMPRESS = "off"
# zstd level: 3 is zstd's default (measured in README: most of level 19's saving on text at
# ~100x its speed); the same level gives identical bytes for identical files (dedup).
CAPTURE_COMPRESS_LEVEL = 3
CAPTURE_COMPRESS_MIN_GAIN = 0.1

# --- capture: verification ----------------------------------------------------------------
# On size/digest mismatch, re-transfer the whole file this many times, then quarantine.
CAPTURE_RETRANSFER_ON_MISMATCH = 1

# --- capture: quality scoring (capture.quality) -------------------------------------------
CAPTURE_QUALITY_ENABLED = True
# Below QUALITY_THRESHOLD a file is quarantined; at or above NASA_GRADE_THRESHOLD it is graded
# nasa_grade, in between accepted. Both settable per run (-s) and per spider (custom_settings).
CAPTURE_QUALITY_THRESHOLD = 0.90
CAPTURE_NASA_GRADE_THRESHOLD = 0.92
# "process": scoring sized to the file. A file of at most QUALITY_INLINE_MAX_BYTES whose
# scorer is pure Python (text, JSON, CSV/TSV, KEGG, 1000 Genomes index tables, no content
# scorer: capture.quality.registry.INLINE_SAFE) is scored on a thread of the crawl process;
# any other (FITS, netCDF/HDF5, VOTable, compressed, plugins, bigger) in a worker process,
# started when a file needs one and stopped after QUALITY_WORKER_IDLE_SECONDS without work.
# "thread" / "inline": every file in the crawl process, no isolation.
CAPTURE_QUALITY_MODE = "process"
# Worker processes at most. One: a worker scoring a big FITS or netCDF file holds ~70 MB
# (Python, numpy, astropy or netCDF-C/HDF5, sampled data) on top of the crawl's own memory.
CAPTURE_QUALITY_WORKERS = 1
# In-process scoring of a table parses its rows: memory up to ~30x the file (a 4 MiB CSV:
# +80 MB), hence 1 MiB (0: every file goes to a worker process).
CAPTURE_QUALITY_INLINE_MAX_BYTES = 1024 * 1024
# An idle worker process exits after this many seconds (0: never); the next file restarts one.
CAPTURE_QUALITY_WORKER_IDLE_SECONDS = 30.0
# Seconds a scorer may spend per file (it samples data to stay within it); a file still being
# scored after budget x HARD_TIMEOUT_FACTOR + HARD_TIMEOUT_GRACE is quarantined (its worker
# process killed; an in-process thread, which cannot be killed, left to finish while every
# file goes to worker processes).
CAPTURE_QUALITY_TIME_BUDGET = 30.0
CAPTURE_QUALITY_HARD_TIMEOUT_FACTOR = 3.0
CAPTURE_QUALITY_HARD_TIMEOUT_GRACE = 10.0
# Address-space cap of each scorer process: a damaged header that makes a C reader (netCDF-C,
# HDF5) allocate gigabytes fails that read, and the file is quarantined, not the machine.
CAPTURE_QUALITY_MEMORY_LIMIT = 6 * 1024**3
# Extra scorers: {"<format or .suffix>": "package.module:function"} (function(ScoreContext)
# -> capture.quality.scorers.base.Checks), importable in the worker processes.
CAPTURE_QUALITY_PLUGINS: dict[str, str] = {}
# Bytes of data sampled by scorers from big files.
CAPTURE_QUALITY_SAMPLE_BYTES = 16 * 1024 * 1024

# --- capture: run health monitors (capture.monitors) ---------------------------------------
# Which monitors run: {"<name>": False} turns one off (e.g. -s 'CAPTURE_MONITORS={"stall":
# false}'); a name not listed stays on, an unknown name stops the crawl at start.
CAPTURE_MONITORS: dict[str, bool] = {
    "error_rate": True,
    "quarantine_rate": True,
    "stall": True,
    "budget_stop": True,
    "disk_full": True,
}
# Seconds between two periodic checks (every monitor is also checked once at close).
CAPTURE_MONITOR_INTERVAL = 60.0
CAPTURE_MONITOR_MAX_ERROR_RATE = 0.02  # the mission: download success rate > 98%
CAPTURE_MONITOR_MAX_QUARANTINE_RATE = 0.2
CAPTURE_MONITOR_STALL_SECONDS = 900.0  # no byte, item or response for this long
CAPTURE_MONITOR_MIN_FILES = 10  # rates are judged once this many files were transferred
# Where alerts go besides the log: a webhook URL (JSON POST) and/or an e-mail address (sent
# through Scrapy's MAIL_* settings).
CAPTURE_NOTIFY_WEBHOOK = os.environ.get("CAPTURE_NOTIFY_WEBHOOK", "")
CAPTURE_NOTIFY_EMAIL = os.environ.get("CAPTURE_NOTIFY_EMAIL", "")
# Run budgets (capture run sets them from --max-download-gb / --max-storage-tb); 0: none.
CAPTURE_MAX_DOWNLOAD_BYTES = 0
CAPTURE_MAX_STORAGE_BYTES = 0

# --- capture: shared frontier across processes/nodes (capture.frontier) --------------------
# redis://host:6379/0 to share one archive's files among several crawler processes; all of
# them must run with the same CAPTURE_RUN_ID (the frontier is named <run id>:<archive>).
CAPTURE_FRONTIER_URL = os.environ.get("CAPTURE_FRONTIER_URL", "")
CAPTURE_FRONTIER_NAME = ""
# A file delivered to a worker that shows no sign of life for this long goes to another.
CAPTURE_FRONTIER_CLAIM_IDLE = 300.0
# A worker leaves once the frontier has been empty, with nothing in flight anywhere, this long.
CAPTURE_FRONTIER_IDLE_EXIT = 30.0
# Files a worker holds at once (0: twice CONCURRENT_REQUESTS_PER_DOMAIN).
CAPTURE_FRONTIER_PREFETCH = 0

# --- capture: politeness and safety -------------------------------------------------------
# Extra hosts requests may go to, beyond each archive's own (e.g. a CDN the archive redirects
# to). Anything else is refused.
CAPTURE_EXTRA_ALLOWED_HOSTS: list[str] = []
# Token-bucket capacity for spiders with a rate_limit (1: requests evenly spaced).
CAPTURE_RATE_LIMIT_BURST = 1.0
# Items re-driven from the catalog at start are fed at most this many at a time.
CAPTURE_MAX_ITEMS_IN_FLIGHT = 256
