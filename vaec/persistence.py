"""Save and load a model as a folder: JSON + tensor weights.

``model.json`` holds the format version, the config, the replica count, the class labels and the
fitted statistics (latent domain, reconstruction check); ``weights.pt`` holds the state dict, read
back with ``torch.load(weights_only=True)``, which unpickles tensors only and never runs code from
the file. This module knows the files, not the :class:`~vaec.classifier.VAEC` class: it saves and
returns a :class:`SavedModel`, which ``VAEC.save`` / ``VAEC.load`` convert.

Loading checks a folder before anything is built from it: the sizes in ``model.json`` against
:data:`LIMITS`, and the shape of every tensor in ``weights.pt`` against the network those sizes
describe. A hand-edited or damaged folder is one :class:`ModelFileError` naming the file, not a
160 GB allocation or a traceback.
"""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaec.atomic_files import atomic_write_bytes, atomic_write_text
from vaec.config import ConfigError, VAECConfig
from vaec.domain import LatentDomain
from vaec.model import VAECNet
from vaec.reconstruction_check import ReconstructionCheck

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"
# The largest sizes a model.json may ask for: far beyond the tables this project selects from,
# far below what would exhaust a machine's memory while the files are being checked.
LIMITS = {
    "n_inputs": 1_000_000,
    "n_classes": 100_000,
    "latent_dim": 4_096,
    "layer width": 65_536,
    "n_replicas": 4_096,
    "parameters": 2**31,  # 8 GB of float32
}


class ModelFileError(ValueError):
    """A model folder whose files cannot be loaded as they are; the message names the file."""


@dataclass
class SavedModel:
    """Everything a model folder holds.

    Attributes
    ----------
    config : VAECConfig
        Architecture and training settings.
    n_replicas : int
        Number of replicas in the weights.
    classes : ndarray or None
        Class labels in index order.
    state : dict of str to Tensor
        The network's state dict.
    latent_domain : LatentDomain or None
        Fitted latent domain of validity.
    reconstruction_check : ReconstructionCheck or None
        Fitted reconstruction errors of the training rows.
    """

    config: VAECConfig
    n_replicas: int
    classes: np.ndarray | None
    state: dict[str, torch.Tensor]
    latent_domain: LatentDomain | None = None
    reconstruction_check: ReconstructionCheck | None = None


def _labels_to_json(classes: np.ndarray | None) -> dict[str, Any] | None:
    if classes is None:
        return None
    kind = classes.dtype.kind
    if kind in "iu":
        return {"dtype": "int", "values": [int(c) for c in classes]}
    if kind == "b":
        return {"dtype": "bool", "values": [bool(c) for c in classes]}
    if kind == "f":
        return {"dtype": "float", "values": [float(c) for c in classes]}
    return {"dtype": "str", "values": [str(c) for c in classes]}


def _labels_from_json(data: dict[str, Any] | None) -> np.ndarray | None:
    if data is None:
        return None
    dtypes = {"int": np.int64, "bool": np.bool_, "float": np.float64, "str": np.str_}
    return np.asarray(data["values"], dtype=dtypes[data["dtype"]])


