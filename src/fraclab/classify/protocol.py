"""The cross-validation plan: repeated stratified group K-fold with an inner validation split.

For repeat r and fold k the development set splits into

- the **outer fold** (scored, out-of-fold): never used to choose anything;
- the **training part**, split again by group into
  - **inner train**: the model learns from it;
  - **inner validation**: early stopping, and later the temperature and the thresholds.

A group (patient, or the source X-ray of augmented copies) sits in exactly one of the three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from fraclab.data.splits import carve_grouped_split


class ProtocolError(ValueError):
    """The data cannot support the requested cross-validation (e.g. a one-class fold)."""


@dataclass(frozen=True)
class Fold:
    """Indices (into the development set) of one outer fold and its training part."""

    repeat: int
    fold: int
    inner_train: np.ndarray
    inner_val: np.ndarray
    outer: np.ndarray


def repeat_seed(seed: int, repeat: int) -> int:
    """A distinct, reproducible shuffle seed for each repeat."""
    return int(np.random.SeedSequence([seed, repeat]).generate_state(1)[0])


def cv_plan(labels: Sequence[int], groups: Sequence[str], *, folds: int, repeats: int,
            val_fraction: float, seed: int) -> list[Fold]:
    """All (repeat, fold) splits of the development set, in order.

    Parameters
    ----------
    labels, groups : sequences aligned per image of the development set.
    folds, repeats : outer K and number of reshuffled repetitions.
    val_fraction : share of each training part held out (by group) for inner validation.
    seed : base seed; repeat r shuffles with ``repeat_seed(seed, r)``.

    Raises
    ------
    ProtocolError
        Fewer groups than folds, or an outer fold, inner-train or inner-validation split with
        a single class (the message suggests fewer folds or a larger ``val_fraction``).
    """
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    if folds < 2 or repeats < 1:
        raise ProtocolError(f"need folds >= 2 and repeats >= 1, got {folds} and {repeats}")
    if len(np.unique(groups)) < folds:
        raise ProtocolError(f"{len(np.unique(groups))} groups cannot fill {folds} folds")
    plan = []
    for repeat in range(repeats):
        rseed = repeat_seed(seed, repeat)
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=rseed % 2**32)
        try:
            splits = list(splitter.split(labels, labels, groups))
        except ValueError as err:  # scikit-learn's words; the user needs their data's
            raise ProtocolError(
                f"the development set ({len(labels)} images, {int(labels.sum())} fractured, "
                f"{len(np.unique(groups))} groups) cannot be split into {folds} stratified "
                f"group folds ({err}); use fewer classify.folds") from None
        for fold, (train, outer) in enumerate(splits):
            _need_both_classes(labels[outer], f"repeat {repeat} fold {fold}: the outer fold",
                               "use fewer classify.folds")
            try:
                held = carve_grouped_split(labels[train], groups[train], val_fraction,
                                           rseed + fold)
            except ValueError as err:
                raise ProtocolError(f"repeat {repeat} fold {fold}: {err}") from None
            inner_train, inner_val = train[~held], train[held]
            for part, name in ((inner_train, "inner train"), (inner_val, "inner validation")):
                _need_both_classes(labels[part], f"repeat {repeat} fold {fold}: the {name} split",
                                   "use fewer classify.folds or a larger classify.val_fraction")
            plan.append(Fold(repeat, fold, inner_train, inner_val, outer))
    return plan


def _need_both_classes(labels: np.ndarray, where: str, advice: str) -> None:
    present = np.unique(labels)
    if len(present) < 2:
        only = "fractured" if present.size and present[0] == 1 else "normal"
        raise ProtocolError(f"{where} has only {only} images ({len(labels)}); {advice}")
