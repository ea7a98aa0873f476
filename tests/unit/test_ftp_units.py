"""FTP pieces that need no server: listing parsers, validators, path and reply rules."""

from __future__ import annotations

import pytest

from capture.formats.ftplisting import parse_listing
from capture.transfer.ftp import http_status
from capture.transfer.ftpclient import FtpPathError, FtpTarget, http_date

DIR = "ftp://ftp.1000genomes.ebi.ac.uk/vol1/ftp/"

# MLSD as EBI-style servers (vsftpd/pure-ftpd) and pyftpdlib send it.
MLSD = (
    "type=cdir;modify=20240101120000;perm=el; .\r\n"
    "type=pdir;modify=20240101120000;perm=el; ..\r\n"
    "type=dir;modify=20230915101010;perm=el; release\r\n"
    "type=file;size=115513189;modify=20201209145810;perm=r; current.tree\r\n"
    "type=file;size=12;modify=20201209145810.123;perm=r; name with space.txt\r\n"
    "type=OS.unix=symlink;modify=20201209145810; loop\r\n"
    "type=file;size=1; ../escape\r\n"
    "garbage-without-a-space\r\n"
)
LIST = (
    "total 12\r\n"
    "drwxr-xr-x   2 ftp ftp        4096 Sep 17 16:15 release\r\n"
    "-rw-r--r--   1 ftp ftp   115513189 Dec 09  2020 current.tree\r\n"
    "lrwxrwxrwx   1 ftp ftp           1 Dec 09  2020 loop -> .\r\n"
    "-rw-r--r--   1 ftp ftp          12 Dec 09  2020 name with space.txt\r\n"
    "not an ls line\r\n"
)


@pytest.mark.parametrize("dialect,text", [("MLSD", MLSD), ("LIST", LIST)])
def test_listing_dialects_give_the_same_children(dialect: str, text: str) -> None:
    entries = {e.name: e for e in parse_listing(text, DIR, dialect)}
    assert set(entries) == {"release", "current.tree", "name with space.txt"}
    assert entries["release"].is_dir and entries["release"].url == DIR + "release/"
    tree = entries["current.tree"]
    assert not tree.is_dir and tree.size_estimate == 115513189 and tree.url == DIR + "current.tree"
    assert entries["name with space.txt"].url == DIR + "name%20with%20space.txt"
    assert tree.modified is not None and tree.modified.startswith("2020-12-09")


def test_mlsd_time_is_iso_and_list_without_year_is_none() -> None:
    (entry,) = parse_listing("type=file;size=3;modify=20240102030405; a\r\n", DIR, "MLSD")
    assert entry.modified == "2024-01-02T03:04:05"
    (entry,) = parse_listing("-rw-r--r-- 1 u g 3 Jan 02 03:04 a\r\n", DIR, "LIST")
    assert entry.modified is None  # "Jan 02 03:04" has no year


def test_mdtm_answers_become_http_dates() -> None:
    assert http_date("20201209145810") == "Wed, 09 Dec 2020 14:58:10 GMT"
    assert http_date("20201209145810.123") == "Wed, 09 Dec 2020 14:58:10 GMT"
    assert http_date("yesterday") is None and http_date("20201399999999") is None


def test_paths_cannot_inject_commands() -> None:
    for url in ("ftp://h/a%0d%0aDELE%20x", "ftp://h/a%0ab", "ftp://h/a%00"):
        with pytest.raises(FtpPathError):
            FtpTarget.of(url)
    target = FtpTarget.of("ftp://h:2121/vol1/%C3%A9t%C3%A9.txt")
    assert (target.host, target.port, target.path) == ("h", 2121, "/vol1/été.txt")
    assert target.wire_path.encode("latin-1") == "/vol1/été.txt".encode()  # UTF-8 on the wire
    assert FtpTarget.of("ftp://h/vol1/").is_directory and FtpTarget.of("ftp://h").path == "/"


@pytest.mark.parametrize(
    "code,status", [(550, 404), (553, 404), (530, 401), (421, 503), (450, 503), (501, 400)]
)
def test_reply_codes_map_to_statuses_the_crawl_handles(code: int, status: int) -> None:
    assert http_status(code) == status
