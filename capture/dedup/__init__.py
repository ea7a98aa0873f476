"""De-duplication across archives and rounds: what is stored once, what could be, and a
retroactive pass that links identical stored files (``capture storage dedup``)."""
