from __future__ import annotations

import pytest

from capture.hosts import host_allowed, netloc_entry

ALLOWED = ["ftp.1000genomes.ebi.ac.uk", "127.0.0.1:8080", ".stsci.edu"]


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://ftp.1000genomes.ebi.ac.uk/vol1/ftp/x", True),
        ("http://FTP.1000genomes.ebi.ac.uk./x", True),
        ("http://127.0.0.1:8080/x", True),
        ("http://127.0.0.1:8081/x", False),
        ("https://ftp.1000genomes.ebi.ac.uk:443/x", True),
        ("http://ftp.1000genomes.ebi.ac.uk:8080/x", False),  # another service on the host
        ("https://mast.stsci.edu:8443/api", False),
        ("https://mast.stsci.edu/api", True),
        ("https://stsci.edu/", True),
        ("https://evil-stsci.edu/", False),
        ("https://ftp.1000genomes.ebi.ac.uk@evil.example/x", False),
        # FTP (EBI serves the same tree over ftp://): its standard port only, as for the web.
        ("ftp://ftp.1000genomes.ebi.ac.uk/vol1/ftp/x", True),
        ("ftp://ftp.1000genomes.ebi.ac.uk:21/x", True),
        ("ftp://ftp.1000genomes.ebi.ac.uk:2121/x", False),
        ("ftp://ftp.1000genomes.ebi.ac.uk:80/x", False),
        ("https://ftp.1000genomes.ebi.ac.uk:21/x", False),
        ("ftp://127.0.0.1:8080/x", True),
        ("ftp://anonymous@ftp.1000genomes.ebi.ac.uk/x", False),
        ("sftp://ftp.1000genomes.ebi.ac.uk/x", False),
        ("file:///etc/passwd", False),
        ("https://evil.example/ftp.1000genomes.ebi.ac.uk", False),
        ("http://[::1]:80/", False),
        ("not a url", False),
    ],
)
def test_host_allowed(url: str, ok: bool) -> None:
    assert host_allowed(url, ALLOWED) is ok


def test_netloc_entry() -> None:
    assert netloc_entry("http://127.0.0.1:5000") == "127.0.0.1:5000"
    assert netloc_entry("https://Mast.STSCI.edu") == "mast.stsci.edu"
