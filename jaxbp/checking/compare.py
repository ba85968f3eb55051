"""The one metric every comparison in jaxbp uses: Ng's relative error between two arrays.

    rel_error(u, r) = ||u - r|| / (||u|| + ||r||)      (Frobenius norms, in float64; 0 when both are 0)
"""

import numpy as np


def rel_error(u, r):
    """Ng's ||u - r|| / (||u|| + ||r||) in float64; 0 when both are 0."""
    u, r = np.asarray(u, np.float64), np.asarray(r, np.float64)
    denom = np.linalg.norm(u) + np.linalg.norm(r)
    return float(np.linalg.norm(u - r) / denom) if denom > 0 else 0.0
