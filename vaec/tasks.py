"""What the head is asked to do: classify, regress, or nothing (an autoencoder without labels).

One home for everything that depends on the task: how many outputs the head has, its loss,
the two scores recorded every evaluation (and the first of which picks the best epoch), and
what the training loop compares:

=============== ====================== =================== =====================================
task            head output            prediction loss     scores (first picks the best epoch)
=============== ====================== =================== =====================================
classification  one logit (binary) or  cross-entropy       ``f1`` and ``accuracy`` (or the
                one per class                              other way round, ``selection_metric``)
regression      one value              squared error       ``r2`` and ``mae`` (of the
                                                           standardised target)
unsupervised    none used              none                ``reconstruction_r2`` and
                                                           ``reconstruction_mae``
=============== ====================== =================== =====================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

TASKS = ("classification", "regression", "unsupervised")
SCORE_NAMES = {
    "classification": ("accuracy", "f1"),
    "regression": ("r2", "mae"),
    "unsupervised": ("reconstruction_r2", "reconstruction_mae"),
}
# scores where smaller is better (compared negated)
LOWER_IS_BETTER = {"mae", "reconstruction_mae"}


def n_outputs(task: str, n_classes: int) -> int:
    """Width of the head's output layer."""
    if task == "classification":
        return 1 if n_classes == 2 else n_classes
    return 1


def score_names(task: str) -> tuple[str, str]:
    """The two scores recorded for ``task``, in history-column order."""
    return SCORE_NAMES[task]


def prediction_losses(outputs: torch.Tensor, target: torch.Tensor, task: str) -> torch.Tensor:
    """Loss of every row, ``(replicas, rows)``; ``target`` repeats to the rows when needed."""
    import torch.nn.functional as F

    n_replicas, n_rows = outputs.shape[:2]
    target = target.repeat(n_rows // target.shape[0])
    if task == "regression":
        return (outputs.squeeze(-1) - target.to(outputs.dtype).unsqueeze(0)).pow(2)
    if task == "unsupervised":
        return outputs.new_zeros((n_replicas, n_rows))
    if outputs.shape[-1] == 1:
        target_f = target.to(outputs.dtype).unsqueeze(0).expand(n_replicas, -1)
        return F.binary_cross_entropy_with_logits(outputs.squeeze(-1), target_f, reduction="none")
    flat = outputs.reshape(-1, outputs.shape[-1])
    losses = F.cross_entropy(flat, target.repeat(n_replicas), reduction="none")
    return losses.view(n_replicas, n_rows)


def r2_and_mae(predicted: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """R² and mean absolute error per replica of ``(replicas, rows[, columns])`` predictions.

    With columns (a reconstruction), R² is the mean of every column's and MAE the mean over
    all cells.
    """
    target = target.to(predicted.dtype).expand_as(predicted)
    error = predicted - target
    centred = target - target.mean(dim=-2 if predicted.dim() == 3 else -1, keepdim=True)
    axis = -2 if predicted.dim() == 3 else -1
    sse, sst = error.pow(2).sum(dim=axis), centred.pow(2).sum(dim=axis).clamp_min(1e-12)
    r2 = 1.0 - sse / sst
    mae = error.abs().mean(dim=axis)
    if predicted.dim() == 3:
        r2, mae = r2.mean(dim=-1), mae.mean(dim=-1)
    return r2, mae
