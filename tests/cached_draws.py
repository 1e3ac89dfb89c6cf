"""A cache for the statistical tests' draws that mutation testing sees through.

Several checks share one sample, so the draws are cached. But mutmut (`make mutation`) maps each
test to the library functions it calls: a draw cached by an earlier test hides the call, and so
every mutant of the sampler, from each later test that reads the cached sample. Under mutmut
(`MUTANT_UNDER_TEST` set) every call draws afresh.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable


def cached(function: Callable) -> Callable:
    """`functools.cache`, except under mutation testing, where every call runs `function`."""
    memo = functools.cache(function)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return (function if "MUTANT_UNDER_TEST" in os.environ else memo)(*args, **kwargs)

    return wrapper
