"""Benchmark harness: capture against curl, sha256sum, stock Scrapy FilesPipeline and aria2c.

Entry point: ``python -m bench run`` (see ``bench/README.md``).
"""
