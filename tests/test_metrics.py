"""Tests of trufor.metrics: hand-computed cases that pin the protocol, and property tests against
scikit-learn on random data."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    jaccard_score,
    matthews_corrcoef,
    roc_auc_score,
)

from trufor import metrics as M

pytestmark = pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def regions_1d(forged, pristine):
    """Protocol regions given directly, as one-row images."""
    return np.array([pristine], dtype=bool), np.array([forged], dtype=bool)


# ----------------------------------------------------------------------------------------------
# Regions: erosion 15, dilation 11, border behaviour
# ----------------------------------------------------------------------------------------------


def test_regions_of_a_centred_square():
    gt = np.zeros((61, 61), bool)
    gt[15:46, 15:46] = True  # 31 x 31
    pristine, forged = M.protocol_regions(gt)
    # erosion by a 15x15 window removes 7 pixels on each side: 17 x 17 remain
    assert forged.sum() == 17 * 17
    assert forged[22:39, 22:39].all()
    # dilation by 11x11 adds 5 pixels on each side: 41 x 41 are not pristine
    assert pristine.sum() == 61 * 61 - 41 * 41
    assert not pristine[10:51, 10:51].any()
    assert not (pristine & forged).any()


def test_regions_border_is_not_eroded():
    """The filter window is clipped at the image border (scipy 'reflect'), so a mask touching the
    border is not eroded from that side."""
    gt = np.ones((20, 30), bool)
    pristine, forged = M.protocol_regions(gt)
    assert forged.all() and not pristine.any()

    gt = np.zeros((40, 60), bool)
    gt[:, :30] = True  # left half
    pristine, forged = M.protocol_regions(gt)
    np.testing.assert_array_equal(forged.any(axis=0), np.arange(60) < 23)
    assert forged[:, :23].all()  # top and bottom rows included
    np.testing.assert_array_equal(pristine.any(axis=0), np.arange(60) >= 35)
    assert pristine[:, 35:].all()


def test_regions_tiny_mask_vanishes():
    gt = np.zeros((50, 50), bool)
    gt[20:34, 20:34] = True  # 14 x 14 < 15: nothing survives the erosion
    pristine, forged = M.protocol_regions(gt)
    assert not forged.any()
    assert pristine.sum() == 50 * 50 - 24 * 24


def test_regions_reject_non_2d():
    with pytest.raises(ValueError):
        M.protocol_regions(np.zeros((4, 4, 3)))


# ----------------------------------------------------------------------------------------------
# Localization: hand-computed
# ----------------------------------------------------------------------------------------------


def test_hand_computed_example():
    # forged pixels have values 0.9, 0.2; pristine ones 0.7, 0.4, 0.6.
    values = np.array([[0.9, 0.2, 0.7, 0.4, 0.6]], np.float32)
    pristine, forged = regions_1d([1, 1, 0, 0, 0], [0, 0, 1, 1, 1])
    r = M.localization_metrics_regions(values, pristine, forged)
    # > 0.7 keeps {0.9}: TP 1, FP 0, FN 1 -> F1 2/3 (best; the inverted <= 0.2 ties, not preferred)
    assert r.f1_best == pytest.approx(2 / 3)
    assert r.best_threshold == pytest.approx(0.7) and r.best_inverted is False
    assert r.iou_best == pytest.approx(1 / 2)
    # at 0.5: {0.9, 0.7, 0.6} -> TP 1 FP 2 FN 1 TN 1: F1 2/5; inverted {0.2, 0.4}: TP 1 FP 1 FN 1: 1/2
    assert r.f1_th == pytest.approx(1 / 2)
    assert r.iou_th == pytest.approx(1 / 3)
    assert r.mcc_th == pytest.approx(1 / 6)  # |1*1 - 2*1| / sqrt(3*2*2*3)
    # pairs (forged, pristine): 0.9 beats all 3, 0.2 beats none
    assert r.pixel_auc == pytest.approx(0.5)
    assert (r.n_forged, r.n_pristine, r.n_ignored) == (2, 3, 0)


def test_threshold_is_strict():
    """A value equal to the threshold is predicted pristine (value > 0.5 is forged)."""
    values = np.array([[0.5, 0.5, 0.2, 0.2]], np.float32)
    pristine, forged = regions_1d([1, 1, 0, 0], [0, 0, 1, 1])
    r = M.localization_metrics_regions(values, pristine, forged)
    # nothing > 0.5: TP 0, so only the inverted map scores: {<= 0.5} = all -> F1 = 4/(4+2) = 2/3
    assert r.f1_th == pytest.approx(2 / 3)
    r = M.localization_metrics_regions(values, pristine, forged, threshold=0.49)
    assert r.f1_th == pytest.approx(1.0)


def test_inverted_map_scores_like_the_map():
    rng = np.random.default_rng(3)
    gt = np.zeros((64, 64), bool)
    gt[10:40, 20:50] = True
    m = np.clip(gt * 0.7 + rng.random(gt.shape) * 0.4, 0, 1).astype(np.float32)
    a = M.localization_metrics(m, gt)
    b = M.localization_metrics(1 - m, gt)
    assert a.f1_best == pytest.approx(b.f1_best)
    assert b.best_inverted and not a.best_inverted
    perfect = M.localization_metrics(np.where(gt, 0.0, 1.0).astype(np.float32), gt)
    assert perfect.f1_best == 1.0 and perfect.f1_th == 1.0 and perfect.best_inverted
    # pixel AUC is not inverted
    assert perfect.pixel_auc == 0.0


def test_empty_mask_matches_authors():
    gt = np.zeros((40, 40), bool)
    low = np.full(gt.shape, 0.1, np.float32)
    r = M.localization_metrics(low, gt)
    assert r.n_forged == 0 and r.n_pristine == 1600
    assert r.f1_best == 0.0
    assert math.isnan(r.f1_th)  # nothing predicted forged, nothing forged: the image is dropped
    assert math.isnan(r.pixel_auc)
    some = low.copy()
    some[0, 0] = 0.9
    r = M.localization_metrics(some, gt)
    assert r.f1_best == 0.0 and r.f1_th == 0.0


def test_full_mask_matches_authors():
    gt = np.ones((30, 30), bool)
    r = M.localization_metrics(np.full(gt.shape, 0.9, np.float32), gt)
    assert r.f1_best == 1.0
    assert math.isnan(r.f1_th)  # all forged, all predicted forged: 1x1 confusion matrix upstream
    r = M.localization_metrics(np.zeros(gt.shape, np.float32), gt)
    assert r.f1_th == 1.0  # the inverted map predicts everything forged


def test_everything_ignored_gives_nan():
    pristine = forged = np.zeros((3, 3), bool)
    r = M.localization_metrics_regions(np.zeros((3, 3)), pristine, forged)
    assert all(math.isnan(x) for x in (r.f1_best, r.f1_th, r.iou_th, r.mcc_best, r.pixel_auc))


def test_nan_map_gives_nan_and_inf_map_is_ordered():
    gt = np.zeros((60, 60), bool)
    gt[5:35, 5:35] = True
    m = gt.astype(np.float32)
    bad = m.copy()
    bad[20, 20] = np.nan
    assert math.isnan(M.localization_metrics(bad, gt).f1_best)
    # NaN only in the ignored band does not matter
    band = m.copy()
    band[5, 20] = np.nan
    assert M.localization_metrics(band, gt).f1_best == 1.0
    inf = np.where(gt, np.inf, -np.inf).astype(np.float32)
    r = M.localization_metrics(inf, gt)
    assert r.f1_best == 1.0 and r.f1_th == 1.0 and r.pixel_auc == 1.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        M.localization_metrics(np.zeros((4, 5)), np.zeros((5, 4), bool))


def test_nanmean():
    assert M.nanmean([1.0, math.nan, 3.0]) == 2.0
    assert math.isnan(M.nanmean([math.nan]))
    assert math.isnan(M.nanmean([]))


def test_sweep_is_fast_on_a_large_map():
    rng = np.random.default_rng(0)
    gt = np.zeros((1000, 1000), bool)
    gt[200:600, 300:700] = True
    m = rng.random(gt.shape, dtype=np.float32)
    t0 = time.perf_counter()
    M.localization_metrics(m, gt)
    assert time.perf_counter() - t0 < 5.0  # ~0.4 s on one core; generous for a shared machine


# ----------------------------------------------------------------------------------------------
# Localization: against scikit-learn on random data
# ----------------------------------------------------------------------------------------------


@st.composite
def labelled_pixels(draw, min_size=1, max_size=60):
    n = draw(st.integers(min_size, max_size))
    # few distinct values -> many ties, the hard case for a sweep
    levels = draw(st.sampled_from([2, 3, 5, 17, 1000]))
    values = draw(hnp.arrays(np.float32, n, elements=st.integers(0, levels).map(lambda k: k / levels)))
    region = draw(hnp.arrays(np.int8, n, elements=st.sampled_from([0, 1, 2])))  # 0 pristine 1 forged 2 ignored
    return values[None, :], region[None, :] == 0, region[None, :] == 1


def brute_force_best(values, pristine, forged, score):
    counted = pristine | forged
    v, y = values[counted], forged[counted]
    best = 0.0
    for t in np.unique(v):
        for pred in (v > t, v <= t):
            best = max(best, score(y, pred))
    return best


@FAST
@given(labelled_pixels())
def test_best_f1_iou_mcc_against_sklearn(data):
    values, pristine, forged = data
    r = M.localization_metrics_regions(values, pristine, forged)
    if not (pristine | forged).any():
        assert math.isnan(r.f1_best)
        return
    f1 = brute_force_best(values, pristine, forged, lambda y, p: f1_score(y, p, zero_division=0))
    iou = brute_force_best(values, pristine, forged, lambda y, p: jaccard_score(y, p, zero_division=0))
    mcc = brute_force_best(values, pristine, forged, lambda y, p: abs(matthews_corrcoef(y, p)))
    assert r.f1_best == pytest.approx(f1, abs=1e-12)
    assert r.iou_best == pytest.approx(iou, abs=1e-12)
    assert r.iou_best == pytest.approx(r.f1_best / (2 - r.f1_best), abs=1e-12)
    assert r.mcc_best == pytest.approx(mcc, abs=1e-9)


@FAST
@given(labelled_pixels(), st.sampled_from([0.5, 0.3, 0.0, 1.0]))
def test_fixed_threshold_against_sklearn(data, th):
    values, pristine, forged = data
    r = M.localization_metrics_regions(values, pristine, forged, threshold=th)
    counted = pristine | forged
    y, v = forged[counted], values[counted]
    pred = v > th
    if counted.sum() == 0 or len(np.unique(np.concatenate([y, pred]))) == 1:
        assert math.isnan(r.f1_th) and math.isnan(r.iou_th) and math.isnan(r.mcc_th)
        return
    f1 = max(f1_score(y, pred, zero_division=0), f1_score(y, ~pred, zero_division=0))
    iou = max(jaccard_score(y, pred, zero_division=0), jaccard_score(y, ~pred, zero_division=0))
    assert r.f1_th == pytest.approx(f1, abs=1e-12)
    assert r.iou_th == pytest.approx(iou, abs=1e-12)
    assert r.mcc_th == pytest.approx(abs(matthews_corrcoef(y, pred)), abs=1e-9)


@FAST
@given(labelled_pixels(min_size=2))
def test_pixel_auc_against_sklearn(data):
    values, pristine, forged = data
    r = M.localization_metrics_regions(values, pristine, forged)
    counted = pristine | forged
    y = forged[counted]
    if y.all() or not y.any():
        assert math.isnan(r.pixel_auc)
    else:
        assert r.pixel_auc == pytest.approx(roc_auc_score(y, values[counted]), abs=1e-12)


@FAST
@given(labelled_pixels())
def test_sweep_counts_are_consistent(data):
    values, pristine, forged = data
    s = M.threshold_sweep(values, pristine, forged)
    counted = pristine | forged
    v, y = values[counted], forged[counted]
    np.testing.assert_array_equal(s.thresholds, np.unique(v))
    for t, tp, fp in zip(s.thresholds, s.tp, s.fp):
        assert tp == np.count_nonzero((v > t) & y)
        assert fp == np.count_nonzero((v > t) & ~y)
    np.testing.assert_array_equal(s.tp + s.fn, np.full(s.tp.shape, y.sum()))
    np.testing.assert_array_equal(s.fp + s.tn, np.full(s.fp.shape, (~y).sum()))


def test_pooled_auc_exact_on_grid_and_close_otherwise():
    rng = np.random.default_rng(5)
    pooled_grid, pooled_free = M.PooledPixelAUC(), M.PooledPixelAUC()
    all_v_grid, all_v_free, all_y = [], [], []
    for _ in range(5):
        gt = np.zeros((48, 48), bool)
        y0, x0 = rng.integers(0, 24, 2)
        gt[y0 : y0 + 24, x0 : x0 + 24] = True
        free = np.clip(gt * 0.3 + rng.random(gt.shape) * 0.8, 0, 1)
        grid = np.rint(free * 65535) / 65535
        pristine, forged = M.protocol_regions(gt)
        pooled_grid.update(grid, pristine, forged)
        pooled_free.update(free, pristine, forged)
        counted = pristine | forged
        all_v_grid.append(grid[counted])
        all_v_free.append(free[counted])
        all_y.append(forged[counted])
    y = np.concatenate(all_y)
    assert pooled_grid.value == pytest.approx(roc_auc_score(y, np.concatenate(all_v_grid)), abs=1e-12)
    assert pooled_free.value == pytest.approx(roc_auc_score(y, np.concatenate(all_v_free)), abs=1e-4)
    assert pooled_grid.n_forged == y.sum()
    assert math.isnan(M.PooledPixelAUC().value)


# ----------------------------------------------------------------------------------------------
# Detection
# ----------------------------------------------------------------------------------------------


@st.composite
def scored_labels(draw):
    n = draw(st.integers(2, 80))
    labels = draw(hnp.arrays(np.int64, n, elements=st.sampled_from([0, 1])))
    levels = draw(st.sampled_from([3, 10, 1000]))
    scores = draw(hnp.arrays(np.float64, n, elements=st.integers(0, levels).map(lambda k: k / levels)))
    return scores, labels


@FAST
@given(scored_labels())
def test_detection_against_sklearn(data):
    scores, labels = data
    r = M.detection_metrics(scores, labels)
    if len(np.unique(labels)) < 2:
        assert math.isnan(r.auc) and math.isnan(r.balanced_accuracy)
        return
    assert r.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert r.balanced_accuracy == pytest.approx(balanced_accuracy_score(labels, scores > 0.5), abs=1e-12)
    # TPR at FPR: best TPR of a threshold "score >= t" whose FPR is within the target
    for target in (0.01, 0.05):
        best = 0.0
        for t in np.concatenate([[np.inf], np.unique(scores)]):
            pred = scores >= t
            fpr = np.count_nonzero(pred & (labels == 0)) / np.count_nonzero(labels == 0)
            if fpr <= target:
                best = max(best, np.count_nonzero(pred & (labels == 1)) / np.count_nonzero(labels == 1))
        assert r.tpr_at_fpr[target] == pytest.approx(best)


def test_detection_hand_computed():
    scores = [0.1, 0.4, 0.35, 0.8, 0.5]
    labels = [0, 0, 1, 1, 1]
    r = M.detection_metrics(scores, labels)
    # fake/real pairs won: 0.35>0.1, 0.8>both, 0.5>both -> 5 of 6
    assert r.auc == pytest.approx(5 / 6)
    # > 0.5 strictly: fakes {0.8} -> recall 1/3; reals both below -> 1; mean 2/3
    assert r.balanced_accuracy == pytest.approx(2 / 3)
    assert r.tpr_at_fpr[0.01] == pytest.approx(2 / 3)  # 0.8 and 0.5 are above every real
    assert (r.n_real, r.n_fake) == (2, 3)


def test_detection_non_finite_scores():
    labels = [0, 0, 1, 1, 1, 0]
    scores = [0.2, -np.inf, 0.9, np.inf, np.nan, 0.95]
    r = M.detection_metrics(scores, labels)
    assert (r.n_nan, r.n_pos_inf, r.n_neg_inf) == (1, 1, 1)
    assert (r.n_real, r.n_fake) == (3, 2)
    # +inf ranks above everything, -inf below: same as replacing them by 2 and -1
    assert r.auc == pytest.approx(roc_auc_score([0, 0, 1, 1, 0], [0.2, -1, 0.9, 2, 0.95]))
    assert r.balanced_accuracy == pytest.approx(balanced_accuracy_score([0, 0, 1, 1, 0], [0, 0, 1, 1, 1]))
    one_class = M.detection_metrics([0.3, 0.7], [1, 1])
    assert math.isnan(one_class.auc) and math.isnan(one_class.tpr_at_fpr[0.05])
    assert one_class.n_fake == 2


def test_detection_bad_labels():
    with pytest.raises(ValueError):
        M.detection_metrics([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError):
        M.detection_metrics([0.1, 0.2], [0])


def test_detection_roc_endpoints():
    fpr, tpr = M.detection_roc([0.1, 0.9, np.inf, 0.3], [0, 1, 1, 0])
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert M.detection_roc([0.1], [1])[0].size == 0
    d = M.detection_metrics([0.1, 0.9], [0, 1]).as_dict()
    assert d["tpr_at_fpr"] == {"0.01": 1.0, "0.05": 1.0}
