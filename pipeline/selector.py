"""``VAECSelector``: the selection as a scikit-learn feature selector."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from pipeline.data.dataset import Dataset, dataset_from_arrays, dataset_from_frame, resolve_task
from pipeline.data.tables import check_sample_weight, require_columns
from pipeline.final_model import fit_final_model, predictions_frame
from pipeline.machine import LineProgress, threads_for, torch_threads
from pipeline.selection import run_selection
from pipeline.settings import SelectionSettings, flat_fields

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# the selector's names for two settings (scikit-learn's own spellings)
RENAMED = {"seed": "random_state", "threads": "n_jobs"}
# settings the selector leaves out: it measures nothing itself (the caller measures the
# selection downstream), and the final model's own settings are the flow's and Python's
NOT_ON_SELECTOR = ("test_size",)


class VAECSelector(SelectorMixin, BaseEstimator):
    """Keep the input channels that matter to a joint VAE + classifier, round by round.

    Each round trains ``n_trials`` joint VAE + classifier models (in one vectorised pass) on the kept
    channels plus *shadow* channels (permuted copies, which carry nothing) and tests every channel
    against the shadows: its importance to the head alone, its cluster's (correlated channels held at
    their means together) and, for a channel in no cluster, whether the relevant channels reconstruct
    it (a stand-in). A channel passing a test is kept (``relevant`` or ``redundant``); one at or under
    the shadows everywhere is rejected at once; the rest go at most ``max_drop_fraction`` a round,
    worst first, until every channel passes (or at ``n_features_to_select``, ``min_features`` or the
    accuracy guard); a final encoder + head is then trained on the kept channels.
    ``n_features_to_select="auto"`` eliminates on to the minimal subset: the fewest channels whose
    out-of-fold loss is within one standard error of the best (``cv_results_`` holds the curve).
    ``criterion="reconstruction"`` is the method's original rule: keep the channels reconstructed with
    R² of at least ``threshold``. With ``n_resamples`` of 2 or more it is a stability selection
    (Meinshausen & Bühlmann): the whole selection runs on that many seeded resamples of the rows and
    the channels kept in at least ``keep_frequency`` of them are selected (``stability_``).

    Parameters
    ----------
    PARAMETERS

    Attributes
    ----------
    support_, ranking_ : ndarray of shape (n_features_in_,)
        Mask of the selected features; 1 for selected features, larger for those dropped earlier
        (kept less often), constant last.
    n_features_, n_features_in_ : int
        Number of selected features, and of features seen in ``fit``.
    task_, stop_reason_ : str
        The task the selection ran for: ``classification``, ``regression`` or ``unsupervised``;
        why the loop stopped: ``all_pass``, ``min_features``, ``n_features_to_select``, ``auto``
        (the minimal subset) or ``accuracy_guard``; ``stability`` in a stability selection.
    feature_names_in_ : ndarray of str
        Feature names seen in ``fit`` (only when ``X`` has string column names).
    rounds_ : list of pipeline.rounds.record.PruningRound
        Every pruning round (channels, scores, drops, seconds); empty in a stability selection.
    rounds_frame_, channels_frame_ : pandas.DataFrame
        One row per channel per round, and every input column's fate
        (:meth:`pipeline.result.PruningResult.rounds_frame`, ``column_fates``).
    encoder_, identifier_columns_ : pipeline.data.encoding.TableEncoder or None, list of str
        How a DataFrame's columns became the channels (fitted on the training rows), and the
        columns set aside as identifiers (ranked last; ``keep_columns`` keeps them).
    cv_results_ : pandas.DataFrame
        The score by count, as RFECV's (:meth:`pipeline.result.PruningResult.count_frame`).
    stability_ : pipeline.stability.result.StabilityResult or None
        A stability selection's resamples, keep frequencies and stability measures.
    result_ : pipeline.result.PruningResult
        The whole run, without the data's rows; its ``final`` is ``None`` without ``fit_final_model``.
    final_model_ : vaec.VAEC or None
        The final model on the selected features (it expects them scaled by ``scaler_``).
    scaler_, scaled_features_ : sklearn.preprocessing.StandardScaler, list of str
        Scaler fitted on the training part of the non-constant features, and those features in
        the column order it expects.

    See Also
    --------
    sklearn.feature_selection.RFE : Recursive feature elimination by model weights.
    sklearn.feature_selection.RFECV : RFE with the count chosen by cross-validation.

    References
    ----------
    N. Meinshausen and P. Bühlmann, "Stability selection", Journal of the Royal Statistical Society B
    72 (2010) 417-473.

    S. Nogueira, K. Sechidis and G. Brown, "On the Stability of Feature Selection Algorithms", Journal
    of Machine Learning Research 18 (2018) 1-54.

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.selector import VAECSelector
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(300, 1))
    >>> X = np.hstack([signal + 0.3 * rng.normal(size=(300, 2)), rng.normal(size=(300, 3))])
    >>> y = (signal[:, 0] > 0).astype(int)
    >>> selector = VAECSelector(epochs=150, fit_final_model=False).fit(X, y)
    >>> selector.get_support().tolist()
    [True, True, False, False, False]
    """

    def __init__(
        self,
        *,
        criterion: Literal["relevance", "reconstruction"] = "relevance",
        task: Literal["auto", "classification", "regression", "unsupervised"] = "auto",
        n_trials: int = 3,
        threshold: float = 0.6,
        fdr: float = 0.05,
        cluster_threshold: float | None = 0.5,
        max_shadows: int = 100,
        min_shadows: int = 10,
        max_drop_fraction: float = 0.2,
        min_features: int = 2,
        n_features_to_select: int | Literal["auto"] | None = None,
        step: float = 0.35,
        second_look: bool = False,
        guard_level: float | None = 0.01,
        cross_fit_rows: int | None = 2000,
        final_strategy: Literal["all_parts", "var_mlp_classifier"] = "all_parts",
        val_size: float = 0.2,
        n_jobs: int | None = None,
        random_state: int = 0,
        n_resamples: int = 1,
        resample: Literal["subsample", "bootstrap"] = "subsample",
        keep_frequency: float = 0.6,
        max_levels: int = 10,
        categorical: tuple[str, ...] = (),
        keep_columns: tuple[str, ...] = (),
        groups: tuple[tuple[str, ...], ...] = (),
        class_weight: Literal["auto", "balanced"] | dict[Any, float] | None = "auto",
        latent_dim: int = 4,
        encoder_widths: tuple[int, ...] = (32, 16),
        decoder_widths: tuple[int, ...] | None = None,
        head_widths: tuple[int, ...] = (16,),
        activation: str = "elu",
        dropout: float = 0.0,
        reconstruction_weight: float = 1.0,
        kl_weight: float = 0.01,
        prediction_weight: float = 1.0,
        learning_rate: float = 5e-3,
        weight_decay: float = 0.0,
        epochs: int = 300,
        batch_size: int | None = None,
        device: str = "cpu",
        fit_final_model: bool = True,
        verbose: bool = False,
    ) -> None:
        # scikit-learn's convention: every parameter kept as given, under its own name
        given = dict(locals())
        for name in self._get_param_names():
            setattr(self, name, given[name])

    def settings(self) -> SelectionSettings:
        """The :class:`pipeline.settings.SelectionSettings` these parameters stand for (no test split:
        the caller measures the selection downstream)."""
        values = {name: getattr(self, RENAMED.get(name, name)) for name in flat_fields()
                  if name not in NOT_ON_SELECTOR}
        return SelectionSettings.from_flat(**values, test_size=0.0)

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> VAECSelector:
        """Run the pruning loop on ``X``, ``y`` (and train the final model).

        ``y`` None selects without a target (``task`` ``auto`` or ``unsupervised``). ``sample_weight``
        (one non-negative value per row) is what every row counts for, times its class's
        ``class_weight``: in the models' losses and in every score of the selection (importance,
        shared R², the validation scores, the accuracy guard, the final model's scores); a row of
        weight 0 counts as absent, one of weight 2 as twice. In a :class:`~sklearn.pipeline.Pipeline`
        with metadata routing on, ask for it with ``set_fit_request(sample_weight=True)``.
        """
        config = self.settings()
        dataset = self._dataset(X, y, sample_weight, config)
        names = self._input_names()
        with torch_threads(threads_for(config.threads)):
            result = run_selection(dataset, config, progress=LineProgress() if self.verbose else None,
                                   fit_final=fit_final_model if self.fit_final_model else None)
        # final attributes (the result without the data's rows: a fitted selector pickles small)
        result = dataclasses.replace(result, split=result.split.without_rows())
        split = result.split
        self.result_, self.rounds_, self.stop_reason_ = result, result.rounds, result.stop_reason
        self.rounds_frame_, self.cv_results_ = result.rounds_frame(), result.count_frame()
        self.task_, self.stability_ = split.task.name, result.stability
        self.scaler_, self.scaled_features_ = split.scaler, list(split.feature_names)
        self.encoder_, self.identifier_columns_ = split.encoder, list(dataset.identifier_columns)
        self.final_model_ = result.final.model if result.final is not None else None
        self.support_ = np.isin(names, result.selected_columns)
        self.n_features_ = int(self.support_.sum())
        ranks = result.column_ranking()
        worst = max(ranks.values(), default=1) + 1  # identifiers set aside: never trained on
        self.ranking_ = np.array([ranks.get(n, worst) for n in names])
        self.channels_frame_ = result.column_fates()
        return self

    def _dataset(self, X: Any, y: Any, sample_weight: Any, config: SelectionSettings) -> Dataset:
        """``X``, ``y`` and the weights as a validated :class:`Dataset`: a data frame as a raw table
        (its values are the data checks' to judge: they name the columns), anything else as numbers."""
        raw = isinstance(X, pd.DataFrame)
        if raw:  # the input's columns recorded as scikit-learn does
            self.n_features_in_ = X.shape[1]
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
            y = None if y is None else column_or_1d(y, warn=True)
        elif y is None:
            X = validate_data(self, X, dtype=np.float64)
        else:
            X, y = validate_data(self, X, y, dtype=np.float64)
        if y is not None and resolve_task(config.task, y) == "classification":
            check_classification_targets(y)
        weights = check_sample_weight(sample_weight, len(X))
        if raw:
            dataset = dataset_from_frame(X, y, val_size=config.val_size, test_size=0.0, task=config.task,
                                         categorical=config.categorical, groups=config.groups,
                                         keep_columns=config.keep_columns)
        else:
            dataset = dataset_from_arrays(X, y, self._input_names(), val_size=config.val_size, test_size=0.0,
                                          task=config.task)
        dataset.sample_weight = weights
        return dataset

    def transform(self, X: Any) -> Any:
        """The selected columns of ``X``: a DataFrame gives back its own columns, values as given
        (categories, dates, gaps and all); an array the selected columns."""
        check_is_fitted(self, "support_")
        if isinstance(X, pd.DataFrame):
            names = self._input_names()
            X = X.rename(columns=str)
            require_columns(X, names, "column(s) seen in fit")
            return X[[n for n, keep in zip(names, self.support_, strict=True) if keep]]
        return super().transform(X)

    def predict_with_confidence(self, X: Any, *, n_sigma: float = 3.0) -> pd.DataFrame:
        """Predictions of the final model on raw ``X`` (the columns seen in :meth:`fit`) with their
        latent-domain confidence: the columns of :meth:`vaec.VAEC.predict_with_confidence`, a
        regression's predicted value in the target's units."""
        check_is_fitted(self, "support_")
        if self.final_model_ is None:
            raise RuntimeError("no final model: fit with fit_final_model=True to predict")
        if isinstance(X, pd.DataFrame) and self.result_.final.encoder is not None:
            return predictions_frame(self.result_.final, X, n_sigma)
        index = X.index if isinstance(X, pd.DataFrame) else None
        X = validate_data(self, X, reset=False, dtype=np.float64)
        raw = pd.DataFrame(X, columns=self._input_names(), index=index)
        return predictions_frame(self.result_.final, raw, n_sigma)

    def plot_rounds(self) -> list[Figure]:
        """The charts of every round: each channel's scores over the trials as box plots with the
        shadows' band (matplotlib figures; nothing is written)."""
        check_is_fitted(self, "support_")
        from pipeline.report.figures import plot_round_scores

        return [plot_round_scores(record, self.threshold) for record in self.rounds_]

    def _input_names(self) -> list[str]:
        """Names of the input columns: those seen in fit, else ``x0``, ``x1``, ..."""
        names = getattr(self, "feature_names_in_", None)
        return [f"x{i}" for i in range(self.n_features_in_)] if names is None else [str(n) for n in names]

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _parameters_doc() -> str:
    """The Parameters section: every setting's description, under the selector's name."""
    lines = [f"    {RENAMED.get(name, name)} : default={field.get_default(call_default_factory=True)!r}\n"
             f"        {field.description[0].upper()}{field.description[1:]}."
             for name, field in flat_fields().items() if name not in NOT_ON_SELECTOR]
    lines += ["    fit_final_model : default=True",
              "        Train the final model (``final_model_``); switch off when only the selection "
              "matters.",
              "    verbose : default=False",
              "        Print a line per round (and the final model's) to stderr, with the elapsed time."]
    return "\n".join(lines)


VAECSelector.__doc__ = (VAECSelector.__doc__ or "").replace("    PARAMETERS\n", _parameters_doc() + "\n\n", 1)
