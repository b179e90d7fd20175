"""The settings of a VAEC model and its training, and the training strategies.

:class:`ModelSettings` declares the model's own settings once (default, description, bounds) as
pydantic fields; :class:`VAECConfig` adds what the data and the training policy set. Building
either from bad values raises one :class:`ConfigError` whose one-line message names the field.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from vaec.tasks import TASKS, Task, get_task, lookup

if TYPE_CHECKING:  # torch loads only when a device other than the CPU is checked
    import torch

# upper bounds of the size settings: past them a model would not fit in memory or never end
MAX_LATENT_DIM, MAX_WIDTH, MAX_EPOCHS, MAX_BATCH_SIZE = 4_096, 65_536, 1_000_000, 100_000_000
Width = Annotated[int, Field(ge=1, le=MAX_WIDTH)]
TaskField = Annotated[Task, BeforeValidator(get_task), PlainSerializer(lambda t: t.name, return_type=str),
                      WithJsonSchema({"enum": list(TASKS)})]
# how pydantic's error types read in a message that names the field
_RULES = {"greater_than_equal": "must be >= {ge}", "greater_than": "must be > {gt}",
          "less_than": "must be < {lt}", "less_than_equal": "must be <= {le}",
          "literal_error": "must be one of {expected}", "too_short": "must have at least {min_length} items"}


class ConfigError(ValueError):
    """A setting is out of its allowed range; the one-line message names it."""


def validation_message(error: ValidationError) -> str:
    """The first problem of ``error`` in one line naming the field: ``latent_dim must be >= 1, got 0``."""
    first = error.errors()[0]
    kind, ctx = first["type"], first.get("ctx") or {}
    name = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    if kind == "extra_forbidden":
        unknown = [".".join(map(str, e["loc"])) for e in error.errors() if e["type"] == kind]
        return f"{', '.join(unknown)} {'is not a setting' if len(unknown) == 1 else 'are not settings'}"
    if kind == "missing":
        return f"{name} is required"
    if kind in ("value_error", "assertion_error"):
        # a validator's own words name the field; a nested model's are prefixed with its place
        text = str(ctx.get("error", first["msg"]))
        return text if text.startswith(name) else f"{name}.{text}"
    if kind in _RULES:
        rule = _RULES[kind].format(**ctx)
    elif first["msg"].startswith("Input should be"):
        rule = first["msg"].replace("Input should be", "must be", 1)
    else:
        rule = f"is invalid ({first['msg']})"
    return f"{name} {rule}, got {first['input']!r}"


def _plain(value: Any) -> Any:
    # numpy scalars (e.g. from a grid built with np.arange) count as plain numbers, and any
    # sequence of widths as a tuple (JSON and command lines give lists)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, int)):
        return float(value)
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value


def torch_device(name: str) -> torch.device:
    """The torch device ``name``, checked to exist on this machine."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got {name!r}") from err
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda[:N]', got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but no CUDA GPU is present")
    return device


class ModelSettings(BaseModel):
    """The model's own settings: architecture, losses, optimiser, epochs.

    The defaults are tuned for the pruning rounds on breast_cancer and madelon: a neck wide
    enough for several informative directions, a KL weight that makes a lone noise channel not
    worth a latent dimension. A value out of range raises :class:`ConfigError`, one line naming
    the field.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    latent_dim: int = Field(4, ge=1, le=MAX_LATENT_DIM,
                            description="width of the neck (the Gaussian latent space)")
    encoder_widths: tuple[Width, ...] = Field(
        (32, 16), description="hidden layer widths of the encoder, from the input to the neck")
    decoder_widths: tuple[Width, ...] | None = Field(
        None, description="hidden layer widths of the decoder, from the neck; None mirrors encoder_widths")
    head_widths: tuple[Width, ...] = Field(
        (16,), description="hidden layer widths of the head on the neck (empty: a linear head)")
    activation: Literal["relu", "elu", "gelu", "tanh", "silu", "leaky_relu"] = Field(
        "elu", description="activation after every hidden layer")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after every hidden layer")
    reconstruction_weight: float = Field(1.0, ge=0.0, description="weight of the reconstruction loss")
    kl_weight: float = Field(0.01, ge=0.0, description="weight of the KL loss (a beta-VAE's beta)")
    prediction_weight: float = Field(1.0, ge=0.0, description="weight of the prediction loss")
    learning_rate: float = Field(5e-3, gt=0.0, description="AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW decoupled weight decay")
    epochs: int = Field(300, ge=1, le=MAX_EPOCHS, description="training epochs")
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE, description="rows per step, seeded "
                                   "shuffled mini-batches (None: full batch)")
    device: str = Field("cpu", description="'cpu', or 'cuda' / 'cuda:N' when a GPU is present")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise ConfigError(validation_message(err)) from None

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        return {k: _plain(v) for k, v in data.items()} if isinstance(data, dict) else data

    @field_validator("device")
    @classmethod
    def _device_exists(cls, device: str) -> str:
        if device != "cpu":  # the CPU is always there; anything else asks torch
            torch_device(device)
        return device

    @property
    def decoder_layer_widths(self) -> tuple[int, ...]:
        """Decoder hidden widths, the encoder's mirrored when not given."""
        return tuple(reversed(self.encoder_widths)) if self.decoder_widths is None else self.decoder_widths

    def replace(self, **changes: Any) -> Self:
        """A validated copy with some fields changed (``model_copy`` would not validate)."""
        return type(self)(**{**dict(self), **changes})


