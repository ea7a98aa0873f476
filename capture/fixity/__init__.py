"""Fixity audit (``capture verify``): re-read stored bytes, hash them, compare with the catalog.

The catalog says what every stored file must hash to; the store hands its bytes back
(:meth:`capture.storage.base.Store.read`); :mod:`capture.fixity.audit` compares the two for a
selection of files (least recently verified first, like ``git annex fsck --incremental``)
under a byte rate limit, records each result on the file (``verified_at``, ``fixity``) and as a
``fixity`` event, moves corrupt bytes to quarantine and marks lost files, and lists files in the
published tree that no catalog row points to.
"""

from capture.fixity.expect import Expectation, expected
from capture.fixity.results import LOST, PROBLEMS, Result
from capture.fixity.targets import Selection, Target

__all__ = ["LOST", "PROBLEMS", "Expectation", "Result", "Selection", "Target", "expected"]
