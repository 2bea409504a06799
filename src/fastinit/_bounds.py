"""Absolute truncation bounds in units of std, for fills that take std units."""
from __future__ import annotations

import math


def std_units(bound, mean, std, lower):
    """``(bound - mean) / std``, nudged so that ``mean + z * std`` stays inside the window.

    ``lower`` says which end ``bound`` is: the lower end is nudged up, the upper
    one down, one ulp at a time, so rounding never puts a value past ``bound``.
    """
    z = (bound - mean) / std
    if math.isfinite(z):
        if lower:
            while mean + z * std < bound:
                z = math.nextafter(z, math.inf)
        else:
            while mean + z * std > bound:
                z = math.nextafter(z, -math.inf)
    return z
