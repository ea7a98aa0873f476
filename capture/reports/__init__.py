"""Reports written into the data root (quality reports, run summaries)."""
