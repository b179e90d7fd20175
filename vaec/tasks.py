"""What the head is asked to do: classify, regress, or nothing (an autoencoder without labels).

A :class:`Task` owns everything that differs by task (the head's width and loss, the scores, what
a split stratifies on), so nothing else compares task names. torch is imported inside the methods
that compute: a command line that only checks its settings must not pay for loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

Pair = tuple["torch.Tensor", "torch.Tensor"]  # two scores, each (replicas,)
# Quantile bins a regression target is stratified on (fewer when the parts are small).
REGRESSION_BINS = 10


@dataclass(frozen=True)
class Task:
    """One task of the head, with the rules that depend on it (the singletons of :data:`TASKS`)."""

    name: str
    score_names: tuple[str, str]  # the two scores recorded at every evaluation, in column order
    guard_score: str  # the validation score a pruning round reports for its guard
    curve_score: str  # the score drawn in the learning curves
    has_target: bool = True  # the head learns a target (without one only the autoencoder trains)
    has_classes: bool = False  # class labels: probabilities, class indices, strata per class
    has_values: bool = False  # a quantity: learned standardised, predicted in its units
    lower_is_better: frozenset[str] = frozenset()  # scores where smaller is better (an error)

    def __repr__(self) -> str:
        return f"Task({self.name!r})"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # unpickled (a worker process, a deep copy) as the same singleton
        return get_task, (self.name,)

    def n_outputs(self, n_classes: int) -> int:
        """Width of the head's output layer."""
        return 1

    def prediction_losses(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of every row, ``(replicas, rows)``; ``target`` repeats to the rows when they
        are several copies of it (the ablated passes of :func:`vaec.model.ablation_scores`)."""
        return outputs.new_zeros(outputs.shape[:2])

    def scores(self, predicted: torch.Tensor, truth: torch.Tensor, n_classes: int,
               weights: torch.Tensor | None = None) -> Pair:
        """The two :attr:`score_names` per replica of ``predicted`` (the head's output, or the
        reconstruction without a target) against ``truth``, rows weighted by ``weights``."""
        return r2_and_mae(predicted, truth, weights)

    def ranked_scores(self, selection_metric: str) -> tuple[str, str]:
        """The score that picks the best epoch, then the one that breaks its ties."""
        return self.score_names

    def row_losses(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The per-row score the accuracy guard compares between rounds, ``(replicas, rows)``."""
        return self.prediction_losses(outputs, target)

    def strata(self, y: Any, val_size: float = 0.2, test_size: float = 0.2) -> np.ndarray | None:
        """What a split stratifies on (``None``: nothing)."""
        return None


class _Classification(Task):
    def n_outputs(self, n_classes: int) -> int:
        return 1 if n_classes == 2 else n_classes

    def prediction_losses(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        n_replicas, n_rows = outputs.shape[:2]
        target = target.repeat(n_rows // target.shape[0])
        if outputs.shape[-1] == 1:
            target_f = target.to(outputs.dtype).unsqueeze(0).expand(n_replicas, -1)
            return F.binary_cross_entropy_with_logits(outputs.squeeze(-1), target_f, reduction="none")
        flat = outputs.reshape(-1, outputs.shape[-1])
        return F.cross_entropy(flat, target.repeat(n_replicas), reduction="none").view(n_replicas, n_rows)

    def scores(self, predicted: torch.Tensor, truth: torch.Tensor, n_classes: int,
               weights: torch.Tensor | None = None) -> Pair:
        return accuracy_and_f1(predicted_class(predicted), truth, n_classes, weights)

    def ranked_scores(self, selection_metric: str) -> tuple[str, str]:
        return ("f1", "accuracy") if selection_metric == "f1" else ("accuracy", "f1")

    def row_losses(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # the Brier score sum_k (p_k - [y = k])²: a proper score bounded per row, so a few rows
        # the overconfident round models get confidently wrong do not decide a comparison
        import torch.nn.functional as F

        p = probabilities(outputs)
        return (p - F.one_hot(target, p.shape[-1]).to(p.dtype).unsqueeze(0)).pow(2).sum(dim=-1)

    def strata(self, y: Any, val_size: float = 0.2, test_size: float = 0.2) -> np.ndarray | None:
        return None if y is None else np.asarray(y)


class _Regression(Task):
    def prediction_losses(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.repeat(outputs.shape[1] // target.shape[0])
        return (outputs.squeeze(-1) - target.to(outputs.dtype).unsqueeze(0)).pow(2)

    def scores(self, predicted: torch.Tensor, truth: torch.Tensor, n_classes: int,
               weights: torch.Tensor | None = None) -> Pair:
        return r2_and_mae(predicted.squeeze(-1), truth, weights)

    def strata(self, y: Any, val_size: float = 0.2, test_size: float = 0.2) -> np.ndarray | None:
        # quantile bins keep the target's distribution in every part
        if y is None:
            return None
        values = np.asarray(y, dtype=np.float64)
        smallest = min(f for f in (1.0 - val_size - test_size, val_size, test_size) if f > 0)
        # every bin needs rows in every part
        n_bins = int(max(1, min(REGRESSION_BINS, len(values) * smallest // 2)))
        edges = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
        return np.searchsorted(edges, values, side="right")


CLASSIFICATION = _Classification("classification", ("accuracy", "f1"), guard_score="f1",
                                 curve_score="accuracy", has_classes=True)
REGRESSION = _Regression("regression", ("r2", "mae"), guard_score="r2", curve_score="mae", has_values=True,
                         lower_is_better=frozenset({"mae"}))
UNSUPERVISED = Task("unsupervised", ("reconstruction_r2", "reconstruction_mae"),
                    guard_score="reconstruction_r2", curve_score="reconstruction_r2", has_target=False,
                    lower_is_better=frozenset({"reconstruction_mae"}))
TASKS: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, REGRESSION, UNSUPERVISED)}


def lookup(table: dict[str, Any], kind: str, name: Any) -> Any:
    """``table[name]``, else a ValueError naming the ``kind`` and the names in ``table``."""
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ValueError(f"{kind} must be one of {', '.join(table)}; got {name!r}") from None


def get_task(task: str | Task) -> Task:
    """The task of that name (a :class:`Task` passes through)."""
    return task if isinstance(task, Task) else lookup(TASKS, "task", task)


# the computations behind the scores, for all replicas at once -----------------------------------

def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities ``(replicas, rows, n_classes)`` from logits (two columns if binary)."""
    import torch

    if logits.shape[-1] == 1:
        p1 = torch.sigmoid(logits)
        return torch.cat([1.0 - p1, p1], dim=-1)
    return torch.softmax(logits, dim=-1)


def predicted_class(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class indices ``(replicas, rows)``."""
    return (logits.squeeze(-1) > 0).long() if logits.shape[-1] == 1 else logits.argmax(dim=-1)


def accuracy_and_f1(predicted: torch.Tensor, target: torch.Tensor, n_classes: int,
                    weights: torch.Tensor | None = None) -> Pair:
    """Accuracy and F1 per replica from a confusion matrix on the device, as scikit-learn's
    (``average='binary'`` with class 1 positive for two classes, ``'macro'`` over the seen ones)."""
    import torch

    n_replicas, cells = predicted.shape[0], n_classes * n_classes
    offsets = torch.arange(n_replicas, device=predicted.device).unsqueeze(1) * cells
    index = offsets + target.unsqueeze(0) * n_classes + predicted
    counts = torch.bincount(index.reshape(-1), minlength=n_replicas * cells,
                            weights=None if weights is None else weights.reshape(-1).to(torch.float64))
    cm = counts.view(n_replicas, n_classes, n_classes).to(torch.float64)  # (replica, true, pred)
    true_pos = torch.diagonal(cm, dim1=1, dim2=2)
    accuracy = true_pos.sum(dim=1) / cm.sum(dim=(1, 2))
    denominator = cm.sum(dim=2) + cm.sum(dim=1)
    f1_per_class = torch.where(denominator > 0, 2 * true_pos / denominator.clamp(min=1), 0.0)
    if n_classes == 2:
        return accuracy, f1_per_class[:, 1]
    seen = (denominator > 0).to(torch.float64)
    return accuracy, (f1_per_class * seen).sum(dim=1) / seen.sum(dim=1)


def r2_and_mae(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> Pair:
    """R² and mean absolute error per replica of ``(replicas, rows[, columns])`` predictions (with
    columns: the mean of every column's R², MAE over all cells), rows weighted by ``weights``."""
    target = target.to(predicted.dtype).expand_as(predicted)
    error = predicted - target
    axis = -2 if predicted.dim() == 3 else -1
    w = (predicted.new_ones(predicted.shape[:2]) if weights is None else weights.to(predicted.dtype))
    if predicted.dim() == 3:
        w = w.unsqueeze(-1)
    total = w.sum(dim=axis).clamp_min(1e-12)
    centred = target - (w * target).sum(dim=axis, keepdim=True) / total.unsqueeze(axis)
    sse = (w * error.pow(2)).sum(dim=axis)
    sst = (w * centred.pow(2)).sum(dim=axis).clamp_min(1e-12)
    r2 = 1.0 - sse / sst
    mae = (w * error.abs()).sum(dim=axis) / total
    if predicted.dim() == 3:
        r2, mae = r2.mean(dim=-1), mae.mean(dim=-1)
    return r2, mae
