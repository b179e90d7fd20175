"""Accuracy and F1 computed in torch for all replicas at once (no per-epoch host round trip).

They agree with ``sklearn.metrics.accuracy_score`` and ``f1_score`` (``average='binary'`` with
class 1 positive for two classes, ``'macro'`` over the labels seen otherwise); the tests pin that.
"""

from __future__ import annotations

import torch


def confusion_matrices(predicted: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Confusion matrix of every replica, ``(replicas, true, predicted)``."""
    n_replicas = predicted.shape[0]
    offsets = torch.arange(n_replicas, device=predicted.device).unsqueeze(1) * n_classes * n_classes
    index = offsets + target.unsqueeze(0) * n_classes + predicted
    counts = torch.bincount(index.reshape(-1), minlength=n_replicas * n_classes * n_classes)
    return counts.view(n_replicas, n_classes, n_classes)


def accuracy_and_f1(
    predicted: torch.Tensor, target: torch.Tensor, n_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and F1 per replica, each of shape ``(replicas,)``."""
    cm = confusion_matrices(predicted, target, n_classes).to(torch.float64)
    true_pos = torch.diagonal(cm, dim1=1, dim2=2)
    support = cm.sum(dim=2)
    predicted_count = cm.sum(dim=1)
    accuracy = true_pos.sum(dim=1) / cm.sum(dim=(1, 2))
    denominator = support + predicted_count
    f1_per_class = torch.where(denominator > 0, 2 * true_pos / denominator.clamp(min=1), 0.0)
    if n_classes == 2:
        return accuracy, f1_per_class[:, 1]
    seen = (denominator > 0).to(torch.float64)
    return accuracy, (f1_per_class * seen).sum(dim=1) / seen.sum(dim=1)
