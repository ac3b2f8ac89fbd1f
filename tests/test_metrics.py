import numpy as np
import pytest

from l2l import metrics as M

LABELS = np.array([[1, 0, 1, -1], [0, 0, 1, 1], [1, 1, 0, 0]], dtype=np.int8)
PRED = np.array([[1, 1, 1, 0], [0, 0, 0, 1], [1, 1, 0, 1]], dtype=np.int8)


def test_mean_error_excludes_unknown():
    # 11 known pairs, wrong: (0,1), (1,2), (2,3)
    assert M.mean_error(PRED, LABELS) == pytest.approx(100 * 3 / 11)


def test_per_attribute_accuracy():
    np.testing.assert_allclose(M.per_attribute_accuracy(PRED, LABELS), [100, 200 / 3, 200 / 3, 50])


def test_mean_accuracy_label_based():
    # attr0 tpr 1 tnr 1; attr1 tpr 1 tnr 1/2; attr2 tpr 1/2 tnr 1; attr3 tpr 1 tnr 0
    assert M.mean_accuracy(PRED, LABELS) == pytest.approx(100 * np.mean([1, 0.75, 0.75, 0.5]))


def test_per_attribute_mean_accuracy_by_hand_in_compute_metrics():
    # the halves of test_mean_accuracy_label_based, per attribute; attribute "e" has no known label: left out
    labels = np.concatenate([LABELS, -np.ones((3, 1), dtype=np.int8)], axis=1)
    pred = np.concatenate([PRED, np.ones((3, 1), dtype=np.int8)], axis=1)
    out = M.compute_metrics(pred * 0.9 + 0.05, labels, ["a", "b", "c", "d", "e"])
    assert out["per_attribute_mA"] == pytest.approx({"a": 100, "b": 75, "c": 75, "d": 50})


def test_instance_metrics_by_hand():
    out = M.instance_metrics(PRED, LABELS)
    # image0: P={0,1,2}, T={0,2}; image1: P={3}, T={2,3}; image2: P={0,1,3}, T={0,1}
    acc = np.mean([2 / 3, 1 / 2, 2 / 3])
    prec = np.mean([2 / 3, 1, 2 / 3])
    rec = np.mean([1, 1 / 2, 1])
    f1 = np.mean([4 / 5, 2 / 3, 4 / 5])
    assert out["accuracy"] == pytest.approx(100 * acc)
    assert out["precision"] == pytest.approx(100 * prec)
    assert out["recall"] == pytest.approx(100 * rec)
    assert out["f1"] == pytest.approx(100 * f1)
    assert out["f1_of_means"] == pytest.approx(100 * 2 * prec * rec / (prec + rec))


def test_group_accuracy_and_compute_metrics():
    probs = PRED * 0.9 + 0.05
    out = M.compute_metrics(probs, LABELS, ["a", "b", "c", "d"], {"g1": ["a", "b"], "g2": ["d"]})
    assert out["group_accuracy"] == {"g1": pytest.approx((100 + 200 / 3) / 2), "g2": pytest.approx(50)}
    flat = M.scalar_metrics(out)
    assert flat["group_accuracy.g2"] == pytest.approx(50)
    assert flat["error"] == pytest.approx(100 * 3 / 11)


def test_perfect_prediction():
    y = np.array([[1, 0], [0, 1]], dtype=np.int8)
    out = M.compute_metrics(y.astype(float), y, ["a", "b"])
    assert out["error"] == 0 and out["mA"] == 100 and out["f1"] == 100


# ---- item 5 (metrics): an attribute with no known label is not scored as 0 % ----
def test_metrics_leave_out_an_attribute_without_known_labels():
    """Three attributes, all known ones predicted right, the third unknown everywhere: 100, not 66.67."""
    labels = np.array([[1, 0, -1], [0, 1, -1], [1, 1, -1]], dtype=np.int8)
    probs = np.where(labels == 1, 0.9, 0.1)
    out = M.compute_metrics(probs, labels, ["a", "b", "c"], {"g": ["a", "c"], "only_c": ["c"]})
    assert out["mA"] == pytest.approx(100.0)  # was (100 + 100 + 0) / 3 = 66.67
    assert out["per_attribute_accuracy"] == {"a": 100.0, "b": 100.0}
    assert out["group_accuracy"] == {"g": 100.0}  # was 50; a group with nothing scored is left out
    assert out["error"] == 0.0
    # a wrong prediction on a scored attribute still counts: a: 2/3 right, TPR 1/2, TNR 1 -> mA of a = 75
    probs[0, 0] = 0.1
    out = M.compute_metrics(probs, labels, ["a", "b", "c"])
    assert out["mA"] == pytest.approx((75 + 100) / 2)
    assert out["per_attribute_accuracy"]["a"] == pytest.approx(200 / 3)
    assert np.isnan(M.mean_accuracy(np.zeros((2, 2)), np.full((2, 2), -1)))  # nothing to score


def test_mean_accuracy_of_an_attribute_without_positives():
    """Attribute a has no positive in the split. skip (ours): its mA is its TNR; zero (official PA-100K
    tools/function.py, TP/(P + 1e-20) = 0): (0 + TNR)/2."""
    labels = np.array([[0, 1], [0, 0], [0, 1]], dtype=np.int8)
    pred = np.array([[0, 1], [1, 0], [0, 0]], dtype=np.int8)
    # a: TNR 2/3, no TPR; b: TPR 1/2 (rows 0, 2), TNR 1 (row 1) -> (1/2 + 1)/2 = 3/4
    assert M.mean_accuracy(pred, labels) == pytest.approx(100 * (2 / 3 + 3 / 4) / 2)  # 70.83
    assert M.mean_accuracy(pred, labels, "zero") == pytest.approx(100 * ((0 + 2 / 3) / 2 + 3 / 4) / 2)  # 54.17
    assert M.compute_metrics(pred * 0.9, labels, ["a", "b"], ma_undefined_half="zero")["mA"] == \
        pytest.approx(100 * 13 / 24)
    with pytest.raises(ValueError, match="unknown mA rule"):
        M.mean_accuracy(pred, labels, "half")
