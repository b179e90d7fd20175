"""The one configuration object of a VAEC model and its training."""

from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads only when a device is checked or a model is built
    import torch

ACTIVATIONS = ("relu", "elu", "gelu", "tanh", "silu", "leaky_relu")
SELECTION_METRICS = ("f1", "accuracy")
EARLY_STOPPING = ("selection", "loss")
TASKS = ("classification", "regression", "unsupervised")  # see vaec.tasks


class ConfigError(ValueError):
    """A configuration value is out of its allowed range; the message names the parameter."""


@dataclass
class VAECConfig:
    """Architecture and training settings of a VAE + classifier model.

    Parameters
    ----------
    n_inputs : int
        Number of input channels (also the number of reconstructed channels).
    n_classes : int
        Number of classes of the target, at least 2 (classification); 1 for the other tasks.
    latent_dim : int, default=2
        Width of the neck (the Gaussian latent space).
    encoder_widths : tuple of int, default=(32, 16)
        Hidden layer widths of the encoder, from the input towards the neck.
    decoder_widths : tuple of int or None, default=None
        Hidden layer widths of the decoder, from the neck towards the output;
        ``None`` mirrors ``encoder_widths``.
    head_widths : tuple of int, default=(16,)
        Hidden layer widths of the classifier head on the neck (empty: a linear head).
    activation : str, default="elu"
        One of ``relu, elu, gelu, tanh, silu, leaky_relu``.
    dropout : float, default=0.0
        Dropout probability after every hidden layer, in [0, 1).
    reconstruction_weight, kl_weight, prediction_weight : float
        Weights of the three losses when a training strategy counts them
        (defaults 1.0, 1e-3 and 1.0). ``kl_weight`` is the beta of a beta-VAE.
    learning_rate : float, default=3e-3
        Adam(W) learning rate.
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW).
    epochs : int, default=300
        Number of training epochs.
    batch_size : int or None, default=None
        ``None`` trains on the full batch each epoch; otherwise seeded shuffled mini-batches.
    seed : int, default=0
        Seed of the weight initialisation, the sampling noise and the batch order.
    device : str, default="cpu"
        ``"cpu"``, or ``"cuda"`` (``"cuda:N"``) when a GPU is present.
    selection_metric : str, default="f1"
        Validation metric (sampling off) that picks the best epoch: ``f1`` (ties by
        accuracy) or ``accuracy``.
    restore_best : bool, default=True
        Restore the weights of the best epoch at the end (``False`` keeps the last).
    task : str, default="classification"
        What the head is trained for: ``classification``, ``regression`` (one value, squared
        error) or ``unsupervised`` (no target: only the autoencoder strategy makes sense); see
        :mod:`vaec.tasks`.
    early_stopping_patience : int or None, default=None
        Stop when the selection metric (or the validation loss, see ``early_stopping_on``) has
        not improved for this many epochs.
    early_stopping_on : str, default="selection"
        What early stopping watches: ``selection`` (the selection metric) or ``loss`` (the
        validation total loss).
    eval_every : int, default=1
        Evaluate (and record a history row) every this many epochs, and at the last.
    train_metrics : bool, default=True
        Also evaluate on the training rows (otherwise their history columns are NaN).
    train_metrics_rows : int or None, default=None
        Evaluate the training metrics on at most this many training rows (a fixed seeded
        subset, the same every epoch); ``None``: on all of them. On a tall table the
        per-epoch evaluation of every training row costs about as much as the epoch's
        training.
    """

    n_inputs: int
    n_classes: int
    latent_dim: int = 2
    encoder_widths: tuple[int, ...] = (32, 16)
    decoder_widths: tuple[int, ...] | None = None
    head_widths: tuple[int, ...] = (16,)
    activation: str = "elu"
    dropout: float = 0.0
    reconstruction_weight: float = 1.0
    kl_weight: float = 1e-3
    prediction_weight: float = 1.0
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    epochs: int = 300
    batch_size: int | None = None
    seed: int = 0
    device: str = "cpu"
    selection_metric: str = "f1"
    restore_best: bool = True
    task: str = "classification"
    early_stopping_patience: int | None = None
    early_stopping_on: str = "selection"
    eval_every: int = 1
    train_metrics: bool = True
    train_metrics_rows: int | None = None

    def __post_init__(self) -> None:
        # numpy scalars (e.g. from a grid built with np.arange) count as plain numbers
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                setattr(self, f.name, int(value))
            elif isinstance(value, numbers.Real) and not isinstance(value, (bool, int)):
                setattr(self, f.name, float(value))
        for name in ("encoder_widths", "head_widths", "decoder_widths"):
            widths = getattr(self, name)
            if widths is None and name == "decoder_widths":
                continue
            try:
                setattr(self, name, tuple(int(w) for w in widths))
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be a sequence of positive integers, got {widths!r}") from None
        self.validate()

    @property
    def decoder_layer_widths(self) -> tuple[int, ...]:
        """Decoder hidden widths, the encoder's mirrored when not given."""
        if self.decoder_widths is None:
            return tuple(reversed(self.encoder_widths))
        return self.decoder_widths

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first parameter out of range."""
        _positive_int(self, "n_inputs")
        _positive_int(self, "latent_dim")
        _positive_int(self, "epochs")
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}; got {self.task!r}")
        if self.task == "classification":
            if not isinstance(self.n_classes, int) or self.n_classes < 2:
                raise ConfigError(f"n_classes must be an integer >= 2, got {self.n_classes!r}")
        elif self.n_classes != 1:
            raise ConfigError(f"n_classes must be 1 for task {self.task!r}, got {self.n_classes!r}")
        for name in ("encoder_widths", "decoder_layer_widths", "head_widths"):
            widths = getattr(self, name)
            if any(w < 1 for w in widths):
                label = "decoder_widths" if name == "decoder_layer_widths" else name
                raise ConfigError(f"{label} must hold positive integers, got {widths!r}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"activation must be one of {', '.join(ACTIVATIONS)}; got {self.activation!r}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("reconstruction_weight", "kl_weight", "prediction_weight", "weight_decay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.batch_size is not None:
            _positive_int(self, "batch_size")
        if self.selection_metric not in SELECTION_METRICS:
            raise ConfigError(
                f"selection_metric must be one of {', '.join(SELECTION_METRICS)}; "
                f"got {self.selection_metric!r}"
            )
        if self.early_stopping_patience is not None:
            _positive_int(self, "early_stopping_patience")
        if self.early_stopping_on not in EARLY_STOPPING:
            raise ConfigError(
                f"early_stopping_on must be one of {', '.join(EARLY_STOPPING)}; "
                f"got {self.early_stopping_on!r}"
            )
        _positive_int(self, "eval_every")
        if self.train_metrics_rows is not None:
            _positive_int(self, "train_metrics_rows")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.device != "cpu":  # the CPU is always there; anything else asks torch
            self.torch_device()

    def torch_device(self) -> torch.device:
        """The torch device, checked to exist on this machine."""
        import torch

        try:
            device = torch.device(self.device)
        except RuntimeError as err:
            raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}") from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {self.device!r} was asked for but no CUDA GPU is present")
        if device.type not in ("cpu", "cuda"):
            raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got {self.device!r}")
        return device

    def replace(self, **changes: Any) -> VAECConfig:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VAECConfig:
        """Build from :meth:`to_dict` output; unknown keys are an error."""
        unknown = unknown_fields(cls, data)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def unknown_fields(cls: type, data: dict[str, Any]) -> list[str]:
    """Keys of ``data`` that are not fields of the dataclass ``cls``, sorted."""
    return sorted(set(data) - {f.name for f in dataclasses.fields(cls)})


def _positive_int(config: VAECConfig, name: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
