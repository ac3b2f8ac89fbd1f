"""Multi-attribute metrics as pure functions of (predictions, labels); unknown labels (-1) are excluded.

* ``error``: mean error over all known image × attribute pairs (the LFWA / CelebA metric), in %.
* ``mA``: label-based mean accuracy, the mean over attributes of (TPR + TNR) / 2 (PA-100K), in %.
* instance-based ``accuracy``, ``precision``, ``recall`` (PA-100K): per image, |P∩T|/|P∪T|,
  |P∩T|/|P|, |P∩T|/|T| over its known attributes, averaged over images (an image with an empty
  denominator contributes 0 to that mean, as in the official PA-100K evaluation).
* ``f1``: the mean of per-instance F1 = 2|P∩T|/(|P|+|T|) (what the official Label2Label code averages);
  ``f1_of_means``: 2·precision·recall/(precision+recall) of the averaged values (what many
  pedestrian-attribute papers report). Both are given so numbers can be compared with either.
* ``per_attribute_accuracy``, ``per_attribute_mA`` ((TPR + TNR) / 2 of each attribute: the pedestrian
  sets' per-attribute figure) and ``group_accuracy`` (mean of its attributes' accuracies), in %.

An attribute with no known label in the split cannot be scored: it is left out of ``mA``, of
``per_attribute_accuracy``, ``per_attribute_mA`` and of its group's mean (a group with none is left out),
instead of counting as 0 % and dragging the means down. ``mA`` of an attribute with no positive (or no
negative) in the split is the mean of its defined half (``ma_undefined_half="skip"``, ours), or (0 + TNR)/2
with every attribute included (``"zero"``: the official PA-100K ``tools/function.py``, where TP/(P + 10⁻²⁰)
is 0 when P = 0); ``train.ma_undefined_half`` picks one (for ``mA`` and ``per_attribute_mA`` alike).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)


def mean_error(pred: np.ndarray, labels: np.ndarray) -> float:
    known = labels >= 0
    return float(100.0 * ((pred != labels) & known).sum() / max(known.sum(), 1))


def scored(labels: np.ndarray) -> np.ndarray:
    """Per attribute: True when it has at least one known label (only those can be scored)."""
    return (labels >= 0).any(0)


def per_attribute_accuracy(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Accuracy over known labels, per attribute; NaN for an attribute with none."""
    known = labels >= 0
    acc = 100.0 * _safe_div(((pred == labels) & known).sum(0), known.sum(0))
    return np.where(scored(labels), acc, np.nan)


MA_UNDEFINED_HALF = ("skip", "zero")


def per_attribute_mean_accuracy(pred: np.ndarray, labels: np.ndarray, undefined_half: str = "skip") -> np.ndarray:
    """(TPR + TNR) / 2 per attribute, in % (the pedestrian sets' per-attribute figure).

    ``skip``: one with no known positive (or negative) uses the defined half only; NaN for one with no
    known label at all. ``zero``: the official formula, an undefined half counts 0 (never NaN)."""
    if undefined_half not in MA_UNDEFINED_HALF:
        raise ValueError(f"unknown mA rule '{undefined_half}'; choose one of {MA_UNDEFINED_HALF}")
    pos, neg = labels == 1, labels == 0
    tpr = _safe_div((pos & (pred == 1)).sum(0), pos.sum(0))
    tnr = _safe_div((neg & (pred == 0)).sum(0), neg.sum(0))
    if undefined_half == "zero":
        return 100.0 * (tpr + tnr) / 2
    halves = (pos.sum(0) > 0).astype(float) + (neg.sum(0) > 0)
    return np.where(scored(labels), 100.0 * _safe_div(tpr + tnr, halves), np.nan)


