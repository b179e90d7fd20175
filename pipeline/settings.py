"""The selection settings, declared once: a pydantic model.

:class:`SelectionSettings` is the one declaration of every selection setting - default,
description, bounds, the rules between settings. The model's own settings are the nested
:class:`vaec.config.ModelSettings` (``model``), with one set of defaults. The Prefect flow takes
the settings as its typed parameter (:class:`flows.parameters.RunParameters` adds where the data
comes from and where the report goes), the command line builds one option per field from
``model_fields`` (the model's fields flattened: ``--latent-dim``), and ``VAECSelector``'s
explicit ``__init__`` lists the same names with the same defaults (a test checks it). A value
out of range raises one :class:`vaec.config.ConfigError` whose message names the setting.
"""

from __future__ import annotations

import math
import numbers
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vaec.config import ConfigError, ModelSettings, validation_message

__all__ = ["AUTO", "TASK_CHOICES", "ConfigError", "SelectionSettings", "flat_fields"]

# n_features_to_select="auto": the minimal subset (scikit-learn's spelling)
AUTO = "auto"

TASK_CHOICES = ("auto", "classification", "regression", "unsupervised")
Task = Literal["auto", "classification", "regression", "unsupervised"]
# the settings that only a stability selection reads: their value means nothing without it
STABILITY_ONLY = ("resample", "keep_frequency")
# upper bounds of the size settings: past them a run would not fit in memory or never end
MAX_TRIALS, MAX_SHADOWS, MAX_RESAMPLES = 64, 10_000, 1_000


