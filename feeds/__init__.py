"""Feed helpers: per-run JSON-lines manifests (Scrapy FEEDS) live under ``feeds/`` by default."""