def mean_accuracy(pred: np.ndarray, labels: np.ndarray, undefined_half: str = "skip") -> float:
    """Label-based mA: the mean of :func:`per_attribute_mean_accuracy` over the scored attributes (NaN
    when none is scored; with ``zero`` every attribute is scored)."""
    per_attr = per_attribute_mean_accuracy(pred, labels, undefined_half)
    keep = ~np.isnan(per_attr)
    return float(np.mean(per_attr[keep])) if keep.any() else float("nan")


def instance_metrics(pred: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    known = labels >= 0
    p, t = (pred == 1) & known, (labels == 1) & known
    inter, union = (p & t).sum(1), (p | t).sum(1)
    n_pred, n_true = p.sum(1), t.sum(1)
    precision = _safe_div(inter, n_pred).mean()
    recall = _safe_div(inter, n_true).mean()
    return {
        "accuracy": float(100.0 * _safe_div(inter, union).mean()),
        "precision": float(100.0 * precision),
        "recall": float(100.0 * recall),
        "f1": float(100.0 * _safe_div(2.0 * inter, n_pred + n_true).mean()),
        "f1_of_means": float(100.0 * 2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
    }


def group_accuracy(per_attribute: np.ndarray, attributes: Sequence[str],
                   groups: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Mean accuracy of each group's scored attributes (NaN in ``per_attribute``); a group with none is left out."""
    index = {a: i for i, a in enumerate(attributes)}
    out = {}
    for g, members in groups.items():
        values = [per_attribute[index[a]] for a in members if not np.isnan(per_attribute[index[a]])]
        if values:
            out[g] = float(np.mean(values))
    return out


def compute_metrics(probs: np.ndarray, labels: np.ndarray, attributes: Sequence[str],
                    groups: Mapping[str, Sequence[str]] | None = None,
                    threshold: float = 0.5, ma_undefined_half: str = "skip") -> dict[str, object]:
    """All metrics for one split; scalars at the top level, per-attribute/group values nested."""
    pred = (probs > threshold).astype(np.int8)
    per_attr = per_attribute_accuracy(pred, labels)
    out: dict[str, object] = {"error": mean_error(pred, labels),
                              "mA": mean_accuracy(pred, labels, ma_undefined_half)}
    out.update(instance_metrics(pred, labels))
    out["per_attribute_accuracy"] = {a: float(v) for a, v in zip(attributes, per_attr) if not np.isnan(v)}
    out["per_attribute_mA"] = {a: float(v) for a, v in zip(attributes, per_attribute_mean_accuracy(pred, labels, ma_undefined_half))
                               if not np.isnan(v)}
    if groups:
        out["group_accuracy"] = group_accuracy(per_attr, attributes, groups)
    return out


def scalar_metrics(metrics: Mapping[str, object]) -> dict[str, float]:
    """Top-level scalars plus flattened group accuracies (for logging and tables)."""
    out = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    for g, v in dict(metrics.get("group_accuracy", {})).items():
        out[f"group_accuracy.{g}"] = float(v)
    return out


# The one list of headline metrics and their directions (engine selection, tables, aggregate).
METRICS = ("error", "mA", "accuracy", "precision", "recall", "f1")
LOWER_IS_BETTER = frozenset({"error", "loss", "aqn_error", "label_error"})
HIGHER_IS_BETTER = frozenset({"mA", "accuracy", "precision", "recall", "f1", "f1_of_means", "label_accuracy"})


def lower_is_better(metric: str) -> bool:
    """Direction of a metric name (``val_error`` and ``error`` alike); unknown names raise ValueError."""
    base = metric.split("_", 1)[1] if metric.split("_", 1)[0] in ("train", "val", "test") else metric
    if base in LOWER_IS_BETTER or base.endswith("_error"):
        return True
    if base in HIGHER_IS_BETTER or base.startswith("group"):
        return False
    raise ValueError(f"metric '{metric}' has no known direction")


def is_better(metric: str, value: float, best: float | None) -> bool:
    """Whether ``value`` improves on ``best`` (None: nothing yet) for ``metric``; ties keep the earlier."""
    if best is None:
        return True
    return value < best if lower_is_better(metric) else value > best
