"""Project commands for ``scrapy`` (``COMMANDS_MODULE``): ``crawl`` with argument checks and
an exit code that tells how the crawl ended."""
