"""Settings of a pruning run: the model trained each round, the score threshold, the stops."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vaec import VAECConfig
from vaec.config import ConfigError, unknown_fields

# Model settings used in the pruning rounds unless the caller overrides them. They were tuned on
# breast_cancer and the synthetic madelon set (see benchmarks/selection_quality.py): a neck wide
# enough for several independent informative directions, and a KL weight that makes the neck
# pay for every direction it encodes, so a lone noise channel is not worth a latent dimension.
DEFAULT_MODEL_OPTIONS: dict[str, Any] = {
    "latent_dim": 4,
    "encoder_widths": (32, 16),
    "head_widths": (16,),
    "kl_weight": 0.01,
    "learning_rate": 5e-3,
    "epochs": 300,
}

FINAL_STRATEGIES = ("all_parts", "var_mlp_classifier")


@dataclass
class PruningConfig:
    """How channels are scored and dropped, round by round.

    Parameters
    ----------
    n_trials : int, default=3
        Independent models (seeds) trained per round, in one vectorised pass.
    threshold : float, default=0.6
        A channel passes when its validation reconstruction R^2 (``1 - MSE_c / Var_c``,
        sampling off, mean over trials) is at least this.
    max_drop_fraction : float, default=0.2
        At most this fraction of the kept channels is dropped per round (at least one).
    min_features : int, default=2
        Never keep fewer channels than this.
    n_features_to_select : int or None, default=None
        RFE-style: drop the worst-scored channels (passing or not) until exactly this many are
        kept.
    accuracy_tolerance : float or None, default=0.05
        Accuracy guard: when a round's validation F1 falls more than this below the best round
        so far, stop and keep the previous round's channels. ``None`` switches the guard off.
        The default is about two binomial standard errors of an accuracy near 0.97 measured on
        100 validation rows: a smaller tolerance stops on validation noise.
    model_options : dict
        :class:`vaec.VAECConfig` fields for the round models (merged over
        :data:`DEFAULT_MODEL_OPTIONS`; ``n_inputs``, ``n_classes`` and ``seed`` are set per round).
    final_strategy : str, default="all_parts"
        Strategy of the final model on the kept channels: ``all_parts`` (reconstruction keeps
        shaping the neck, so the latent space types the data beyond the labels) or
        ``var_mlp_classifier``.
    final_model_options : dict
        Overrides for the final model (merged over ``model_options``).
    val_size, test_size : float, default=0.2
        Fractions of the whole data set for validation (scores, best epochs, guard) and test
        (only the final model is measured on it).
    seed : int, default=0
        Seed of the split and of every model.
    """

    n_trials: int = 3
    threshold: float = 0.6
    max_drop_fraction: float = 0.2
    min_features: int = 2
    n_features_to_select: int | None = None
    accuracy_tolerance: float | None = 0.05
    model_options: dict[str, Any] = field(default_factory=dict)
    final_strategy: str = "all_parts"
    final_model_options: dict[str, Any] = field(default_factory=dict)
    val_size: float = 0.2
    test_size: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`vaec.ConfigError` naming the first parameter out of range."""
        n_trials = self.n_trials
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise ConfigError(f"n_trials must be a positive integer, got {self.n_trials!r}")
        if not -1.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must be in [-1, 1] (an R^2), got {self.threshold!r}")
        if not 0.0 < self.max_drop_fraction <= 1.0:
            raise ConfigError(
                f"max_drop_fraction must be in (0, 1], got {self.max_drop_fraction!r}"
            )
        if not isinstance(self.min_features, int) or self.min_features < 1:
            raise ConfigError(f"min_features must be a positive integer, got {self.min_features!r}")
        if self.n_features_to_select is not None and (
            not isinstance(self.n_features_to_select, int) or self.n_features_to_select < 1
        ):
            raise ConfigError(
                f"n_features_to_select must be a positive integer or None, "
                f"got {self.n_features_to_select!r}"
            )
        if self.accuracy_tolerance is not None and self.accuracy_tolerance < 0:
            raise ConfigError(
                f"accuracy_tolerance must be >= 0 or None, got {self.accuracy_tolerance!r}"
            )
        if self.final_strategy not in FINAL_STRATEGIES:
            raise ConfigError(
                f"final_strategy must be one of {', '.join(FINAL_STRATEGIES)}; "
                f"got {self.final_strategy!r}"
            )
        for name in ("val_size", "test_size"):
            value = getattr(self, name)
            low_ok = value > 0 if name == "val_size" else value >= 0
            if not (low_ok and value < 1):
                interval = "(0, 1)" if name == "val_size" else "[0, 1)"
                raise ConfigError(f"{name} must be in {interval}, got {value!r}")
        if self.val_size + self.test_size >= 1:
            raise ConfigError(
                f"val_size + test_size must be < 1, got {self.val_size} + {self.test_size}"
            )
        for name in ("model_options", "final_model_options"):
            reserved = {"n_inputs", "n_classes"} & set(getattr(self, name))
            if reserved:
                names = ", ".join(sorted(reserved))
                raise ConfigError(f"{name} must not set {names}: the data sets it")
        # build one config now so a bad model option fails before any training
        self.round_model_config(n_inputs=2, n_classes=2, round_index=1)
        self.final_model_config(n_inputs=2, n_classes=2)

    def round_model_config(self, n_inputs: int, n_classes: int, round_index: int) -> VAECConfig:
        """The model config of one pruning round (replica ``r`` is seeded ``seed + r``)."""
        # Round models keep their last weights: a channel is scored on the converged
        # reconstruction, not at the early epoch where validation F1 happens to peak.
        options = {**DEFAULT_MODEL_OPTIONS, "restore_best": False, **self.model_options}
        options["seed"] = self.seed + 1000 * round_index
        return _model_config(options, n_inputs, n_classes, "model_options")

    def final_model_config(self, n_inputs: int, n_classes: int) -> VAECConfig:
        """The config of the final model on the kept channels."""
        options = {
            **DEFAULT_MODEL_OPTIONS, **self.model_options, "seed": self.seed,
            **self.final_model_options,
        }
        return _model_config(options, n_inputs, n_classes, "final_model_options")

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


def _model_config(options: dict[str, Any], n_inputs: int, n_classes: int, label: str) -> VAECConfig:
    unknown = unknown_fields(VAECConfig, options)
    if unknown:
        raise ConfigError(f"{label} has unknown model settings: {', '.join(unknown)}")
    return VAECConfig(n_inputs=n_inputs, n_classes=n_classes, **options)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
