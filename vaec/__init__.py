"""vaec: a variational autoencoder + classifier on tensors, and its training strategies.

The names below load on first use, so ``import vaec.config`` (or a command line that only parses
its arguments) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {name: module for module, names in {
    "vaec.classifier": "VAEC InputError",
    "vaec.config": "ConfigError ModelSettings VAECConfig STRATEGIES Strategy get_strategy",
    "vaec.history": "History TrainingResult",
    "vaec.model": "VAECNet VAECOutput",
    "vaec.persistence": "ModelFileError",
    "vaec.tasks": "Task get_task",
}.items() for name in names.split()}

__all__ = [
    "STRATEGIES", "VAEC", "ConfigError", "History", "InputError", "ModelFileError", "ModelSettings",
    "Strategy", "Task", "TrainingResult", "VAECConfig", "VAECNet", "VAECOutput", "__version__",
    "get_strategy", "get_task",
]

if TYPE_CHECKING:
    from vaec.classifier import VAEC, InputError
    from vaec.config import STRATEGIES, ConfigError, ModelSettings, Strategy, VAECConfig, get_strategy
    from vaec.history import History, TrainingResult
    from vaec.model import VAECNet, VAECOutput
    from vaec.persistence import ModelFileError
    from vaec.tasks import Task, get_task


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vaec' has no attribute {name!r}")
