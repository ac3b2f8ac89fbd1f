"""Small copies of the real datasets' distribution formats, built by the tests themselves.

The writers are library code (:mod:`l2l.data.standins`), shared with the rehearsal of the paper suite, so
the tests and the rehearsal exercise the preparers on the same files.
"""

from l2l.data.standins import (CLOTHING_STEMS, PA100K_ATTRIBUTES, cell, jpeg, make_clothing, make_csv, make_lfwa,
                               make_pa100k)

__all__ = ["CLOTHING_STEMS", "PA100K_ATTRIBUTES", "cell", "jpeg", "make_clothing", "make_csv", "make_lfwa",
           "make_pa100k"]
