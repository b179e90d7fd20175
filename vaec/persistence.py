"""What a model writes to disk: a folder of JSON + tensor weights, each file written atomically
(a temporary file beside the target, flushed and renamed over it: no reader sees half a file).

``weights.pt`` is read with ``torch.load(weights_only=True)``, which never runs code from the file,
and only after ``model.json`` passed its schema and :data:`LIMITS` and the file's size fits the
network it describes: a damaged folder is one :class:`ModelFileError` naming the file and field.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vaec.config import MAX_LATENT_DIM, MAX_WIDTH, VAECConfig, torch_device, validation_message

if TYPE_CHECKING:  # loaded where a model is saved or loaded: the atomic writes start without
    import torch

    from vaec.domain import LatentDomain, ReconstructionCheck

FORMAT_VERSION = 2
MODEL_FILE, WEIGHTS_FILE = "model.json", "weights.pt"
# The largest sizes model.json may ask for: far beyond our tables, far below a machine's memory.
LIMITS = {"n_inputs": 1_000_000, "n_classes": 100_000, "latent_dim": MAX_LATENT_DIM, "layer width": MAX_WIDTH,
          "n_replicas": 4_096, "parameters": 2**31}  # parameters: 8 GB of float32
_DTYPES = {"int": np.int64, "bool": np.bool_, "float": np.float64, "str": np.str_}


class ModelFileError(ValueError):
    """A model folder whose files cannot be loaded as they are; the message names the file."""


@dataclass
class SavedModel:
    """Everything a model folder holds (classes in index order; ``None``: none, or not fitted)."""

    config: VAECConfig
    n_replicas: int
    classes: np.ndarray | None
    state: dict[str, torch.Tensor]
    latent_domain: LatentDomain | None = None
    reconstruction_check: ReconstructionCheck | None = None


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Labels(_Part):
    dtype: Literal["int", "bool", "float", "str"]
    values: list[bool | int | float | str]

    def array(self) -> np.ndarray:
        return np.asarray(self.values, dtype=_DTYPES[self.dtype])

    @model_validator(mode="after")
    def _of_the_dtype(self) -> _Labels:
        try:
            self.array()
        except (TypeError, ValueError):
            raise ValueError(f"classes: the values are not all of dtype {self.dtype}") from None
        return self


class _Isotropic(_Part):
    center: list[float]
    sigma: float = Field(gt=0)
    n_samples: int = Field(ge=2)


class _Diagonal(_Part):
    mean: list[float]
    std: list[float]
    n_samples: int = Field(ge=3)


class _LatentDomain(_Part):
    format_version: Literal[1] = 1
    isotropic: _Isotropic
    diagonal: _Diagonal
    n_draws: int = Field(ge=1)
    seed: int = Field(ge=0)
    replica: int = Field(0, ge=0)

    def build(self) -> LatentDomain:
        from vaec.domain import DiagonalGaussian, IsotropicGaussian, LatentDomain
        iso, diag = self.isotropic, self.diagonal
        return LatentDomain(IsotropicGaussian(np.asarray(iso.center), iso.sigma, iso.n_samples),
                            DiagonalGaussian(np.asarray(diag.mean), np.asarray(diag.std), diag.n_samples),
                            self.n_draws, self.seed, self.replica)


class _ReconstructionCheck(_Part):
    format_version: Literal[1] = 1
    errors: list[float] = Field(min_length=2)
    n_samples: int = Field(ge=2)

    def build(self) -> ReconstructionCheck:
        from vaec.domain import ReconstructionCheck
        return ReconstructionCheck(np.asarray(self.errors), self.n_samples)


class ModelFile(_Part):
    """``model.json``, validated field by field (version 1 kept the fitted statistics in ``extras``)."""

    format_version: Literal[1, 2] = FORMAT_VERSION
    config: VAECConfig
    n_replicas: int = Field(ge=1)
    classes: _Labels | None = None
    latent_domain: _LatentDomain | None = None
    reconstruction_check: _ReconstructionCheck | None = None

    @model_validator(mode="before")
    @classmethod
    def _version_1_extras(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("format_version") == 1:
            data = {k: v for k, v in data.items() if k != "extras"} | dict(data.get("extras") or {})
        return data

    @model_validator(mode="after")
    def _sizes_within_the_limits(self) -> ModelFile:
        config = self.config
        widths = [*config.encoder_widths, *config.decoder_layer_widths, *config.head_widths]
        for name, value in [("n_inputs", config.n_inputs), ("n_classes", config.n_classes),
                            ("latent_dim", config.latent_dim), ("n_replicas", self.n_replicas),
                            *(("layer width", w) for w in widths)]:
            if value > LIMITS[name]:
                raise ValueError(f"{name} {value} is over the limit of {LIMITS[name]}")
        if self.classes is not None and len(self.classes.values) != config.n_classes:
            raise ValueError(f"classes does not hold n_classes={config.n_classes} labels")
        return self


def _read_state(weights_path: Path, meta: ModelFile) -> dict[str, torch.Tensor]:
    """The weights, read only when the file's size fits the network ``meta`` describes, checked to
    hold its tensors' shapes."""
    import torch

    from vaec.model import VAECNet
    device = torch_device(meta.config.device)
    with torch.device("meta"):  # the network's shapes, without its memory
        net = VAECNet(meta.config, meta.n_replicas)
    expected = {name: tuple(t.shape) for name, t in net.state_dict().items()}
    n_values = sum(math.prod(shape) for shape in expected.values())
    if n_values > LIMITS["parameters"]:
        raise ModelFileError(f"{weights_path.parent / MODEL_FILE}: the network it describes has "
                             f"{n_values} parameters, over the limit of {LIMITS['parameters']}")
    # a file far larger than its tensors is not read into memory, nor one that would expand to that
    most = 8 * n_values + 2**20
    if weights_path.stat().st_size > most:
        raise ModelFileError(f"{weights_path}: {weights_path.stat().st_size} bytes is far more than the "
                             f"{n_values} values {MODEL_FILE} describes")
    try:  # a compressed archive's sizes are in its directory, read first
        with zipfile.ZipFile(weights_path) as archive:
            expanded = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        expanded = None  # no zip archive: torch.load judges it
    if expanded is not None and expanded > most:
        raise ModelFileError(f"{weights_path}: expands to {expanded} bytes, far more than the "
                             f"{n_values} values {MODEL_FILE} describes; not read")
    try:
        state = torch.load(weights_path, map_location=device, weights_only=True)
    # what the tensor-only unpickler raises on a damaged file varies: any failure here is the file's
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"{weights_path}: not a readable weights file of tensors ({first})") from err
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise ModelFileError(f"{weights_path}: holds no state dict of tensors")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        detail = ", ".join([f"{k} missing" for k in missing[:3]] + [f"{k} unexpected" for k in extra[:3]])
        raise ModelFileError(f"{weights_path}: its tensors do not match {MODEL_FILE} ({detail})")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise ModelFileError(f"{weights_path}: {name} has shape {tuple(state[name].shape)} "
                                 f"but {MODEL_FILE} describes {shape}")
        if state[name].is_floating_point() and not bool(torch.isfinite(state[name]).all()):
            raise ModelFileError(f"{weights_path}: {name} holds NaN or infinite values (the model diverged "
                                 "in training: train it again with a lower learning_rate)")
    return state


