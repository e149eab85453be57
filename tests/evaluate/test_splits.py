"""Grouped, stratified, repeated K-fold: no quote on both sides, every unit tested once per repeat."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nokoding.codebook import Codebook
from nokoding.evaluate.splits import build_units, grouped_folds

from .conftest import CODEBOOK, make_records


def test_units_merge_records_of_one_group(codebook, records):
    units = build_units(records, codebook)
    shared = [u for u in units if len(u.code_ids) > 1]
    assert len(shared) == 2
    assert shared[0].code_ids == ("mal.tid", "led.styring")  # first-listed code first
    covered = sorted(i for u in units for i in u.record_indices)
    assert covered == list(range(len(records)))  # every record in exactly one unit


def test_units_take_the_longest_text_of_a_group(codebook):
    recs = [
        {"id": "a", "text": "kort utdrag", "code_id": "mal.tid", "group": "g"},
        {"id": "b", "text": "Ja, kort utdrag med mer tekst", "code_id": "led.tillit", "group": "g"},
    ]
    (unit,) = build_units(recs, codebook)
    assert unit.text == "Ja, kort utdrag med mer tekst"


def _check_folds(units, folds, n_folds, n_repeats):
    assert len(folds) == n_folds * n_repeats
    for r in range(n_repeats):
        tested = np.concatenate([f.test_units for f in folds if f.repeat == r])
        assert sorted(tested.tolist()) == list(range(len(units)))  # each unit tested exactly once
        for f in folds:
            if f.repeat != r:
                continue
            assert not set(f.train_units.tolist()) & set(f.test_units.tolist())
            assert len(f.train_units) + len(f.test_units) == len(units)
            train_groups = {units[u].group for u in f.train_units}
            test_groups = {units[u].group for u in f.test_units}
            assert not train_groups & test_groups


def test_no_group_straddles_a_split_and_every_unit_is_tested_once(codebook, records):
    units = build_units(records, codebook)
    folds = grouped_folds(units, codebook, n_folds=5, n_repeats=3, seed=7)
    _check_folds(units, folds, 5, 3)
    # record level: the two records of a shared quote are always on the same side
    for f in folds:
        test_records = {i for u in f.test_units for i in units[u].record_indices}
        train_records = {i for u in f.train_units for i in units[u].record_indices}
        assert not test_records & train_records
    assert [f.seed for f in folds[::5]] == [7, 8, 9]


def test_repeats_differ_and_are_reproducible(codebook, records):
    units = build_units(records, codebook)
    a = grouped_folds(units, codebook, n_folds=4, n_repeats=2, seed=0)
    b = grouped_folds(units, codebook, n_folds=4, n_repeats=2, seed=0)
    assert all(np.array_equal(x.test_units, y.test_units) for x, y in zip(a, b))
    first = [set(f.test_units.tolist()) for f in a if f.repeat == 0]
    second = [set(f.test_units.tolist()) for f in a if f.repeat == 1]
    assert first != second


def test_stratification_spreads_each_code_over_folds(codebook, records):
    units = build_units(records, codebook)
    for f in grouped_folds(units, codebook, n_folds=3, n_repeats=1):
        codes = [c for u in f.test_units for c in units[u].code_ids]
        # 7 units per code over 3 folds: every fold gets 2 or 3 of each code
        for code in codebook.code_ids:
            assert 1 <= codes.count(code) <= 4


def test_code_with_one_unit_is_reported_absent_from_a_training_fold(codebook):
    records = make_records(per_code=5, extra={"led.styring": 1})
    records = [r for r in records if not r["group"].startswith("shared")]
    units = build_units(records, codebook)
    folds = grouped_folds(units, codebook, n_folds=5, n_repeats=2)
    absent = [f for f in folds if f.absent_codes]
    assert len(absent) == 2  # once per repeat: the fold that tests the single unit
    assert all(f.absent_codes == ("led.styring",) for f in absent)


def test_bad_fold_numbers_raise(codebook, records):
    units = build_units(records, codebook)
    with pytest.raises(ValueError, match="at least 2"):
        grouped_folds(units, codebook, n_folds=1)
    with pytest.raises(ValueError, match="cannot be split"):
        grouped_folds(units[:3], codebook, n_folds=5)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=4, max_size=4),
    n_folds=st.integers(min_value=2, max_value=4),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_grouping_holds_for_any_code_sizes(sizes, n_folds, seed):
    codebook = Codebook.from_dict(CODEBOOK)
    records = make_records(extra=dict(zip(codebook.code_ids, sizes)))
    units = build_units(records, codebook)
    folds = grouped_folds(units, codebook, n_folds=n_folds, n_repeats=2, seed=seed)
    _check_folds(units, folds, n_folds, 2)


def test_all_codes_rarer_than_folds_falls_back_to_unstratified_grouped_folds(codebook):
    records = make_records(per_code=1)  # every code: 1 own unit + 1 shared quote = 2 units < 3 folds
    units = build_units(records, codebook)
    folds = grouped_folds(units, codebook, n_folds=3, n_repeats=2)
    assert not any(f.stratified for f in folds)
    _check_folds(units, folds, 3, 2)