def save_model(saved: SavedModel, folder: str | os.PathLike[str]) -> Path:
    """Write ``model.json`` and ``weights.pt`` into ``folder``, each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in saved.state.items()}, buffer)
    atomic_write_bytes(folder / WEIGHTS_FILE, buffer.getvalue())
    meta = {
        "format_version": FORMAT_VERSION,
        "config": saved.config.to_dict(),
        "n_replicas": saved.n_replicas,
        "classes": _labels_to_json(saved.classes),
        "latent_domain": saved.latent_domain.to_dict() if saved.latent_domain else None,
        "reconstruction_check": (
            saved.reconstruction_check.to_dict() if saved.reconstruction_check else None
        ),
    }
    atomic_write_text(folder / MODEL_FILE, json.dumps(meta, indent=2, sort_keys=True))
    return folder


def _read_meta(meta_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{meta_path}: cannot be read as JSON ({err})") from err
    if not isinstance(meta, dict):
        raise ModelFileError(f"{meta_path}: expected a JSON object")
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{meta_path}: format_version {version!r} is not one of {READABLE_VERSIONS}")
    if not isinstance(meta.get("config"), dict):
        raise ModelFileError(f"{meta_path}: 'config' is missing or not an object")
    return meta


def _check_sizes(config: VAECConfig, n_replicas: Any, meta_path: Path) -> int:
    """The replica count, once every size of the config is within :data:`LIMITS`."""
    if isinstance(n_replicas, bool) or not isinstance(n_replicas, int) or n_replicas < 1:
        raise ModelFileError(f"{meta_path}: n_replicas must be a positive integer, got {n_replicas!r}")
    widths = [*config.encoder_widths, *config.decoder_layer_widths, *config.head_widths]
    sizes = [("n_inputs", config.n_inputs), ("n_classes", config.n_classes),
             ("latent_dim", config.latent_dim), ("n_replicas", n_replicas),
             *(("layer width", w) for w in widths)]
    for name, value in sizes:
        if value > LIMITS[name]:
            raise ModelFileError(f"{meta_path}: {name} {value} is over the limit of {LIMITS[name]}")
    return n_replicas


def _read_state(weights_path: Path, expected: dict[str, tuple[int, ...]],
                device: torch.device) -> dict[str, torch.Tensor]:
    """The weights, read only after the file's size fits ``expected`` and checked to have
    exactly its tensors and shapes."""
    n_values = sum(math.prod(shape) for shape in expected.values())
    if n_values > LIMITS["parameters"]:
        raise ModelFileError(f"{weights_path.parent / MODEL_FILE}: the network it describes has "
                             f"{n_values} parameters, over the limit of {LIMITS['parameters']}")
    # a file far larger than the tensors it should hold is not read into memory
    if weights_path.stat().st_size > 8 * n_values + 2**20:
        raise ModelFileError(f"{weights_path}: {weights_path.stat().st_size} bytes is far more "
                             f"than the {n_values} values {MODEL_FILE} describes")
    try:
        state = torch.load(weights_path, map_location=device, weights_only=True)
    # what the tensor-only unpickler raises on a damaged file varies (UnpicklingError,
    # RuntimeError, EOFError, KeyError, ...): any failure here is the file's
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"{weights_path}: not a readable weights file of tensors "
                             f"({first})") from err
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise ModelFileError(f"{weights_path}: holds no state dict of tensors")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        detail = ", ".join([*(f"{k} missing" for k in missing[:3]),
                            *(f"{k} unexpected" for k in unexpected[:3])])
        raise ModelFileError(f"{weights_path}: its tensors do not match {MODEL_FILE} ({detail})")
    for name, shape in expected.items():
        if tuple(state[name].shape) != shape:
            raise ModelFileError(
                f"{weights_path}: {name} has shape {tuple(state[name].shape)} but {MODEL_FILE} "
                f"describes {shape}")
    return state


def load_model(folder: str | os.PathLike[str], device: str | None = None) -> SavedModel:
    """Read a folder written by :func:`save_model`, optionally for another device.

    Raises
    ------
    FileNotFoundError
        When ``model.json`` or ``weights.pt`` is missing.
    ModelFileError
        When a file cannot be read, a size is over :data:`LIMITS`, or the weights do not have
        the shapes ``model.json`` describes (checked before anything is built).
    ConfigError
        When the config in ``model.json`` is invalid (the message names the file).
    """
    folder = Path(folder)
    meta_path, weights_path = folder / MODEL_FILE, folder / WEIGHTS_FILE
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"not a saved VAEC model folder: {path} is missing")
    meta = _read_meta(meta_path)
    # version 1 kept the fitted statistics under "extras"
    fitted = (meta.get("extras") or {}) if meta["format_version"] == 1 else meta
    config_data = dict(meta["config"])
    config_data.pop("extra", None)
    if device is not None:
        config_data["device"] = device
    try:
        config = VAECConfig.from_dict(config_data)
    except TypeError as err:  # a value of the wrong JSON type
        raise ModelFileError(f"{meta_path}: bad config ({err})") from err
    except ConfigError as err:
        raise ConfigError(f"{meta_path}: {err}") from err
    n_replicas = _check_sizes(config, meta.get("n_replicas"), meta_path)
    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, dict)
                                or not isinstance(classes.get("values"), list)
                                or len(classes["values"]) != config.n_classes):
        raise ModelFileError(f"{meta_path}: 'classes' does not hold n_classes={config.n_classes} "
                             "labels")
    state = _read_state(weights_path, VAECNet.state_shapes(config, n_replicas),
                        config.torch_device())
    try:
        domain = fitted.get("latent_domain")
        check = fitted.get("reconstruction_check")
        return SavedModel(
            config=config,
            n_replicas=n_replicas,
            classes=_labels_from_json(classes),
            state=state,
            latent_domain=LatentDomain.from_dict(domain) if domain else None,
            reconstruction_check=ReconstructionCheck.from_dict(check) if check else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ModelFileError(f"{meta_path}: malformed classes or fitted statistics "
                             f"({type(err).__name__}: {err})") from err
