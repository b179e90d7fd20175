"""``VAEC``: the variational autoencoder + classifier that people train and query. It owns one
:class:`~vaec.model.VAECNet` shared by all strategies (``fit_autoencoder`` then
``fit_classifier_head`` trains a head on the frozen encoder), the class labels and the results."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaec.config import Strategy, VAECConfig, get_strategy, torch_device
from vaec.domain import DEFAULT_N_DRAWS, LatentDomain, ReconstructionCheck, row_errors
from vaec.history import TrainingResult
from vaec.model import VAECNet, VAECOutput
from vaec.persistence import SavedModel, load_model, save_model
from vaec.tasks import probabilities
from vaec.training import train


class InputError(ValueError):
    """Data handed to a model does not fit it; the message says which argument and why."""


class VAEC:
    """Variational AutoEncoder + Classifier with the seed prototype's five training strategies.

    Parameters
    ----------
    config : VAECConfig
        Architecture and training settings; ``n_inputs`` and ``n_classes`` must match the data.
    n_replicas : int, default=1
        Independent models trained together in one vectorised pass (trials of a pruning round).
    classes : array-like or None, default=None
        Class labels in index order; learned from ``y`` at the first fit when ``None``.

    Attributes
    ----------
    classes_ : numpy.ndarray
        Class labels; index ``i`` of a prediction is ``classes_[i]``.
    results : list of TrainingResult
        One per training call, in order.
    latent_domain_, reconstruction_check_ : LatentDomain, ReconstructionCheck or None
        The fitted statistics of :meth:`fit_latent_domain` and :meth:`fit_reconstruction_check`,
        saved with the model (a retraining forgets them).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> model = VAEC(VAECConfig(n_inputs=30, n_classes=2, epochs=60))
    >>> result = model.fit_var_mlp_classifier(X, y)
    >>> float((model.predict(X) == y).mean()) > 0.9
    True
    """

    def __init__(self, config: VAECConfig, n_replicas: int = 1, classes: Any | None = None) -> None:
        self.config, self.n_replicas, self.device = config, n_replicas, torch_device(config.device)
        self.net = VAECNet(config, n_replicas).to(self.device)
        self.classes_: np.ndarray | None = None if classes is None else np.asarray(classes)
        if self.classes_ is not None:
            self._check_n_classes(self.classes_)
        self.results: list[TrainingResult] = []
        self.latent_domain_: LatentDomain | None = None
        self.reconstruction_check_: ReconstructionCheck | None = None

    # data handling ------------------------------------------------------------------------
    def _check_n_classes(self, classes: np.ndarray) -> None:
        if len(classes) != self.config.n_classes:
            raise InputError(f"y has {len(classes)} classes but the config says "
                             f"n_classes={self.config.n_classes}")

    def _features(self, X: Any, name: str = "X") -> torch.Tensor:
        array = np.asarray(X, dtype=np.float32)
        if array.ndim != 2:
            raise InputError(f"{name} must be 2-dimensional (rows, channels), got {array.ndim}-D")
        if array.shape[1] != self.config.n_inputs:
            raise InputError(f"{name} has {array.shape[1]} columns but the model expects "
                             f"n_inputs={self.config.n_inputs}")
        if not np.isfinite(array).all():
            bad = np.where(~np.isfinite(array).all(axis=0))[0].tolist()
            raise InputError(f"{name} has NaN or infinite values in column(s) {bad}")
        if not array.flags.writeable:  # torch tensors may not view read-only memory
            array = array.copy()
        return torch.from_numpy(array).to(self.device)

    def class_indices(self, y: Any, name: str = "y", n_rows: int | None = None) -> torch.Tensor:
        """The target as the head is trained on: class indices of the labels ``y``, or the values."""
        task = self.config.task
        if not task.has_target:  # nothing to predict: a placeholder the losses ignore
            return torch.zeros(len(np.asarray(y)) if n_rows is None else n_rows, device=self.device)
        if not task.has_classes:
            values = np.asarray(y, dtype=np.float32).ravel()
            if not np.isfinite(values).all():
                raise InputError(f"{name} has NaN or infinite values")
            return torch.from_numpy(values.copy()).to(self.device)
        labels = np.asarray(y).ravel()
        if self.classes_ is None:
            classes = np.unique(labels)
            self._check_n_classes(classes)
            self.classes_ = classes
        index = np.clip(np.searchsorted(self.classes_, labels), 0, len(self.classes_) - 1)
        unknown = labels[self.classes_[index] != labels]
        if unknown.size:
            raise InputError(f"{name} holds labels not seen in training: {np.unique(unknown)[:5]}")
        return torch.from_numpy(index.astype(np.int64)).to(self.device)

    # training -------------------------------------------------------------------------------
    def fit(self, strategy: str | Strategy, X: Any, y: Any, X_val: Any = None, y_val: Any = None, *,
            record_snapshots: bool = True, on_epoch: Callable[[int, int], None] | None = None,
            row_weights: Any = None, val_row_weights: Any = None) -> TrainingResult:
        """Train with one strategy (by name or object); validation data picks the best epoch (see
        :func:`vaec.training.train` for ``on_epoch``, ``row_weights`` and ``val_row_weights``)."""
        strategy = get_strategy(strategy)
        x_t = self._features(X)
        y_t = self.class_indices(y, n_rows=len(x_t))
        if len(x_t) != len(y_t):
            raise InputError(f"X has {len(x_t)} rows but y has {len(y_t)}")
        xv_t = yv_t = None
        if X_val is not None:
            if y_val is None and self.config.task.has_target:
                raise InputError("X_val was given without y_val")
            xv_t = self._features(X_val, "X_val")
            yv_t = self.class_indices(y_val, "y_val", n_rows=len(xv_t))
        result = train(self.net, strategy, x_t, y_t, xv_t, yv_t, record_snapshots=record_snapshots,
                       on_epoch=on_epoch, row_weights=self._row_weights(row_weights, len(x_t)),
                       val_row_weights=(None if xv_t is None
                                        else self._row_weights(val_row_weights, len(xv_t))))
        # the fitted statistics described the network before this run
        self.latent_domain_ = self.reconstruction_check_ = None
        self.results.append(result)
        return result

    def _row_weights(self, weights: Any, n_rows: int) -> torch.Tensor | None:
        if weights is None:
            return None
        w = np.asarray(weights, dtype=np.float32)
        if (w.shape != (self.n_replicas, n_rows) or not np.isfinite(w).all() or (w < 0).any()
                or not (w.sum(axis=1) > 0).all()):
            raise InputError(f"row weights must be finite, >= 0, of shape ({self.n_replicas}, "
                             f"{n_rows}) with rows for every replica, got shape {w.shape}")
        return torch.from_numpy(w).to(self.device)

    def fit_all_parts(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> TrainingResult:
        """Reconstruction + KL + prediction; encoder, decoder and head train."""
        return self.fit("all_parts", X, y, X_val, y_val)

    def fit_autoencoder(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> TrainingResult:
        """Reconstruction + KL; encoder and decoder train (``y`` only sets the classes)."""
        return self.fit("autoencoder", X, y, X_val, y_val)

    def fit_classifier_head(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> TrainingResult:
        """Prediction; only the head trains, on the frozen encoder."""
        return self.fit("classifier_head", X, y, X_val, y_val)

    def fit_mlp_classifier(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> TrainingResult:
        """Prediction; encoder + head as a plain MLP classifier (z_mean, no KL)."""
        return self.fit("mlp_classifier", X, y, X_val, y_val)

    def fit_var_mlp_classifier(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None) -> TrainingResult:
        """Prediction + KL; the head sees sampled z in training and z_mean at inference."""
        return self.fit("var_mlp_classifier", X, y, X_val, y_val)

    # inference --------------------------------------------------------------------------------
    def _pick(self, tensor: torch.Tensor, replica: int | None) -> np.ndarray:
        if replica is not None and not 0 <= replica < self.n_replicas:
            raise InputError(f"replica must be in [0, {self.n_replicas}), got {replica}")
        return (tensor if replica is None else tensor[replica]).detach().cpu().numpy()

    @torch.no_grad()
    def _forward(self, X: Any, sample: bool, seed: int | None) -> VAECOutput:
        self.net.eval()
        seed = self.config.seed if seed is None else seed
        generator = torch.Generator(self.device).manual_seed(seed) if sample else None
        return self.net(self._features(X), sample=sample, generator=generator)

    def _require(self, classes: bool) -> None:
        """Refuse class probabilities without classes, a prediction without a target."""
        task = self.config.task
        if not (task.has_classes if classes else task.has_target):
            needs = "classification" if classes else "classification or regression"
            raise InputError(f"a model of task {task.name!r} cannot do this; it needs task {needs}")

    def predict_proba(self, X: Any, *, replica: int | None = 0, sample: bool = False,
                      seed: int | None = None) -> np.ndarray:
        """Class probabilities ``(rows, n_classes)`` (classification); the head sees z_mean
        unless ``sample``. ``replica=None``: every replica, ``(replicas, rows, n_classes)``."""
        self._require(classes=True)
        return self._pick(probabilities(self._forward(X, sample, seed).logits), replica)

    def predict(self, X: Any, *, replica: int | None = 0, sample: bool = False,
                seed: int | None = None) -> np.ndarray:
        """Predicted class labels (from :attr:`classes_`), or values for regression."""
        self._require(classes=False)
        if not self.results and self.classes_ is None:
            raise RuntimeError("the model has not been trained yet")
        if not self.config.task.has_classes:
            return self._pick(self._forward(X, sample, seed).logits.squeeze(-1), replica)
        return self.classes_[self.predict_proba(X, replica=replica, sample=sample, seed=seed).argmax(axis=-1)]

    def encode(self, X: Any, *, replica: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(z_mean, z_log_var)`` of every row, each ``(rows, latent_dim)``."""
        out = self._forward(X, False, None)
        return self._pick(out.z_mean, replica), self._pick(out.z_log_var, replica)

    def reconstruct(self, X: Any, *, replica: int | None = 0, sample: bool = False,
                    seed: int | None = None) -> np.ndarray:
        """Decoder output ``(rows, channels)``, from z_mean unless ``sample``."""
        return self._pick(self._forward(X, sample, seed).reconstruction, replica)

    # latent-domain confidence ---------------------------------------------------------------
    def fit_latent_domain(self, X: Any, *, n_draws: int = DEFAULT_N_DRAWS, seed: int | None = None,
                          replica: int = 0) -> LatentDomain:
        """Fit the latent domain of validity to the training rows ``X``
        (:meth:`vaec.domain.LatentDomain.fit`, seeded by ``seed``, default the config's); kept as
        :attr:`latent_domain_` and saved with the model. Retraining discards it."""
        if not self.results and self.classes_ is None:
            raise RuntimeError("the model has not been trained yet: train it before fit_latent_domain")
        z_mean, z_log_var = self.encode(X, replica=replica)
        self.latent_domain_ = LatentDomain.fit(z_mean, z_log_var, n_draws=n_draws, replica=replica,
                                               seed=self.config.seed if seed is None else seed)
        return self.latent_domain_

    def fit_reconstruction_check(self, X: Any, *, replica: int = 0) -> ReconstructionCheck:
        """Keep the reconstruction errors of the training rows ``X`` (sampling off), against which
        :meth:`predict_with_confidence` scores new rows; kept as :attr:`reconstruction_check_`."""
        errors = row_errors(X, self.reconstruct(X, replica=replica))
        self.reconstruction_check_ = ReconstructionCheck.fit(errors)
        return self.reconstruction_check_

    def predict_with_confidence(self, X: Any, *, n_sigma: float = 3.0) -> dict[str, np.ndarray]:
        """Prediction with the latent-domain scores of every row, as columns of equal length:
        ``class`` and ``probability`` (``prediction`` for regression, none without a target), the
        :meth:`vaec.domain.LatentDomain.scores`, and after :meth:`fit_reconstruction_check`
        ``reconstruction_error`` and ``reconstruction_p_value``."""
        domain = self.latent_domain_
        if domain is None:
            raise RuntimeError("the latent domain is not fitted (or the model was retrained since): "
                               "call fit_latent_domain(X_train) first")
        out = self._forward(X, False, None)
        columns: dict[str, np.ndarray] = {}
        if self.config.task.has_classes:
            proba = self._pick(probabilities(out.logits), domain.replica)
            columns = {"class": self.classes_[proba.argmax(axis=1)],
                       "probability": proba.max(axis=1).astype(np.float64)}
        elif self.config.task.has_target:
            columns = {"prediction": self._pick(out.logits.squeeze(-1), domain.replica)}
        columns |= domain.scores(self._pick(out.z_mean, domain.replica), n_sigma=n_sigma)
        if self.reconstruction_check_ is not None:
            errors = row_errors(X, self._pick(out.reconstruction, domain.replica))
            columns["reconstruction_error"] = errors
            columns["reconstruction_p_value"] = self.reconstruction_check_.p_values(errors)
        return columns

    # persistence --------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write config, class labels, fitted statistics and weights to ``folder``."""
        return save_model(SavedModel(self.config, self.n_replicas, self.classes_, self.net.state_dict(),
                                     self.latent_domain_, self.reconstruction_check_), folder)

    @classmethod
    def load(cls, folder: str | os.PathLike[str], device: str | None = None) -> VAEC:
        """Load a model saved by :meth:`save`; no code from the files is executed."""
        saved = load_model(folder, device=device)
        model = cls(saved.config, n_replicas=saved.n_replicas, classes=saved.classes)
        model.net.load_state_dict(saved.state)
        model.latent_domain_, model.reconstruction_check_ = saved.latent_domain, saved.reconstruction_check
        return model
