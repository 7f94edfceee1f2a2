"""How close a fast variant must come to the NumPy reference: the one tolerance table.

Tests (``tests/conftest.py``), the bench registry's refusal to time a wrong variant
(``mnistbench.bench.variants``), its augmentation, wide and peer sections all read these, so a
tolerance is tightened or loosened in one place. It imports NumPy only.

(atol, rtol) per compute precision: ``|variant - reference| <= atol + rtol * |reference|``.
"""

from __future__ import annotations

import numpy as np

# One call: a gradient, one step.
TOL = {
    np.dtype(np.float64): (1e-12, 1e-9),
    np.dtype(np.float32): (2e-5, 1e-4),
}
# Whole trajectories (N steps, an epoch), where rounding differences compound.
TRAJECTORY_TOL = {
    np.dtype(np.float64): (1e-10, 1e-8),
    np.dtype(np.float32): (2e-4, 2e-3),
}
# |one Adam update| / learning rate <= (1 - beta1) / sqrt(1 - beta2) (Kingma & Ba, section 2.1),
# ~3.16 with the defaults 0.9 / 0.999: how far an ill-conditioned float32 coordinate may move.
ADAM_STEP_BOUND = (1 - 0.9) / np.sqrt(1 - 0.999)
# float32 trajectories: the share of elements that may sit outside the elementwise bound.
OUTLIER_SHARE = 1e-3
# An augmented image against the scipy.ndimage oracle, absolute, by output dtype: float32 is its
# rounding (~6e-8) plus the oracle's (~1e-14) with a wide margin.
AUGMENT_ATOL = {
    np.dtype(np.float64): 1e-12,
    np.dtype(np.float32): 1e-6,
}
