"""vaec: a variational autoencoder + classifier on tensors, and its training strategies.

The names below load on first use, so ``import vaec.config`` (or a command line that only parses
its arguments) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "VAEC": "vaec.classifier",
    "InputError": "vaec.classifier",
    "ConfigError": "vaec.config",
    "VAECConfig": "vaec.config",
    "History": "vaec.history",
    "TrainingResult": "vaec.history",
    "VAECNet": "vaec.model",
    "VAECOutput": "vaec.model",
    "STRATEGIES": "vaec.strategies",
    "Strategy": "vaec.strategies",
    "get_strategy": "vaec.strategies",
}

__all__ = [
    "STRATEGIES",
    "VAEC",
    "ConfigError",
    "History",
    "InputError",
    "Strategy",
    "TrainingResult",
    "VAECConfig",
    "VAECNet",
    "VAECOutput",
    "__version__",
    "get_strategy",
]

if TYPE_CHECKING:
    from vaec.classifier import VAEC, InputError
    from vaec.config import ConfigError, VAECConfig
    from vaec.history import History, TrainingResult
    from vaec.model import VAECNet, VAECOutput
    from vaec.strategies import STRATEGIES, Strategy, get_strategy


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vaec' has no attribute {name!r}")
