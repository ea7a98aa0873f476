"""PSG answers (real recorded bodies and synthetic ones), the API-key form middleware and the
spider's argument checks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy import Request

from capture.credentials import WireCredentials
from capture.formats.psg_output import PsgProblem, read_psg_output
from spiders.base import SpiderArgumentError
from spiders.psg import PsgSpider
from tests.archives.psg import SYNTHETIC_ERROR, synthetic_answer
from tests.archives.samples import sample_path


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "answer.txt"
    path.write_bytes(data)
    return str(path)


def test_real_rad_answer() -> None:
    out = read_psg_output(str(sample_path("psg", "api_type_rad_response.txt")), "rad")
    assert out.title == "Radiance spectrum"
    assert out.synthesized_on == "Mon Feb 13 21:18:08 2023"
    assert out.columns == "Wave/freq Total Noise Stellar Planet"
    assert out.units == {
        "spectral": "Wavelength [um]",
        "radiance": "Spectral irradiance [W/m2/um]",
    }
    assert len(out.warnings) == 2 and out.warnings[1].startswith("GENERATOR: Too many electrons")
    assert out.data_columns == 5 and out.data_rows > 100


def test_real_error_answer_is_a_problem() -> None:
    with pytest.raises(PsgProblem) as problem:
        read_psg_output(str(sample_path("psg", "api_error_response.txt")), "rad")
    assert problem.value.reasons == [
        "PSG error: GlobES: The variable ATMOSPHERE-GCM-PARAMETERS, that defines the GCM values "
        "in the binary files has not been properly defined."
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (SYNTHETIC_ERROR.encode(), "PSG error: GlobES"),
        (synthetic_answer("rad", 3) + SYNTHETIC_ERROR.encode(), "PSG error: GlobES"),
        (b"", "PSG returned no content"),
        (synthetic_answer("rad", 3) + b"1.0 2.0\n", "2 values, expected 5"),
        (synthetic_answer("trn", 3) + b"oops not numbers\n", "not numeric"),
    ],
)
def test_problem_answers(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(PsgProblem, match=reason):
        read_psg_output(write(tmp_path, data), "rad")


def test_non_spectrum_types_are_only_header_checked(tmp_path: Path) -> None:
    config_answer = b"<OBJECT>Exoplanet\n<OBJECT-NAME>x\n"
    out = read_psg_output(write(tmp_path, config_answer), "cfg")
    assert out.data_rows == 2 and out.data_columns is None


def spider_stub(**spec: object) -> SimpleNamespace:
    return SimpleNamespace(
        form_credentials={"env": "PSG_API_KEY", "field": "key", **spec},
        base_url="https://psg.gsfc.nasa.gov",
    )


def post(url: str, body: str = "file=%3COBJECT%3EX&type=rad", **headers: str) -> Request:
    return Request(
        url,
        method="POST",
        body=body,
        headers=headers or {"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_form_key_is_added_only_to_the_wire_copy_of_archive_form_posts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wire = WireCredentials(spider_stub(paths=["/api.php"]))
    monkeypatch.setenv("PSG_API_KEY", "k3y/with+chars")
    original = post("https://psg.gsfc.nasa.gov/api.php")
    keyed = wire.for_wire(original)
    assert keyed is not original
    assert keyed.body == b"file=%3COBJECT%3EX&type=rad&key=k3y%2Fwith%2Bchars"
    assert original.body == b"file=%3COBJECT%3EX&type=rad"  # what the crawl keeps: no key
    for other in (
        post("https://elsewhere.example/api.php"),
        post("http://psg.gsfc.nasa.gov/api.php"),  # never from https to http
        post("https://psg.gsfc.nasa.gov:8443/api.php"),  # nor to another port
        post("https://psg.gsfc.nasa.gov/other.php"),
        Request("https://psg.gsfc.nasa.gov/api.php"),
        post("https://psg.gsfc.nasa.gov/api.php", **{"Content-Type": "multipart/form-data"}),
    ):
        assert wire.for_wire(other) is other
    monkeypatch.delenv("PSG_API_KEY")
    assert wire.for_wire(original) is original


def test_psg_arguments_are_checked(tmp_path: Path) -> None:
    # No configs: the shipped set (tests/test_psg_e2e.py), not an error.
    assert PsgSpider().configs.joinpath("earth.txt").is_file()
    with pytest.raises(SpiderArgumentError, match="not a directory"):
        PsgSpider(configs=str(tmp_path / "missing"))
    with pytest.raises(SpiderArgumentError, match="not one of"):
        PsgSpider(configs=str(tmp_path), types="rad,upd")
    assert PsgSpider(configs=str(tmp_path), types="rad, trn").types == ["rad", "trn"]
