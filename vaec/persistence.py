"""Save and load a model as a folder: JSON + tensor weights.

``model.json`` holds the format version, the config, the replica count, the class labels and the
fitted statistics (latent domain, reconstruction check); ``weights.pt`` holds the state dict, read
back with ``torch.load(weights_only=True)``, which unpickles tensors only and never runs code from
the file. This module knows the files, not the :class:`~vaec.classifier.VAEC` class: it saves and
returns a :class:`SavedModel`, which ``VAEC.save`` / ``VAEC.load`` convert.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaec.atomic_files import atomic_write_bytes, atomic_write_text
from vaec.config import VAECConfig
from vaec.domain import LatentDomain
from vaec.reconstruction_check import ReconstructionCheck

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"


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


def load_model(folder: str | os.PathLike[str], device: str | None = None) -> SavedModel:
    """Read a folder written by :func:`save_model`, optionally for another device."""
    folder = Path(folder)
    meta_path, weights_path = folder / MODEL_FILE, folder / WEIGHTS_FILE
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"not a saved VAEC model folder: {path} is missing")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"{meta_path}: format_version {version!r} is not one of {READABLE_VERSIONS}")
    # version 1 kept the fitted statistics under "extras"
    fitted = (meta.get("extras") or {}) if version == 1 else meta
    config_data = dict(meta["config"])
    config_data.pop("extra", None)
    if device is not None:
        config_data["device"] = device
    config = VAECConfig.from_dict(config_data)
    state = torch.load(weights_path, map_location=config.torch_device(), weights_only=True)
    domain = fitted.get("latent_domain")
    check = fitted.get("reconstruction_check")
    return SavedModel(
        config=config,
        n_replicas=int(meta["n_replicas"]),
        classes=_labels_from_json(meta["classes"]),
        state=state,
        latent_domain=LatentDomain.from_dict(domain) if domain else None,
        reconstruction_check=ReconstructionCheck.from_dict(check) if check else None,
    )
