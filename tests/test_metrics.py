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
