"""Item pipeline stages, in order: validate, register, download, checksum, (quality), store,
metadata. Each reads the item, adds its part and passes it on; a stage that fails a file marks
it and passes it on, it never raises out of the pipeline (except DropItem for invalid input)."""
