"""Packaging for capture.

The ``scrapy`` entry point lets ``scrapyd-deploy`` eggs find the project settings;
the ``capture`` console script is the operator's command line.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
about: dict[str, str] = {}
exec((HERE / "capture" / "__version__.py").read_text(), about)

setup(
    name="capture",
    version=about["__version__"],
    description="Terabyte-scale, verified, resumable capture of scientific archives on Scrapy",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(
        include=[
            "capture",
            "capture.*",
            "spiders",
            "spiders.*",
            "pipelines",
            "pipelines.*",
            "middlewares",
            "middlewares.*",
            "feeds",
            "feeds.*",
        ]
    ),
    package_data={
        "capture": ["schemas/*.json", "catalog/migrations/script.py.mako"],
        "spiders": ["data/psg/*"],
    },
    include_package_data=True,
    install_requires=[
        "scrapy>=2.19,<2.20",
        "twisted>=24.11",
        "itemadapter>=0.9",
        "scrapy-playwright>=0.0.46",
        "boto3>=1.34",
        "astropy>=6.0",
        "h5py>=3.10",
        "jsonschema>=4.20",
        "defusedxml>=0.7",  # XML well-formedness checks without entity-expansion bombs
        "fastjsonschema>=2.19",  # compiled happy-path check; jsonschema explains failures
        "sqlalchemy>=2.0,<2.2",
        "rich>=13",
        "netCDF4>=1.6",
        "numpy>=1.26",
        "alembic>=1.13",
        "psycopg[binary]>=3.1",
        "redis>=5",
        "matplotlib>=3.8",
        "scrapyd>=1.5",
        "scrapyd-client>=2.0",
        # Declared, typed spider arguments (pydantic models), as zyte-spider-templates do.
        "scrapy-spider-metadata>=0.2",
        "pydantic>=2.4",
        # Compression at rest (capture/storage/codec.py): streaming zstd with frame checksums.
        "zstandard>=0.22",
        # llhttp (the parser under uvicorn) for the lean file-GET client (capture/transfer/lean.py).
        "httptools>=0.6",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "psutil>=5.9",
            "hypothesis>=6.100",
            "moto[server]>=5.0",
            "pyftpdlib>=2.0",  # the FTP archive emulator (tests/archives/ftp.py)
            "ruff>=0.6",
            "mypy>=1.11",
            "mypy-zope>=1.0",  # zope interfaces (Twisted's reactor) as mypy types
            "bagit>=1.8",
            "rocrate>=0.10",
        ],
    },
    entry_points={
        "console_scripts": ["capture = capture.cli.main:main"],
        "scrapy": ["settings = capture.settings"],
    },
)
