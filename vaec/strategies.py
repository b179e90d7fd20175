"""Training strategies as data: which losses count and which parts train.

One training loop (:func:`vaec.training.train`) runs every strategy; the names are the seed
prototype's, so its users recognise them.
"""

from __future__ import annotations

from dataclasses import dataclass

LOSSES = ("reconstruction", "kl", "prediction")


@dataclass(frozen=True)
class Strategy:
    """What one training run optimises.

    Parameters
    ----------
    name : str
        Short name, e.g. ``all_parts``.
    losses : frozenset of str
        Losses in the total: any of ``reconstruction``, ``kl``, ``prediction``.
    trains : frozenset of str
        Parts whose weights change: any of ``encoder``, ``decoder``, ``head``. The others are
        frozen (not in the optimiser, evaluation mode).
    sample_head : bool
        During training the head sees the sampled z (``True``) or z_mean (``False``). At
        inference the head always sees z_mean unless sampling is asked for.
    sample_decoder : bool
        During training the decoder sees the sampled z (``True``) or z_mean.
    description : str
        One line for people.
    """

    name: str
    losses: frozenset[str]
    trains: frozenset[str]
    sample_head: bool
    sample_decoder: bool = True
    description: str = ""

    @property
    def uses_prediction(self) -> bool:
        """Whether the head is trained for the target (then the best epoch is by F1/accuracy)."""
        return "prediction" in self.losses


ALL_PARTS = Strategy(
    "all_parts",
    frozenset(LOSSES),
    frozenset({"encoder", "decoder", "head"}),
    sample_head=True,
    description="reconstruction + KL + prediction; encoder, decoder and head train",
)
AUTOENCODER = Strategy(
    "autoencoder",
    frozenset({"reconstruction", "kl"}),
    frozenset({"encoder", "decoder"}),
    sample_head=True,
    description="reconstruction + KL; encoder and decoder train (a VAE)",
)
CLASSIFIER_HEAD = Strategy(
    "classifier_head",
    frozenset({"prediction"}),
    frozenset({"head"}),
    sample_head=True,
    description="prediction; only the head trains on the frozen encoder's sampled z",
)
MLP_CLASSIFIER = Strategy(
    "mlp_classifier",
    frozenset({"prediction"}),
    frozenset({"encoder", "head"}),
    sample_head=False,
    description="prediction; encoder + head as a plain MLP (deterministic neck, no KL)",
)
VAR_MLP_CLASSIFIER = Strategy(
    "var_mlp_classifier",
    frozenset({"prediction", "kl"}),
    frozenset({"encoder", "head"}),
    sample_head=True,
    description="prediction + KL; the head sees sampled z in training, z_mean at inference",
)

STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (ALL_PARTS, AUTOENCODER, CLASSIFIER_HEAD, MLP_CLASSIFIER, VAR_MLP_CLASSIFIER)
}


def get_strategy(name: str | Strategy) -> Strategy:
    """Look a strategy up by name (a :class:`Strategy` passes through)."""
    if isinstance(name, Strategy):
        return name
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"strategy must be one of {', '.join(STRATEGIES)}; got {name!r}"
        ) from None
