"""Standard exports of the catalog: RO-Crate, DataCite, BagIt and JSON lines."""
