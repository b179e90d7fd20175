"""vaec: a variational autoencoder + classifier on tensors, and its training strategies."""

from vaec.classifier import VAEC, InputError
from vaec.config import ConfigError, VAECConfig
from vaec.history import History, TrainingResult
from vaec.model import VAECNet, VAECOutput
from vaec.strategies import STRATEGIES, Strategy, get_strategy

__version__ = "0.1.0"

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
