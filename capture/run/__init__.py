"""``capture run``: a whole round across domains in one process (several Scrapy crawlers)."""
