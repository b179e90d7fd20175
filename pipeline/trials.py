"""The trials of one pruning round: several joint VAE + classifier models trained together,
on the kept channels and their shadows, and the scores they give every channel."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.pruning_config import PruningConfig
from pipeline.scoring import ablation_channel_scores, channel_r2
from pipeline.shadows import Shadows, make_shadows, n_shadows
from pipeline.split import SplitData
from vaec import VAEC
from vaec.tasks import score_names

# Offsets of the round seed: the shadows and the subset of scoring rows draw from streams of
# their own, so they do not depend on how the trials are grouped.
_SHADOW_SEED, _ROWS_SEED = 17, 29
# Rows behind importance and shared R²: all of them up to a budget of rows x columns (the cost
# of the scoring pass), never fewer than MIN_SCORING_ROWS.
SCORING_BUDGET = 1_000_000
MIN_SCORING_ROWS, MAX_SCORING_ROWS = 500, 4000


@dataclass
class TrialScores:
    """What the trials of one round measured on the validation rows.

    Attributes
    ----------
    trials : list of int
        Trial indices (replica ``r`` of round ``k`` is seeded ``seed + 1000 k + r``).
    channels : list of str
        The channels the trials were trained on, in column order (shadows not included).
    r2 : ndarray of shape (n_trials, n_channels)
        Reconstruction R² of every channel, sampling off.
    importance : ndarray of shape (n_trials, n_channels) or None
        Importance of every channel: the rise of the head's loss (nats per row) when it is held
        at its mean.
    importance_se : ndarray of shape (n_trials, n_channels) or None
        Its standard error over the scoring rows.
    shared_r2 : ndarray of shape (n_trials, n_channels) or None
        R² of every channel with its own input held at its mean: what the neck carries of it
        from the other channels.
    shadow_sources : list of str
        The source channel of every shadow (empty under the pure reconstruction rule).
    shadow_r2, shadow_shared_r2, shadow_importance : ndarray of shape (n_trials, n_shadows)
        The same scores of the shadows.
    val_score : ndarray of shape (n_trials,)
        The task's guard score on validation (F1; R² for regression; reconstruction R²
        without a target), sampling off, at each trial's best epoch.
    val_metrics : dict of str to ndarray of shape (n_trials,)
        Both of the task's validation scores (``accuracy`` and ``f1``; ``r2`` and ``mae``;
        ``reconstruction_r2`` and ``reconstruction_mae``).
    seconds : float
        Wall-clock seconds of the training and scoring.
    task : str
        The task the trials were trained for.
    """

    trials: list[int]
    channels: list[str]
    r2: np.ndarray
    val_score: np.ndarray
    val_metrics: dict[str, np.ndarray]
    seconds: float
    task: str = "classification"
    importance: np.ndarray | None = None
    importance_se: np.ndarray | None = None
    shared_r2: np.ndarray | None = None
    shadow_sources: list[str] = field(default_factory=list)
    shadow_r2: np.ndarray | None = None
    shadow_shared_r2: np.ndarray | None = None
    shadow_importance: np.ndarray | None = None

    @classmethod
    def combine(cls, parts: Sequence[TrialScores]) -> TrialScores:
        """Join the scores of trial groups trained separately (e.g. on several workers)."""
        parts = sorted(parts, key=lambda p: p.trials[0])
        first = parts[0]
        if any(p.channels != first.channels or p.shadow_sources != first.shadow_sources
               for p in parts):
            raise ValueError("trial groups were trained on different channels")

        def joined(name: str) -> np.ndarray | None:
            arrays = [getattr(p, name) for p in parts]
            return None if arrays[0] is None else np.concatenate(arrays)

        return cls(
            trials=[t for p in parts for t in p.trials],
            channels=list(first.channels),
            r2=joined("r2"),
            val_score=joined("val_score"),
            val_metrics={k: np.concatenate([p.val_metrics[k] for p in parts])
                         for k in first.val_metrics},
            seconds=max(p.seconds for p in parts),
            task=first.task,
            importance=joined("importance"),
            importance_se=joined("importance_se"),
            shared_r2=joined("shared_r2"),
            shadow_sources=list(first.shadow_sources),
            shadow_r2=joined("shadow_r2"),
            shadow_shared_r2=joined("shadow_shared_r2"),
            shadow_importance=joined("shadow_importance"),
        )


def guard_score(task: str) -> str:
    """The validation score the accuracy guard watches: F1, R², or the reconstruction's R²."""
    return {"classification": "f1", "regression": "r2"}.get(task, "reconstruction_r2")


