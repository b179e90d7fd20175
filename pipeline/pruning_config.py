"""The selection settings: the model trained each round, the score threshold, the stops.

:class:`PruningConfig` is the one declaration of every selection setting (default, help,
check). The command line's options, the Prefect flow's parameters and ``VAECSelector``'s
parameters are derived from its fields (:func:`pipeline.settings.setting_specs`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from pipeline.settings import (
    CLI,
    FLOW,
    SELECTOR,
    check_settings,
    parameters_doc,
    setting,
    setting_specs,
)
from vaec.config import ConfigError, VAECConfig, unknown_fields

# How round models train: they need final weights and scores, not learning curves.
ROUND_EVAL_EVERY = 10
ROUND_PATIENCE = 60
# Tables with more training rows than this train on mini-batches: a full-batch step per epoch
# would need hundreds of epochs over a tall table, a mini-batch epoch converges in tens. The
# batch grows with the table so that an epoch is about TALL_STEPS steps (each step's cost is
# mostly fixed overhead until the batch is large), between TALL_BATCH and MAX_BATCH rows.
TALL_ROWS = 2048
TALL_BATCH, MAX_BATCH, TALL_STEPS = 256, 8192, 48
TALL_LEARNING_RATE = 2e-3
TALL_EVAL_EVERY, TALL_PATIENCE = 2, 10
# A round on a tall table trains for at most this many optimizer steps (and at least
# TALL_MIN_EPOCHS epochs): each epoch sees many rows, and a round needs scores, not the last
# digit of the loss.
ROUND_STEPS, TALL_MIN_EPOCHS = 1500, 5
# The final model on a tall table records its training metrics on this many of the training
# rows (a fixed seeded subset): evaluating all of them every epoch cost about as much as
# training (200k x 50: 51 s of the final model's time).
TALL_METRIC_ROWS = 16_384


def tall_batch_size(n_rows: int) -> int:
    """Mini-batch rows for a table of ``n_rows`` training rows: a power of two near
    ``n_rows / TALL_STEPS``, within ``[TALL_BATCH, MAX_BATCH]``."""
    target = max(n_rows / TALL_STEPS, 1.0)
    return int(min(MAX_BATCH, max(TALL_BATCH, 2 ** round(math.log2(target)))))
# set by their own settings or by the data, never through model_options
OWN_SETTINGS = ("latent_dim", "epochs", "seed", "device", "task", "n_inputs", "n_classes")

TASK_CHOICES = ("auto", "classification", "regression", "unsupervised")
FINAL_STRATEGIES = ("all_parts", "var_mlp_classifier")
CRITERIA = ("relevance", "reconstruction")
SUBSAMPLE, BOOTSTRAP = "subsample", "bootstrap"
RESAMPLES = (SUBSAMPLE, BOOTSTRAP)
NOT_ON_SELECTOR = frozenset({CLI, FLOW})
PYTHON_ONLY = frozenset({FLOW, SELECTOR})
STABILITY_GROUP = "stability selection"


@dataclass
class PruningConfig:
    """How channels are scored and dropped, round by round, and how the data is split.

    Every field is a declared setting (see :mod:`pipeline.settings`); construction checks them
    all and raises :class:`vaec.ConfigError` naming the first one out of range. The Parameters
    section below is generated from the declarations.
    """

    criterion: str = setting(
        "relevance", "what decides a channel's fate: relevance (kept when reconstructable from "
        "the other channels or relevant to the head, each tested against shadow channels) or "
        "reconstruction (the method's original rule: kept when its R² reaches the threshold)",
        choices=CRITERIA,
        doc="What decides a channel's fate. ``relevance``: every round also trains on shadow "
        "channels (permuted copies); a channel stays when its shared R² (what the neck "
        "carries of it from the other channels) or its importance to the classifier head "
        "beats the shadows' in a one-sided test at false-discovery rate ``fdr``, goes at once "
        "when it is confidently neither, and otherwise waits under the drop cap. "
        "``reconstruction``: the method's original rule, R² against ``threshold`` alone (it "
        "measures redundancy, not relevance: it drops strong independent channels and keeps "
        "near-constant ones).")
    task: str = setting(
        "auto", "what the head learns: auto (from the target), classification, regression, or "
        "unsupervised (no target: reconstruction only)", choices=TASK_CHOICES,
        doc="What the classifier head learns. ``auto``: no target means ``unsupervised``; a "
        "numeric target with fractional values or more than 20 distinct values means "
        "``regression`` (the head predicts the standardised value, squared error; scores R² and "
        "MAE; the guard watches validation R²; the split stratifies on quantile bins of the "
        "target); anything else ``classification``. ``unsupervised``: the rounds train the "
        "autoencoder alone and a channel stays when its shared R² beats the shadows'.")
    n_trials: int = setting(
        3, "models trained per round to score the channels", low=1, metavar="N",
        doc="Independent models (seeds ``seed + 1000 * round + trial``) trained per round, in "
        "one vectorised pass.")
    threshold: float = setting(
        0.6, "validation reconstruction R² a channel needs to stay under --criterion "
        "reconstruction", low=-1, high=1, metavar="R2",
        doc="Under ``criterion='reconstruction'``: a channel passes when its validation "
        "reconstruction R² (``1 - MSE_c / Var_c``, sampling off, mean over trials) is at least "
        "this. (The relevance rule asks the shadows instead of a fixed bar.)")
    fdr: float = setting(
        0.05, "false-discovery rate of a round's shadow test (Benjamini-Hochberg over the "
        "channels): the expected share of noise among the channels that pass",
        low=0, high=1, low_open=True, high_open=True, metavar="Q")
    cluster_threshold: float | None = setting(
        0.5, "smallest absolute correlation of channels whose importance is also measured "
        "together, as a cluster (none: every channel alone)", low=0, high=1, low_open=True,
        metavar="R",
        doc="Channels whose absolute correlations on the training rows are all at least this "
        "form a cluster (complete linkage, at most 8 channels). Every channel's importance is "
        "measured alone and, for a cluster, with its partners held at their means together, "
        "tested against shadow clusters (real clusters with their rows permuted together). A "
        "redundant copy of a relevant channel passes with its cluster; correlated channels that "
        "say nothing of the target do not. ``None``: every channel alone.")
    max_shadows: int = setting(
        100, "most shadow channels per round (a seeded subset of the kept channels when more)",
        low=1, metavar="N")
    min_shadows: int = setting(
        10, "fewest shadow channels per round (small tables get several shadows per channel)",
        low=1, metavar="N")
    max_drop_fraction: float = setting(
        0.2, "largest fraction of the kept channels dropped in one round (at least one)",
        low=0, high=1, low_open=True, metavar="F")
    min_features: int = setting(2, "never keep fewer channels than this", low=1, metavar="N")
    n_features_to_select: int | None = setting(
        None, "keep dropping the worst channels until exactly N are left (none: stop when every "
        "kept channel passes the threshold)", low=1, metavar="N",
        doc="RFE-style: drop the worst-scored channels (passing or not) until exactly this "
        "many are kept. ``None``: stop when every kept channel passes.")
    step: float = setting(
        0.35, "with --n-features-to-select: largest fraction of the channels dropped in one "
        "round (RFE's step)", low=0, high=1, low_open=True, metavar="F",
        doc="With ``n_features_to_select``: the largest fraction of the kept channels (after the "
        "rejected ones) dropped in one round, least important first, as RFE's ``step``. "
        "Larger is faster; smaller lets the importance of the channels left settle between "
        "cuts (on MNIST-5000 with k=50: 0.2 took 55 s, 0.35 took 25 s, ExtraTrees accuracy "
        "0.931 and 0.919).")
    guard_level: float | None = setting(
        0.01, "accuracy guard: stop, keeping the previous round's channels, when a round's "
        "validation rows predict worse than the best round's in a paired test at this level "
        "(none: no guard)", low=0, high=1, low_open=True, high_open=True, metavar="ALPHA",
        doc="Accuracy guard: every round records the head's loss on each validation row; when "
        "a round's losses are larger than the best earlier round's in a paired one-sided t "
        "test at this level, and by at least five rows' worth in all (see "
        ":mod:`pipeline.rounds.fate`), the loop stops and the previous round's doubtful drops come "
        "back. ``None`` switches it off. A difference of a few rows never fires it, however "
        "small the validation split.")
    latent_dim: int = setting(4, "width of the models' latent neck", low=1, metavar="N")
    epochs: int = setting(300, "training epochs of every model", low=1, metavar="N")
    model_options: dict[str, Any] = setting(
        {}, "further VAECConfig settings of the round and final models", surfaces=PYTHON_ONLY,
        doc="Further :class:`vaec.VAECConfig` settings of the round and final models (e.g. "
        "``{'kl_weight': 0.01, 'encoder_widths': (32, 16)}``) over the defaults of "
        ":class:`vaec.config.ModelSettings`; not ``latent_dim``, ``epochs`` or ``seed`` "
        "(settings of their own).")
    final_strategy: str = setting(
        "all_parts", "how the final model on the kept channels is trained",
        choices=FINAL_STRATEGIES,
        doc="Strategy of the final model on the kept channels: ``all_parts`` (reconstruction "
        "keeps shaping the neck, so the latent space types the data beyond the labels) or "
        "``var_mlp_classifier``.")
    final_model_options: dict[str, Any] = setting(
        {}, "VAECConfig settings of the final model only (over model_options)",
        surfaces=frozenset())
    val_size: float = setting(
        0.2, "validation fraction of the rows (scores, best epochs, the guard)",
        low=0, high=1, low_open=True, high_open=True, metavar="F")
    test_size: float = setting(
        0.2, "test fraction of the rows, touched only by the final model",
        low=0, high=1, high_open=True, metavar="F", surfaces=NOT_ON_SELECTOR)
    threads: int | None = setting(
        None, "torch threads of the process (none: its idle cores, shared among the trial "
        "groups that train at once)", low=1, metavar="N", selector_name="n_jobs",
        doc="Torch threads of the process. ``None``: the cores it may use that the load "
        "average says are idle, divided among the trial groups that train at once. The round "
        "models are small: threads on cores busy with other work slow them down many times.")
    device: str = setting(
        "cpu", "where the models train: cpu, or cuda / cuda:N when a GPU is present",
        metavar="DEVICE",
        doc="Where the models train and score: ``cpu``, or ``cuda`` / ``cuda:N`` when a GPU "
        "is present (checked before any training).")
    seed: int = setting(
        0, "seed of the split and of every model", low=0, selector_name="random_state",
        doc="Seed of the split and of every model: the same data, settings and seed give the "
        "same selection.")
    n_resamples: int = setting(
        1, "stability selection: run the whole selection on B resamples of the rows and select "
        "the channels kept in at least --keep-frequency of them (1: no resampling)",
        low=1, metavar="B", group=STABILITY_GROUP,
        doc="Stability selection (Meinshausen & Bühlmann): run the whole selection, without a "
        "final model, on this many seeded resamples of the rows (see ``resample``; each its "
        "own seed, derived from ``seed`` and its index), and select the channels kept in at "
        "least ``keep_frequency`` of them; the final model then trains on all the rows with "
        "that selection. The run reports every channel's keep frequency, the Nogueira "
        "stability index with its 95 % interval, pairwise Jaccard and the bound on the "
        "expected number of noise channels selected. In the flow every resample is a task "
        "of the task runner. 1: the plain selection.")
    resample: str = setting(
        SUBSAMPLE, "how a resample draws its rows: subsample (half of every class, without "
        "replacement) or bootstrap (training rows drawn again with replacement)",
        choices=RESAMPLES, group=STABILITY_GROUP,
        doc="How a resample draws its rows, stratified by the target. ``subsample``: half of "
        "every class without replacement (the subsamples the error bound is proven for), "
        "split into training and validation rows. ``bootstrap``: a split of all the rows "
        "whose training rows are drawn again with replacement; the validation rows are never "
        "trained on. With a test split, resamples draw from the training and validation rows "
        "only: the test rows stay unseen by the selection.")
    keep_frequency: float = setting(
        0.6, "share of the resamples that must keep a channel for it to be selected (above "
        "0.5; higher is stricter)", low=0.5, high=1, low_open=True, metavar="PI",
        group=STABILITY_GROUP,
        doc="The cut of stability selection, Meinshausen & Bühlmann's threshold π: a channel "
        "is selected when at least this share of the resamples kept it. Their bound on the "
        "expected number of noise channels selected, ``q² / ((2π - 1) p)`` (``q`` channels "
        "kept per resample on average, ``p`` channels), needs it above 0.5; higher is "
        "stricter. With ``n_features_to_select`` at most that many of the channels over the "
        "cut are kept (the most frequent); ``min_features`` remains a floor.")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`vaec.ConfigError` naming the first setting out of range."""
        check_settings(self)
        k = self.n_features_to_select
        if k is not None and k < self.min_features:
            raise ConfigError(
                f"n_features_to_select must be >= min_features ({self.min_features}), got {k}"
            )
        if self.min_shadows > self.max_shadows:
            raise ConfigError(
                f"min_shadows must be <= max_shadows, got {self.min_shadows} > {self.max_shadows}"
            )
        if self.n_resamples == 1:
            # the cut and the draw mean nothing without resamples: a value given for them
            # is a mistake worth saying
            for name in ("resample", "keep_frequency"):
                value = getattr(self, name)
                if value != _DEFAULTS[name]:
                    raise ConfigError(
                        f"{name} must stay at its default ({_DEFAULTS[name]!r}) unless "
                        f"n_resamples >= 2: it applies only to stability selection; got {value!r}"
                    )
        if self.val_size + self.test_size >= 1:
            raise ConfigError(
                f"val_size + test_size must be < 1, got {self.val_size} + {self.test_size}"
            )
        for name in ("model_options", "final_model_options"):
            unknown = unknown_fields(VAECConfig, getattr(self, name))
            if unknown:
                raise ConfigError(f"{name} has unknown model settings: {', '.join(unknown)}")
            own = [k for k in OWN_SETTINGS if k in getattr(self, name)]
            if own:
                raise ConfigError(
                    f"{name} must not set {', '.join(own)}: "
                    + ("the data sets it" if set(own) <= {"n_inputs", "n_classes"}
                       else "each is a setting of its own")
                )
        # build both model configs now so a bad model option fails before any training
        self.round_model_config(n_inputs=2, n_classes=2, round_index=1)
        self.final_model_config(n_inputs=2, n_classes=2)

    def _model_options(self) -> dict[str, Any]:
        return {**self.model_options,
                "latent_dim": self.latent_dim, "epochs": self.epochs, "device": self.device}

    def round_model_config(
        self,
        n_inputs: int,
        n_classes: int,
        round_index: int,
        n_rows: int = 0,
        task: str = "classification",
    ) -> VAECConfig:
        """The model config of one pruning round (replica ``r`` is seeded ``seed + r``).

        Round models need their final weights and scores, not learning curves: they keep their
        last weights (a channel is scored on the converged model, not at the early epoch where
        validation F1 happens to peak), record the validation split every
        :data:`ROUND_EVAL_EVERY` epochs only, and stop once the validation loss has not improved
        for :data:`ROUND_PATIENCE` epochs. Past :data:`TALL_ROWS` training rows they train on
        seeded shuffled mini-batches (:func:`tall_batch_size`), look every
        :data:`TALL_EVAL_EVERY` epochs and give up after :data:`TALL_PATIENCE`.
        """
        options = {"restore_best": False, "train_metrics": False,
                   "eval_every": ROUND_EVAL_EVERY, "early_stopping_on": "loss",
                   "early_stopping_patience": ROUND_PATIENCE,
                   **self._model_options(), **self._tall_options(n_rows, rounds=True),
                   **self.model_options, "seed": self.seed + 1000 * round_index}
        return VAECConfig(n_inputs=n_inputs, n_classes=n_classes, task=task, **options)

    def _tall_options(self, n_rows: int, rounds: bool = False) -> dict[str, Any]:
        if n_rows <= TALL_ROWS:
            return {}
        batch = tall_batch_size(n_rows)
        options: dict[str, Any] = {"batch_size": batch, "learning_rate": TALL_LEARNING_RATE}
        if rounds:  # a mini-batch epoch is many steps: look and give up sooner
            steps_per_epoch = math.ceil(n_rows / batch)
            epochs = max(TALL_MIN_EPOCHS, math.ceil(ROUND_STEPS / steps_per_epoch))
            options |= {"eval_every": TALL_EVAL_EVERY, "early_stopping_patience": TALL_PATIENCE,
                        "epochs": min(self.epochs, epochs)}
        else:
            options["train_metrics_rows"] = TALL_METRIC_ROWS
        return options

    def final_model_config(
        self, n_inputs: int, n_classes: int, n_rows: int = 0, task: str = "classification"
    ) -> VAECConfig:
        """The config of the final model on the kept channels (mini-batches past
        :data:`TALL_ROWS` training rows, as the rounds)."""
        options = {**self._model_options(), **self._tall_options(n_rows), **self.model_options,
                   "seed": self.seed, **self.final_model_options}
        return VAECConfig(n_inputs=n_inputs, n_classes=n_classes, task=task, **options)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PruningConfig:
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        unknown = unknown_fields(cls, data)
        if unknown:
            raise ConfigError(f"unknown pruning config keys: {', '.join(unknown)}")
        return cls(**data)


PruningConfig.__doc__ = (PruningConfig.__doc__ or "") + parameters_doc(setting_specs(PruningConfig))
_DEFAULTS = {spec.name: spec.default for spec in setting_specs(PruningConfig)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