class SelectionSettings(BaseModel):
    """How channels are scored and dropped, round by round, and how the rows are split.

    Raises
    ------
    ConfigError
        When a value is out of range or two settings disagree; one line naming the setting.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    criterion: Literal["relevance", "reconstruction"] = Field(
        "relevance", description="what decides a channel's fate: relevance (its importance to "
        "the head alone, with its cluster of correlated partners, or as a stand-in for relevant "
        "channels, each tested against shadow channels) or reconstruction (the method's "
        "original rule: kept when its R² reaches the threshold)")
    task: Task = Field(
        "auto", description="what the head learns: auto (from the target), classification, "
        "regression, or unsupervised (no target: reconstruction only)")
    n_trials: int = Field(3, ge=1, le=MAX_TRIALS,
                          description="models trained per round to score the channels")
    threshold: float = Field(
        0.6, ge=-1.0, le=1.0, description="validation reconstruction R² a channel needs to stay "
        "under criterion=reconstruction")
    fdr: float = Field(
        0.05, gt=0.0, lt=1.0, description="false-discovery rate of a round's shadow test "
        "(Benjamini-Hochberg over the channels and clusters)")
    cluster_threshold: float | None = Field(
        0.5, gt=0.0, le=1.0, description="smallest absolute correlation of channels measured "
        "together as a cluster, and the multiple correlation a stand-in needs with the relevant "
        "channels (none: every channel alone)")
    max_shadows: int = Field(
        100, ge=2, le=MAX_SHADOWS,
        description="most shadow channels per round (a seeded subset of the kept channels when more)")
    min_shadows: int = Field(
        10, ge=2, le=MAX_SHADOWS,
        description="fewest shadow channels per round (small tables get several per channel)")
    max_drop_fraction: float = Field(
        0.2, gt=0.0, le=1.0,
        description="largest fraction of the kept channels dropped in one round (at least one)")
    min_features: int = Field(2, ge=1, description="never keep fewer channels than this")
    n_features_to_select: Annotated[int, Field(ge=1)] | Literal["auto"] | None = Field(
        None, description="keep dropping the worst channels until exactly N are left; 'auto': "
        "once every channel passes, eliminate on to min_features and keep the smallest count "
        "whose out-of-fold loss is within one standard error of the best (none: stop when "
        "every kept channel passes)")
    step: float = Field(
        0.35, gt=0.0, le=1.0, description="with n_features_to_select (a count or 'auto'): "
        "largest fraction of the channels dropped in one round (RFE's step)")
    second_look: bool = Field(
        False, description="once every channel passes (criterion relevance, with a target, no "
        "n_features_to_select), look again at the dropped channels, a chunk as large as the kept "
        "set at a time beside the kept channels (which stay), a chunk's failing channels going at "
        "once, each chunk tested at fdr times its share of the channels looked at: a channel "
        "with no linear effect can be lost among many noise columns and found among few")
    guard_level: float | None = Field(
        0.01, gt=0.0, lt=1.0, description="accuracy guard: stop, keeping the previous round's "
        "channels, when a round's validation rows predict worse than round 1's (every channel) in a "
        "paired test at this level (none: no guard)")
    cross_fit_rows: int | None = Field(
        2000, ge=0, description="on tables of at most this many training and validation rows, a "
        "round's trials train on folds of all of them (trial k without fold k) and every row is "
        "scored out of fold (none: always the split)")
    final_strategy: Literal["all_parts", "var_mlp_classifier"] = Field(
        "all_parts", description="how the final model on the kept channels is trained")
    val_size: float = Field(
        0.2, gt=0.0, lt=1.0,
        description="validation fraction of the rows (scores, best epochs, the guard)")
    test_size: float = Field(
        0.2, ge=0.0, lt=1.0, description="test fraction of the rows, touched only by the final model")
    threads: int | None = Field(
        None, ge=1, description="torch threads of the process, shared among the trial groups "
        "that train at once (none: one per training, whatever the machine's load)")
    seed: int = Field(0, ge=0, description="seed of the split and of every model")
    n_resamples: int = Field(
        1, ge=1, le=MAX_RESAMPLES, description="stability selection: run the whole selection "
        "on B resamples of the rows and select the channels kept in at least keep_frequency of "
        "them (1: no resampling)")
    resample: Literal["subsample", "bootstrap"] = Field(
        "subsample", description="how a resample draws its rows: subsample (half of every "
        "class, without replacement) or bootstrap (training rows drawn again with replacement)")
    keep_frequency: float = Field(
        0.6, gt=0.5, le=1.0, description="share of the resamples that must keep a channel for "
        "it to be selected (above 0.5; higher is stricter)")
    max_levels: int = Field(
        10, ge=2, le=1000, description="most levels of a categorical column encoded one-hot "
        "(rare levels pooled into 'other', a gap a level of its own); of a column with more, the "
        "max_levels - 1 most frequent levels that hold 5 per cent of the rows one-hot and the rest "
        "'other' (fewer than two such levels: the share of the rows with the row's level)")
    categorical: tuple[str, ...] = Field(
        (), description="columns treated as categories whatever their type (integer codes), "
        "comma-separated on the command line")
    keep_columns: tuple[str, ...] = Field(
        (), description="columns that look like identifiers (every value different, or free "
        "text) but are kept as features")
    groups: tuple[tuple[str, ...], ...] = Field(
        (), description="columns scored, kept and dropped as one unit, besides the channels "
        "of one column (on the command line: a,b;c,d)")
    class_weight: Literal["auto", "balanced"] | dict[str, float] | None = Field(
        "auto", description="what the rows of each class count for, multiplying any sample "
        "weights: auto (balanced when the largest class has 3 times the rows of the smallest, "
        "else none), 'balanced' (n_rows / (n_classes * rows of the class), as scikit-learn's), "
        "weights by class label (on the command line: 0:1,1:5; classes left out weigh 1), or "
        "none (every class alike)")
    model: ModelSettings = Field(
        default_factory=ModelSettings, description="the round and final models' settings")
    final_model: ModelSettings | None = Field(
        None, description="the final model's own settings (none: model's)")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(validation_message(err)) from None

    @field_validator("*", mode="before")
    @classmethod
    def _plain_numbers(cls, value: Any) -> Any:
        # numpy scalars count as plain numbers (a bool stays a bool, never a number)
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        return value

    @field_validator("categorical", "keep_columns", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else value

    @field_validator("groups", mode="before")
    @classmethod
    def _column_groups(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return tuple(tuple(str(c) for c in g) if isinstance(g, (list, tuple)) else g
                         for g in value)
        return value

    @field_validator("class_weight", mode="before")
    @classmethod
    def _class_weights(cls, value: Any) -> Any:
        # the classes by their labels as text (labels may be numbers; JSON keys are text)
        if not isinstance(value, dict):
            return value
        weights = {}
        for label, weight in value.items():
            if (isinstance(weight, bool) or not isinstance(weight, numbers.Real)
                    or not math.isfinite(weight) or weight < 0):
                raise ValueError(f"class_weight must map classes to finite weights >= 0, got "
                                 f"{weight!r} for class {label!r}")
            weights[str(label)] = float(weight)
        return weights

    @field_validator("n_features_to_select", mode="before")
    @classmethod
    def _count_or_auto(cls, value: Any) -> Any:
        if value is None or value == AUTO:
            return value
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1:
            return int(value)
        raise ValueError(f"n_features_to_select must be a count >= 1, 'auto' or none, got "
                         f"{value!r}")

    @model_validator(mode="after")
    def _settings_agree(self) -> SelectionSettings:
        k = self.n_features_to_select
        if k == AUTO and self.n_resamples > 1:
            raise ValueError("n_features_to_select='auto' is for a plain selection; a stability "
                             "selection (n_resamples >= 2) takes a count or none")
        if isinstance(k, int) and k < self.min_features:
            raise ValueError(f"n_features_to_select must be >= min_features ({self.min_features}), "
                             f"got {k}")
        if self.min_shadows > self.max_shadows:
            raise ValueError(f"min_shadows must be <= max_shadows, got {self.min_shadows} > "
                             f"{self.max_shadows}")
        if self.val_size + self.test_size >= 1:
            raise ValueError(f"val_size + test_size must be < 1, got {self.val_size} + "
                             f"{self.test_size}")
        short = [g for g in self.groups if len(g) < 2]
        if short:
            raise ValueError(f"groups must each name at least 2 columns, got {list(short[0])}")
        if self.n_resamples == 1:
            # the cut and the draw mean nothing without resamples: a value given is a mistake
            for name in STABILITY_ONLY:
                default = type(self).model_fields[name].default
                if getattr(self, name) != default:
                    raise ValueError(f"{name} must stay at its default ({default!r}) unless "
                                     f"n_resamples >= 2: it applies only to stability "
                                     f"selection; got {getattr(self, name)!r}")
        return self

    @classmethod
    def from_flat(cls, **values: Any) -> SelectionSettings:
        """The settings from flat names, the model's among them (as the command line and the
        selector spell them): ``SelectionSettings.from_flat(fdr=0.1, latent_dim=2)``."""
        model = {k: values.pop(k) for k in list(values) if k in ModelSettings.model_fields}
        return cls(**values, model=ModelSettings(**model))

    def replace(self, **changes: Any) -> SelectionSettings:
        """A validated copy with some settings changed."""
        return type(self)(**{**dict(self), **changes})

    @property
    def budget(self) -> int | None:
        """The count ``n_features_to_select`` fixes (None: none, or ``"auto"``'s minimal subset)."""
        return self.n_features_to_select if isinstance(self.n_features_to_select, int) else None

    @property
    def final(self) -> ModelSettings:
        """The final model's settings."""
        return self.final_model or self.model


def flat_fields() -> dict[str, Any]:
    """Every setting a person sets by name - the selection's and the model's, side by side - with
    its pydantic field (the command line's options and the selector's parameters)."""
    fields = {n: f for n, f in SelectionSettings.model_fields.items()
              if n not in ("model", "final_model")}
    return fields | dict(ModelSettings.model_fields)
