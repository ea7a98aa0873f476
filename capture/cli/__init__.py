"""The ``capture`` command line (``capture --help``)."""
