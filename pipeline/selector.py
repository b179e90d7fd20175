"""``VAECSelector``: iterative reconstruction pruning as a scikit-learn feature selector."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from pipeline.data.dataset import dataset_from_arrays

if TYPE_CHECKING:
    from matplotlib.figure import Figure
from pipeline.data.dataset import resolve_task
from pipeline.final_model import fit_final_model, predictions_frame
from pipeline.progress import LineProgress
from pipeline.pruning_config import PruningConfig
from pipeline.selection import run_selection
from pipeline.settings import (
    SELECTOR,
    keyword_init,
    parameters_doc,
    selector_defaults,
    setting,
    setting_specs,
)
from pipeline.threads import threads_for, torch_threads


@dataclass
class SelectorOptions:
    """Settings of the selector alone (the command line and the flow always train the final
    model)."""

    fit_final_model: bool = setting(
        True, "train the final model", surfaces=frozenset({SELECTOR}),
        doc="Train the final model (``final_model_``); switch off when only the selection "
        "matters.")
    verbose: bool = setting(
        False, "print a line per round", surfaces=frozenset({SELECTOR}),
        doc="Print a line per round (and one for the final model) to stderr, with the "
        "elapsed time: long fits show they are alive.")


_PRUNING_SPECS = tuple(s for s in setting_specs(PruningConfig) if SELECTOR in s.surfaces)
_SPECS = _PRUNING_SPECS + setting_specs(SelectorOptions)


class VAECSelector(SelectorMixin, BaseEstimator):
    """Keep the input channels a joint VAE + classifier can reconstruct.

    Each round trains ``n_trials`` joint variational autoencoder + classifier models (in one
    vectorised pass) on the kept channels, scores every channel by its validation
    reconstruction R^2 (mean over trials), and drops the worst channels below ``threshold``
    (at most ``max_drop_fraction`` of them per round), until every kept channel passes or a stop
    rule fires. A final encoder + classifier head is then trained on the kept channels.

    With ``n_resamples`` of 2 or more it is a stability selection (Meinshausen & Bühlmann):
    the whole selection runs on that many seeded resamples of the rows, one after the other,
    and the channels kept in at least ``keep_frequency`` of them are selected; ``stability_``
    holds every channel's keep frequency and how stable the selections were.

    Attributes
    ----------
    support_ : ndarray of shape (n_features_in_,)
        Mask of the selected features.
    ranking_ : ndarray of shape (n_features_in_,)
        1 for selected features; larger for features dropped in earlier rounds; constant
        features rank last. In a stability selection: larger for features kept in fewer of the
        resamples (ties: dropped earlier on average).
    n_features_ : int
        Number of selected features.
    n_features_in_ : int
        Number of features seen in ``fit``.
    task_ : str
        The task the selection ran for: ``classification``, ``regression`` or
        ``unsupervised``.
    feature_names_in_ : ndarray of str
        Feature names seen in ``fit`` (only when ``X`` has string column names).
    rounds_ : list of pipeline.rounds.fate.PruningRound
        Every pruning round (kept channels, scores, drops, validation scores, seconds);
        empty in a stability selection (each resample ran its own, see ``stability_``).
    rounds_frame_ : pandas.DataFrame
        One row per channel per round: both scores (mean and standard deviation over the
        trials), their t against the shadows, the shadows' level, the decision; to plot in a
        notebook (see :meth:`pipeline.result.PruningResult.rounds_frame`).
    channels_frame_ : pandas.DataFrame
        Every channel's fate: status, the round it left, its decision and scores then, its rank.
    stop_reason_ : str
        Why the loop stopped: ``all_pass``, ``min_features``, ``n_features_to_select`` or
        ``accuracy_guard``; ``stability`` in a stability selection.
    stability_ : pipeline.stability.result.StabilityResult or None
        A stability selection's resamples (selection, stop reason, rounds of each), every
        channel's keep frequency, the Nogueira stability index with its 95 % interval,
        pairwise Jaccard and the bound on the expected number of noise features selected;
        ``None`` without resampling.
    result_ : pipeline.result.PruningResult
        The whole run; its ``final`` is ``None`` when ``fit_final_model`` is False.
    final_model_ : vaec.VAEC or None
        The final model on the selected features (it expects them scaled by ``scaler_``).
    scaler_ : sklearn.preprocessing.StandardScaler
        Scaler fitted on the training part of the non-constant features.
    scaled_features_ : list of str
        The non-constant features, in the column order ``scaler_`` expects.

    See Also
    --------
    sklearn.feature_selection.RFE : Recursive feature elimination by model weights.
    sklearn.feature_selection.RFECV : RFE with the count chosen by cross-validation.

    References
    ----------
    The method: a variational autoencoder trained jointly with a classifier head; channels it
    cannot reconstruct are dropped round by round (the project's method note,
    "iterative reconstruction pruning").

    N. Meinshausen and P. Bühlmann, "Stability selection", Journal of the Royal Statistical
    Society B 72 (2010) 417-473.

    S. Nogueira, K. Sechidis and G. Brown, "On the Stability of Feature Selection
    Algorithms", Journal of Machine Learning Research 18 (2018) 1-54.

    Examples
    --------
    >>> import numpy as np
    >>> from pipeline.selector import VAECSelector
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.normal(size=(300, 1))
    >>> X = np.hstack([signal + 0.1 * rng.normal(size=(300, 3)), rng.normal(size=(300, 2))])
    >>> y = (signal[:, 0] > 0).astype(int)
    >>> selector = VAECSelector(latent_dim=1, epochs=150, fit_final_model=False).fit(X, y)
    >>> selector.get_support().tolist()
    [True, True, True, False, False]
    """

    __init__ = keyword_init(selector_defaults(_SPECS))

    def pruning_config(self) -> PruningConfig:
        """The :class:`PruningConfig` these parameters stand for (no test split: the caller
        measures the selection downstream)."""
        values = {}
        for spec in _PRUNING_SPECS:
            value = getattr(self, spec.selector_name or spec.name)
            values[spec.name] = {} if value is None and spec.kind is dict else value
        return PruningConfig(**values, test_size=0.0)

    def fit(self, X: Any, y: Any = None) -> VAECSelector:
        """Run the pruning loop on ``X``, ``y`` (and train the final model).

        ``y`` None selects without a target (``task`` ``auto`` or ``unsupervised``).
        """
        # initialization
        config = self.pruning_config()
        if y is None:
            X = validate_data(self, X, dtype=np.float64)
        else:
            X, y = validate_data(self, X, y, dtype=np.float64)
            if resolve_task(config.task, y) == "classification":
                check_classification_targets(y)
        names = self._input_names()
        dataset = dataset_from_arrays(X, y, names, val_size=config.val_size, test_size=0.0,
                                      task=config.task)
        # elimination, then the final model
        with torch_threads(threads_for(config.threads)):
            result = run_selection(
                dataset, config, fit_final=fit_final_model if self.fit_final_model else None,
                progress=LineProgress() if self.verbose else None,
            )
        # final attributes
        self.result_ = result
        self.rounds_ = result.rounds
        self.rounds_frame_ = result.rounds_frame()
        self.channels_frame_ = result.channel_fates()
        self.stop_reason_ = result.stop_reason
        self.task_ = result.split.task
        self.stability_ = result.stability
        self.scaler_ = result.split.scaler
        self.scaled_features_ = list(result.split.feature_names)
        self.final_model_ = result.final.model if result.final is not None else None
        selected = set(result.selected)
        self.support_ = np.array([n in selected for n in names])
        self.n_features_ = int(self.support_.sum())
        self.ranking_ = np.array([result.ranking[n] for n in names])
        return self

    def predict_with_confidence(self, X: Any, *, n_sigma: float = 3.0) -> pd.DataFrame:
        """Predictions of the final model on raw ``X`` with their latent-domain confidence.

        ``X`` has the columns seen in :meth:`fit`; the selected ones are scaled as in training
        and go to ``final_model_``. The columns of the result are those of
        :meth:`vaec.VAEC.predict_with_confidence` (class and probability, or the predicted value
        in the target's units for regression; sigma distance, within-N flags, per-dimension
        p-values, confidence).
        """
        check_is_fitted(self, "support_")
        if self.final_model_ is None:
            raise RuntimeError("no final model: fit with fit_final_model=True to predict")
        index = X.index if isinstance(X, pd.DataFrame) else None
        X = validate_data(self, X, reset=False, dtype=np.float64)
        raw = pd.DataFrame(X, columns=self._input_names(), index=index)
        return predictions_frame(self.result_.final, raw, n_sigma)

    def plot_rounds(self) -> list[Figure]:
        """The charts of every round: each channel's scores over the trials as box plots with
        the shadows' band (matplotlib figures; nothing is written)."""
        check_is_fitted(self, "support_")
        from pipeline.report.figures import plot_round_scores

        return [plot_round_scores(record, self.threshold) for record in self.rounds_]

    def _input_names(self) -> list[str]:
        """Names of the input columns: those seen in fit, else ``x0``, ``x1``, ..."""
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        return [f"x{i}" for i in range(self.n_features_in_)]

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


VAECSelector.__doc__ = (VAECSelector.__doc__ or "").replace(
    "    Attributes\n", parameters_doc(_SPECS, SELECTOR).lstrip("\n") + "\n    Attributes\n", 1
)
