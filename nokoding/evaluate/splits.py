"""Units of evaluation and grouped, stratified, repeated K-fold splits.

A *unit* is one coded quote. In a hand-coded corpus a quote the coder filed under two codes
appears as two records sharing ``group``; such records form one unit with two gold codes, so
the same words are never on both sides of a split and are scored once.

Splits come from :class:`sklearn.model_selection.StratifiedGroupKFold` run on the records
(stratified on the code, grouped on the unit), with seed ``seed + repeat`` for each repeat,
so every unit is in exactly one test fold per repeat.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nokoding.codebook import Codebook, record_code_id

__all__ = ["Fold", "Unit", "build_units", "grouped_folds", "record_code_id"]


@dataclass(frozen=True)
class Unit:
    """One coded quote: all records that share a group.

    Attributes:
        group: the group key (the record id when a record has no group).
        text: the quote's text (the longest of its records' texts: a printing may be an
            excerpt of another, as :func:`nokoding.training.data.examples_from_records` assumes).
        record_indices: positions of its records in the corpus list, corpus order.
        code_ids: the gold codes, first-listed first, without duplicates.
        sentiment: the gold sentiment label of the first record that has one, or ``None``.
    """

    group: str
    text: str
    record_indices: tuple[int, ...]
    code_ids: tuple[str, ...]
    sentiment: str | None


@dataclass(frozen=True)
class Fold:
    """One train/test split of one repeat; indices are unit positions (into ``build_units``).

    Attributes:
        repeat, fold: 0-based repeat and fold numbers.
        seed: the random seed of this repeat's shuffle.
        train_units, test_units: sorted unit indices, disjoint, shape ``(n,)``.
        absent_codes: code ids that occur in the corpus but in no training unit of this fold.
        stratified: ``False`` when no code had as many units as folds, so the repeat fell back
            to a shuffled, grouped but unstratified K-fold (:class:`~sklearn.model_selection.GroupKFold`).
    """

    repeat: int
    fold: int
    seed: int
    train_units: NDArray[np.int64]
    test_units: NDArray[np.int64]
    absent_codes: tuple[str, ...] = ()
    stratified: bool = True


def build_units(records: Sequence[Mapping[str, Any]], codebook: Codebook) -> list[Unit]:
    """Group records into units (one per ``group``, in order of first appearance).

    Args:
        records: corpus records with at least ``text`` and a code (``code_id`` or
            ``category`` + ``subcategory``); ``group``, ``id`` and ``sentiment`` optional.
        codebook: resolves codes.

    Returns:
        Units in corpus order; every record belongs to exactly one unit.

    Raises:
        KeyError: when a record's code is not in the codebook (names the record).
        ValueError: when a record has no text.
    """
    order: list[str] = []
    members: dict[str, list[int]] = {}
    for i, rec in enumerate(records):
        rid = str(rec.get("id", i))
        if not str(rec.get("text") or "").strip():
            raise ValueError(f"record {rid!r} (position {i}) has no text")
        key = str(rec.get("group") or f"__record__{rid}__{i}")
        if key not in members:
            members[key] = []
            order.append(key)
        members[key].append(i)
    units = []
    for key in order:
        idx = members[key]
        codes: list[str] = []
        for i in idx:
            cid = record_code_id(records[i], codebook, f"record {records[i].get('id', i)!r}")
            if cid not in codes:
                codes.append(cid)
        sentiment = next((str(records[i]["sentiment"]) for i in idx if records[i].get("sentiment")), None)
        group = key if not key.startswith("__record__") else str(records[idx[0]].get("id", idx[0]))
        text = max((str(records[i]["text"]) for i in idx), key=len)
        units.append(Unit(group, text, tuple(idx), tuple(codes), sentiment))
    return units


def grouped_folds(
    units: Sequence[Unit],
    codebook: Codebook,
    *,
    n_folds: int = 5,
    n_repeats: int = 3,
    seed: int = 0,
) -> list[Fold]:
    """Repeated stratified grouped K-fold over units.

    Each repeat runs :class:`~sklearn.model_selection.StratifiedGroupKFold` (shuffled, seed
    ``seed + repeat``) on one row per (unit, code) — so a quote filed under two codes counts
    towards both codes' strata — grouped by unit. Codes with fewer units than folds cannot be
    in every training fold; they are listed in :attr:`Fold.absent_codes` (scikit-learn's
    warning about them is replaced by that record). When *no* code has as many units as
    folds, stratification is impossible and the repeat uses a shuffled
    :class:`~sklearn.model_selection.GroupKFold` instead (:attr:`Fold.stratified` is ``False``).

    Returns:
        ``n_repeats * n_folds`` folds, repeat-major.

    Raises:
        ValueError: if ``n_folds < 2``, ``n_repeats < 1`` or there are fewer units than folds.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    if len(units) < n_folds:
        raise ValueError(f"{len(units)} units cannot be split into {n_folds} folds")
    rows_unit: list[int] = []
    rows_code: list[int] = []
    for u, unit in enumerate(units):
        for cid in unit.code_ids:
            rows_unit.append(u)
            rows_code.append(codebook.index(cid))
    y = np.asarray(rows_code)
    groups = np.asarray(rows_unit)
    present = {cid for unit in units for cid in unit.code_ids}
    folds: list[Fold] = []
    for r in range(n_repeats):
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed + r)
        stratified = True
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*least populated class.*", category=UserWarning)
            try:
                splits = list(splitter.split(np.zeros(len(y)), y, groups))
            except ValueError:  # every code has fewer units than folds: stratification impossible
                stratified = False
                plain = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed + r)
                splits = list(plain.split(np.zeros(len(y)), y, groups))
        for f, (_, test_rows) in enumerate(splits):
            test = np.unique(groups[test_rows])
            train = np.setdiff1d(np.arange(len(units)), test)
            if test.size == 0 or train.size == 0:
                raise ValueError(f"repeat {r} fold {f} is empty; use fewer folds")
            train_codes = {cid for u in train for cid in units[u].code_ids}
            absent = tuple(c for c in codebook.code_ids if c in present and c not in train_codes)
            folds.append(Fold(r, f, seed + r, train.astype(np.int64), test.astype(np.int64), absent, stratified))
    return folds