def save_model(saved: SavedModel, folder: str | os.PathLike[str]) -> Path:
    """Write ``weights.pt`` and then ``model.json`` into ``folder``, each atomically."""
    import torch
    buffer, folder = io.BytesIO(), Path(folder)
    torch.save({k: v.detach().cpu() for k, v in saved.state.items()}, buffer)
    atomic_write_bytes(folder / WEIGHTS_FILE, buffer.getvalue())
    classes, labels = saved.classes, None
    if classes is not None:
        kind = {"i": "int", "u": "int", "b": "bool", "f": "float"}.get(classes.dtype.kind, "str")
        labels = {"dtype": kind, "values": np.asarray(classes, dtype=_DTYPES[kind]).tolist()}
    fitted = {name: None if value is None else {"format_version": 1, **asdict(value)}
              for name, value in (("latent_domain", saved.latent_domain),
                                  ("reconstruction_check", saved.reconstruction_check))}
    model_file = {"format_version": FORMAT_VERSION, "config": saved.config.model_dump(mode="json"),
                  "n_replicas": saved.n_replicas, "classes": labels, **fitted}
    # the fitted statistics' arrays (and numpy scalars) as lists
    text = json.dumps(model_file, indent=2, sort_keys=True, default=lambda value: value.tolist())
    atomic_write_text(folder / MODEL_FILE, text)
    return folder


def load_model(folder: str | os.PathLike[str], device: str | None = None) -> SavedModel:
    """Read a folder written by :func:`save_model`, optionally for another device. Raises
    FileNotFoundError when a file is missing, :class:`ModelFileError` when one cannot be read, is
    invalid or over :data:`LIMITS`, or does not fit the other."""
    meta_path, weights_path = Path(folder) / MODEL_FILE, Path(folder) / WEIGHTS_FILE
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"not a saved VAEC model folder: {path} is missing")
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{meta_path}: cannot be read as JSON ({err})") from err
    if not isinstance(data, dict):
        raise ModelFileError(f"{meta_path}: expected a JSON object")
    if isinstance(data.get("config"), dict):
        # "extra" is a key of early configs; the caller may load the model on another device
        config = {k: v for k, v in data["config"].items() if k != "extra"}
        data["config"] = config | ({} if device is None else {"device": device})
    try:
        meta = ModelFile.model_validate(data)
    except ValidationError as err:
        raise ModelFileError(f"{meta_path}: {validation_message(err)}") from None
    state = _read_state(weights_path, meta)
    domain, check = meta.latent_domain, meta.reconstruction_check
    return SavedModel(meta.config, meta.n_replicas, None if meta.classes is None else meta.classes.array(),
                      state, None if domain is None else domain.build(),
                      None if check is None else check.build())


def _fsync(path: Path, flags: int = 0) -> None:
    """Flush a file's data (or, with ``O_DIRECTORY``, a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY | flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _naming(err: OSError, target: Path) -> OSError:
    """``err`` naming the target (a full disk's error names none, or the temporary file)."""
    return type(err)(err.errno, err.strerror or str(err), str(target))


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` (which writes and closes the file), flush it to disk, then rename it
    to ``path`` (its folder created when missing); returns ``path``."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _naming(err, target) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates the file private; a report is for people to read
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise _naming(err, target) from None
        raise
    # folders cannot be opened on Windows, some file systems refuse to sync them; the data is safe
    with contextlib.suppress(OSError):
        _fsync(target.parent, getattr(os, "O_DIRECTORY", 0))
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))