def scoring_rows(
    X_train: np.ndarray,
    y_train: np.ndarray | None,
    X_val: np.ndarray,
    y_val: np.ndarray | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The rows behind importance and shared R²: training and validation rows together.

    Every row counts: on a small table the validation rows alone leave the test with little
    power, and weakly relevant channels would be lost to noise. Scoring rows the models trained
    on is fair here because the shadows are trained on them too: a model that memorised its
    training rows favours shadows as much as real channels, and each channel is judged against
    the shadows. Past a budget of :data:`SCORING_BUDGET` rows x columns (at least
    :data:`MIN_SCORING_ROWS`, at most :data:`MAX_SCORING_ROWS` rows) a seeded subset is taken:
    the scores are means over rows, and more rows only cost time.
    """
    X = np.vstack([X_train, X_val])
    y = None if y_train is None else np.concatenate([y_train, y_val])
    n_rows = int(np.clip(SCORING_BUDGET // X.shape[1], MIN_SCORING_ROWS, MAX_SCORING_ROWS))
    if len(X) > n_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(X), n_rows, replace=False))
        X, y = X[keep], (None if y is None else y[keep])
    return X, y


def round_shadows(data: SplitData, config: PruningConfig, round_index: int) -> Shadows | None:
    """The shadows of a round (the same for every trial group), or None for the pure
    reconstruction rule."""
    if config.criterion != "relevance":
        return None
    count = n_shadows(len(data.feature_names), config.min_shadows, config.max_shadows)
    seed = config.seed + 1000 * round_index + _SHADOW_SEED
    return make_shadows(data.X_train, data.X_val, count, seed)


def train_trials(
    split: SplitData,
    channels: Sequence[str],
    config: PruningConfig,
    round_index: int,
    trials: Sequence[int] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
) -> TrialScores:
    """Train the given trials of a round jointly (all parts) and score every channel.

    The trials share one vectorised pass. Trial ``t`` gets the seed ``round seed + t`` whichever
    group it is trained in, and the shadows and the scoring rows depend only on the
    round, so splitting trials over workers gives the same scores.
    """
    trials = list(range(config.n_trials)) if trials is None else list(trials)
    if not trials or trials != list(range(trials[0], trials[0] + len(trials))):
        raise ValueError(f"trials must be consecutive indices, got {trials}")
    start = time.perf_counter()
    data = split.columns(list(channels))
    shadows = round_shadows(data, config, round_index)
    X_train, X_val = data.X_train, data.X_val
    if shadows is not None:
        X_train = np.hstack([X_train, shadows.train])
        X_val = np.hstack([X_val, shadows.val])
    model_config = config.round_model_config(
        n_inputs=X_train.shape[1], n_classes=split.n_classes, round_index=round_index,
        n_rows=len(X_train), task=split.task,
    )
    model_config = model_config.replace(seed=model_config.seed + trials[0])
    model = VAEC(model_config, n_replicas=len(trials), classes=split.classes)
    y_train, y_val = split.head_target(data.y_train), split.head_target(data.y_val)
    # without a target there is nothing to predict: the rounds train the autoencoder
    strategy = "autoencoder" if split.task == "unsupervised" else "all_parts"
    result = model.fit(
        strategy, X_train, y_train, X_val, y_val, record_snapshots=False, on_epoch=on_epoch,
    )
    history = result.history
    best = [history.best_row(r) for r in range(len(trials))]
    r2 = channel_r2(model, X_val)
    n = len(channels)
    metrics = {name: np.array([row[f"val_{name}"] for row in best])
               for name in score_names(split.task)}
    scores = TrialScores(
        trials=trials,
        channels=list(channels),
        r2=r2[:, :n],
        val_score=metrics[guard_score(split.task)],
        val_metrics=metrics,
        seconds=0.0,
        task=split.task,
    )
    if shadows is not None:
        rows_seed = config.seed + 1000 * round_index + _ROWS_SEED
        X_score, y_score = scoring_rows(X_train, y_train, X_val, y_val, rows_seed)
        importance, importance_se, shared = ablation_channel_scores(model, X_score, y_score)
        scores.importance, scores.shadow_importance = importance[:, :n], importance[:, n:]
        scores.importance_se = importance_se[:, :n]
        scores.shared_r2, scores.shadow_shared_r2 = shared[:, :n], shared[:, n:]
        scores.shadow_sources = [channels[s] for s in shadows.sources]
        scores.shadow_r2 = r2[:, n:]
    scores.seconds = time.perf_counter() - start
    return scores
