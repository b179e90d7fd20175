"""Save and load a :class:`~vaec.classifier.VAEC` as a folder: JSON + tensor weights.

``model.json`` holds the format version, the config, the replica count, the class labels and the
model's JSON extras; ``weights.pt`` holds the state dict, read back with
``torch.load(weights_only=True)``, which unpickles tensors only and never runs code from the file.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaec.atomic_files import atomic_write_bytes, atomic_write_text
from vaec.config import VAECConfig

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.pt"


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


def save_model(model: Any, folder: str | os.PathLike[str]) -> Path:
    """Write ``model.json`` and ``weights.pt`` into ``folder``, each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
    torch.save(state, buffer)
    atomic_write_bytes(folder / WEIGHTS_FILE, buffer.getvalue())
    meta = {
        "format_version": FORMAT_VERSION,
        "config": model.config.to_dict(),
        "n_replicas": model.n_replicas,
        "classes": _labels_to_json(model.classes_),
        "extras": model.extras,
    }
    atomic_write_text(folder / MODEL_FILE, json.dumps(meta, indent=2, sort_keys=True))
    return folder


def load_model(folder: str | os.PathLike[str], device: str | None = None) -> Any:
    """Rebuild a model saved by :func:`save_model`, optionally on another device."""
    from vaec.classifier import VAEC

    folder = Path(folder)
    meta_path, weights_path = folder / MODEL_FILE, folder / WEIGHTS_FILE
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"not a saved VAEC model folder: {path} is missing")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{meta_path}: format_version {version!r} is not {FORMAT_VERSION}")
    config_data = dict(meta["config"])
    if device is not None:
        config_data["device"] = device
    config = VAECConfig.from_dict(config_data)
    model = VAEC(config, n_replicas=int(meta["n_replicas"]), classes=_labels_from_json(meta["classes"]))
    state = torch.load(weights_path, map_location=model.device, weights_only=True)
    model.net.load_state_dict(state)
    model.extras = meta.get("extras") or {}
    return model