class VAECConfig(ModelSettings):
    """Everything one VAEC model trains by: its :class:`ModelSettings`, the sizes the data
    sets, the task, the seed and the training policy (best epoch, early stopping, evaluation).
    ``VAECConfig(n_inputs=30, n_classes=2)`` is the default model for 30 channels, two classes.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    n_inputs: int = Field(ge=1, description="input channels (also the reconstructed channels)")
    n_classes: int = Field(ge=1, description="classes of the target (>= 2); 1 for the other tasks")
    task: TaskField = Field("classification", validate_default=True, description="what the head "
                            "learns: classification, regression (one value) or unsupervised "
                            "(nothing: autoencoder only)")
    seed: int = Field(0, ge=0, description="seed of the initial weights, the noise and the batches")
    selection_metric: Literal["f1", "accuracy"] = Field(
        "f1", description="classification: the validation score (sampling off) that picks the best epoch, "
        "ties broken by the other")
    restore_best: bool = Field(True, description="restore the best epoch's weights at the end")
    early_stopping_patience: int | None = Field(
        None, ge=1, description="stop after this many epochs without improvement (None: never)")
    early_stopping_on: Literal["selection", "loss"] = Field(
        "selection", description="what early stopping watches: the selection score or the validation loss")
    eval_every: int = Field(1, ge=1, description="evaluate every this many epochs, and the last")
    train_metrics: bool = Field(True, description="also evaluate on the training rows")
    train_metrics_rows: int | None = Field(
        None, ge=1, description="evaluate the training metrics on a fixed seeded subset of this "
        "many rows (None: all); on a tall table evaluating every row costs about an epoch")
    training_step: Literal["auto", "eager", "compiled"] = Field(
        "auto", description="how a training step runs: auto (the hand-fused forward, gradients and AdamW "
        "of vaec.fused where they apply, else eager), eager (autograd and torch.optim.AdamW), or compiled "
        "(torch.compile of the eager step, eager where compiling is unavailable or fails; compiling costs "
        "tens of seconds per model shape, more than a pruning round takes)")

    @model_validator(mode="after")
    def _classes_fit_the_task(self) -> VAECConfig:
        if self.task.has_classes and self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2 for task {self.task.name!r}, got {self.n_classes}")
        if not self.task.has_classes and self.n_classes != 1:
            raise ValueError(f"n_classes must be 1 for task {self.task.name!r}, got {self.n_classes}")
        return self


def _parameters_doc(cls: type[BaseModel], own: bool = False) -> str:
    """A numpydoc Parameters section built from the fields' declarations."""
    names = set(cls.model_fields) - (set(ModelSettings.model_fields) if own else set())
    lines = ["", "    Parameters", "    ----------"]
    for name, field in cls.model_fields.items():
        if name in names:
            default = "" if field.is_required() else f", default={field.get_default()!r}"
            kind = getattr(field.annotation, "__name__", str(field.annotation).replace("typing.", ""))
            lines += [f"    {name} : {kind}{default}", f"        {field.description}."]
    return "\n".join(lines) + "\n"


ModelSettings.__doc__ = (ModelSettings.__doc__ or "") + _parameters_doc(ModelSettings)
VAECConfig.__doc__ = (VAECConfig.__doc__ or "") + _parameters_doc(VAECConfig, own=True)


# training strategies: which losses count and which parts train --------------------------------

@dataclass(frozen=True)
class Strategy:
    """What one training run optimises; :func:`vaec.training.train` runs every strategy."""

    name: str
    losses: frozenset[str]  # those in the total: reconstruction, kl, prediction
    trains: frozenset[str]  # the parts whose weights change (encoder, decoder, head); the others freeze
    sample: bool  # head and decoder train on a draw of z (else z_mean); inference sees z_mean unless asked
    description: str  # one line for people

    @property
    def uses_prediction(self) -> bool:
        """Whether the head is trained for the target (then a score picks the best epoch)."""
        return "prediction" in self.losses


def _strategy(name: str, losses: str, trains: str, sample: bool, description: str) -> Strategy:
    return Strategy(name, frozenset(losses.split()), frozenset(trains.split()), sample, description)


ALL_PARTS = _strategy("all_parts", "reconstruction kl prediction", "encoder decoder head", True,
                      "reconstruction + KL + prediction; encoder, decoder and head train")
AUTOENCODER = _strategy("autoencoder", "reconstruction kl", "encoder decoder", True,
                        "reconstruction + KL; encoder and decoder train (a VAE)")
CLASSIFIER_HEAD = _strategy("classifier_head", "prediction", "head", True,
                            "prediction; only the head trains on the frozen encoder's sampled z")
MLP_CLASSIFIER = _strategy("mlp_classifier", "prediction", "encoder head", False,
                           "prediction; encoder + head as a plain MLP (deterministic neck, no KL)")
VAR_MLP_CLASSIFIER = _strategy("var_mlp_classifier", "prediction kl", "encoder head", True,
                               "prediction + KL; the head sees sampled z in training, z_mean at inference")
STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (ALL_PARTS, AUTOENCODER, CLASSIFIER_HEAD, MLP_CLASSIFIER, VAR_MLP_CLASSIFIER)}


def get_strategy(name: str | Strategy) -> Strategy:
    """Look a strategy up by name (a :class:`Strategy` passes through)."""
    return name if isinstance(name, Strategy) else lookup(STRATEGIES, "strategy", name)
