"""``VAECSelector``: iterative reconstruction pruning as a scikit-learn feature selector."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from pipeline.pruning import PruningRun
from pipeline.pruning_config import DEFAULT_MODEL_OPTIONS, PruningConfig
from pipeline.result import ranking_from_rounds
from pipeline.split import split_and_scale
from pipeline.validation import validate_arrays


class VAECSelector(SelectorMixin, BaseEstimator):
    """Keep the input channels a joint VAE + classifier can reconstruct.

    Each round trains ``n_trials`` joint variational autoencoder + classifier models (in one
    vectorised pass) on the kept channels, scores every channel by its validation
    reconstruction R^2 (mean over trials), and drops the worst channels below ``threshold``
    (at most ``max_drop_fraction`` of them per round), until every kept channel passes or a stop
    rule fires. A final encoder + classifier head is then trained on the kept channels.

    Parameters
    ----------
    n_trials : int, default=3
        Models trained per round (seeds ``random_state + 1000 * round + trial``).
    threshold : float, default=0.6
        Minimum validation reconstruction R^2 a channel needs to stay.
    max_drop_fraction : float, default=0.2
        Largest fraction of the kept channels dropped in one round (at least one).
    min_features : int, default=2
        Never keep fewer channels.
    n_features_to_select : int or None, default=None
        If set, drop the worst-scored channels until exactly this many are kept (as in RFE).
    accuracy_tolerance : float or None, default=0.05
        Stop and keep the previous round's channels when the validation F1 falls more than
        this below the best round. ``None`` switches the guard off.
    latent_dim : int, default=4
        Width of the neck of the round models.
    epochs : int, default=300
        Training epochs of every model.
    model_options : dict or None, default=None
        Further :class:`vaec.VAECConfig` settings of the round and final models
        (e.g. ``{"kl_weight": 0.01, "encoder_widths": (32, 16)}``).
    final_strategy : {"all_parts", "var_mlp_classifier"}, default="all_parts"
        How the final model on the kept channels is trained.
    fit_final_model : bool, default=True
        Train the final model (``final_model_``); switch off when only the selection matters.
    val_size : float, default=0.2
        Fraction of the rows held out (stratified) to score channels and pick best epochs.
    random_state : int, default=0
        Seed of the split and of every model; the same data and settings give the same
        selection.

    Attributes
    ----------
    support_ : ndarray of shape (n_features_in_,)
        Mask of the selected features.
    ranking_ : ndarray of shape (n_features_in_,)
        1 for selected features; larger for features dropped in earlier rounds; constant
        features rank last.
    n_features_ : int
        Number of selected features.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Feature names seen in ``fit`` (only when ``X`` has string column names).
    rounds_ : list of pipeline.rounds.PruningRound
        Every pruning round (kept channels, scores, drops, validation accuracy/F1, seconds).
    stop_reason_ : str
        Why the loop stopped: ``all_pass``, ``min_features``, ``n_features_to_select`` or
        ``accuracy_guard``.
    result_ : pipeline.result.PruningResult or None
        The whole run, with the final model (``None`` when ``fit_final_model`` is False).
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

    def __init__(
        self,
        *,
        n_trials: int = 3,
        threshold: float = 0.6,
        max_drop_fraction: float = 0.2,
        min_features: int = 2,
        n_features_to_select: int | None = None,
        accuracy_tolerance: float | None = 0.05,
        latent_dim: int = DEFAULT_MODEL_OPTIONS["latent_dim"],
        epochs: int = DEFAULT_MODEL_OPTIONS["epochs"],
        model_options: dict[str, Any] | None = None,
        final_strategy: str = "all_parts",
        fit_final_model: bool = True,
        val_size: float = 0.2,
        random_state: int = 0,
    ) -> None:
        self.n_trials = n_trials
        self.threshold = threshold
        self.max_drop_fraction = max_drop_fraction
        self.min_features = min_features
        self.n_features_to_select = n_features_to_select
        self.accuracy_tolerance = accuracy_tolerance
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.model_options = model_options
        self.final_strategy = final_strategy
        self.fit_final_model = fit_final_model
        self.val_size = val_size
        self.random_state = random_state

    def pruning_config(self) -> PruningConfig:
        """The :class:`PruningConfig` these parameters stand for."""
        options = {
            **(self.model_options or {}),
            "latent_dim": self.latent_dim,
            "epochs": self.epochs,
        }
        return PruningConfig(
            n_trials=self.n_trials,
            threshold=self.threshold,
            max_drop_fraction=self.max_drop_fraction,
            min_features=self.min_features,
            n_features_to_select=self.n_features_to_select,
            accuracy_tolerance=self.accuracy_tolerance,
            model_options=options,
            final_strategy=self.final_strategy,
            val_size=self.val_size,
            test_size=0.0,
            seed=self.random_state,
        )

    def fit(self, X: Any, y: Any) -> VAECSelector:
        """Run the pruning loop on ``X``, ``y`` (and train the final model)."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        config = self.pruning_config()
        # initialization
        names = self._input_names()
        constant = validate_arrays(X, y, names, val_size=self.val_size, test_size=0.0)
        varying = [i for i, n in enumerate(names) if n not in set(constant)]
        split = split_and_scale(
            X[:, varying], y, [names[i] for i in varying],
            val_size=self.val_size, test_size=0.0, seed=self.random_state,
        )
        run = PruningRun(split, config, constant_columns=constant)
        # elimination
        run.run_rounds()
        # final attributes
        self.result_ = run.finish() if self.fit_final_model else None
        self.rounds_ = run.rounds
        self.stop_reason_ = run.stop_reason
        self.scaler_ = split.scaler
        self.scaled_features_ = [names[i] for i in varying]
        self.final_model_ = self.result_.final.model if self.result_ is not None else None
        kept = set(run.kept)
        self.support_ = np.array([n in kept for n in names])
        self.n_features_ = int(self.support_.sum())
        ranks = ranking_from_rounds([names[i] for i in varying], run.rounds, run.kept, constant)
        self.ranking_ = np.array([ranks[n] for n in names])
        return self

    def predict_with_confidence(self, X: Any, *, n_sigma: float = 3.0) -> pd.DataFrame:
        """Predictions of the final model on raw ``X`` with their latent-domain confidence.

        ``X`` has the columns seen in :meth:`fit`; they are scaled by ``scaler_`` and the selected
        ones go to ``final_model_``. The columns of the result are those of
        :meth:`vaec.VAEC.predict_with_confidence` (class, probability, sigma distance, within-N
        flags, per-dimension p-values, confidence).
        """
        check_is_fitted(self, "support_")
        if self.final_model_ is None:
            raise RuntimeError("no final model: fit with fit_final_model=True to predict")
        index = X.index if isinstance(X, pd.DataFrame) else None
        X = validate_data(self, X, reset=False, dtype=np.float64)
        position = {name: i for i, name in enumerate(self._input_names())}
        varying = [position[n] for n in self.scaled_features_]
        scaled = pd.DataFrame(self.scaler_.transform(X[:, varying]), columns=self.scaled_features_)
        frame = self.final_model_.predict_with_confidence(
            scaled[self.result_.final.channels].to_numpy(), n_sigma=n_sigma
        )
        if index is not None:
            frame.index = index
        return frame

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
