"""The one place where dose admissibility is enforced, for every design.

Rules (applied elementwise, so the scalar ``decide`` and the vectorised simulators share them):

* a dose that is eliminated for toxicity, and every dose above it, is never given or selected
  (Liu & Yuan 2015, section 2.3; the same "safety elimination" in TITE-BOIN, Keyboard, i3+3);
* with ``no_skip`` (the default), escalation never skips a level: the next dose is at most one
  above the current dose (Cheung 2011, section 3.2 "no skipping"); an unrestricted CRM passes
  ``no_skip=False``;
* where ``escalation_allowed`` is false (coherence: e.g. CRM after a cohort whose DLT rate is at
  or above the target, Cheung 2005), the next dose is not above the current one;
* with ``no_skip_down``, de-escalation never skips a level either: the next dose is at least
  one below the current dose (escalation's ``dont_skip_doses(when_deescalating = TRUE)``),
  unless that dose is eliminated;
* the next dose is never below the lowest level (0).

``lowest_eliminated`` is the index of the lowest eliminated dose, or ``n_doses`` when none is.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def lowest_eliminated_from_mask(eliminated: ArrayLike) -> np.ndarray:
    """Index of the first True along the last axis (``n_doses`` where there is none)."""
    mask = np.asarray(eliminated, dtype=bool)
    n_doses = mask.shape[-1]
    first = np.argmax(mask, axis=-1)
    return np.where(mask.any(axis=-1), first, n_doses)


def admissible_dose(
    proposed: ArrayLike,
    current: ArrayLike,
    lowest_eliminated: ArrayLike,
    escalation_allowed: ArrayLike = True,
    no_skip: ArrayLike = True,
    no_skip_down: ArrayLike = False,
) -> np.ndarray:
    """Clip a design's proposed next dose to what is admissible (the module's rules).

    Returns -1 where every dose is eliminated (the trial must stop).
    """
    proposed = np.asarray(proposed)
    current = np.asarray(current)
    lowest = np.asarray(lowest_eliminated)
    if no_skip_down is not False:
        floor = np.where(np.asarray(no_skip_down, dtype=bool), current - 1, proposed)
        proposed = np.maximum(proposed, floor)
    if escalation_allowed is True and no_skip is True:  # the common case, fewer passes
        nxt = np.minimum(proposed, np.minimum(current + 1, lowest - 1))
        nxt = np.maximum(nxt, 0)
        return np.where(lowest <= 0, -1, nxt)
    step = np.where(np.asarray(no_skip, dtype=bool), current + 1, np.iinfo(np.int64).max)
    ceiling = np.where(np.asarray(escalation_allowed, dtype=bool), step, current)
    ceiling = np.minimum(ceiling, lowest - 1)
    nxt = np.clip(np.minimum(proposed, ceiling), 0, None)
    return np.where(lowest <= 0, -1, nxt)


def eliminated_doses(lowest_eliminated: int, n_doses: int) -> tuple[int, ...]:
    """The eliminated dose indices implied by the lowest eliminated one."""
    return tuple(range(int(lowest_eliminated), n_doses))
