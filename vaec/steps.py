"""The training step the loop runs: the hand-fused one, the eager one, or the eager one compiled.

``VAECConfig.training_step`` chooses:

- ``auto`` (the default): :class:`vaec.fused.FusedStep` wherever it applies, else eager;
- ``eager``: the loss through autograd, ``backward()`` and ``torch.optim.AdamW``;
- ``compiled``: ``torch.compile`` of the fused step's gradients where the fused step applies
  (of the eager step elsewhere), and the eager step where compiling is not available or fails.
  Compiling costs tens of seconds for every network (a pruning round builds a new one), more
  than it saves on a round of a few seconds, so nothing compiles unless asked.

Every step is called as ``step(x, y, rows, generators, full_batch)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch

from vaec.config import Strategy, VAECConfig
from vaec.fused import FusedStep, fused_step_supported
from vaec.model import Generators, VAECNet, Weights, kl_loss, reconstruction_loss, row_mean

Step = Callable[[torch.Tensor, torch.Tensor, Weights, Sequence[torch.Generator], bool], None]
# the backend of the compiled step (tests set a cheaper one)
COMPILE_BACKEND = "inductor"


def training_loss(net: VAECNet, x: torch.Tensor, y: torch.Tensor, strategy: Strategy,
                  weights: dict[str, float], generator: Generators, rows: Weights) -> torch.Tensor:
    """Weighted total of the counted losses, summed over replicas (replicas stay independent);
    ``rows`` weighs each replica's rows (``None``: all alike)."""
    out = net(
        x, sample_head=strategy.sample_head, sample_decoder=strategy.sample_decoder,
        generator=generator, decode=bool(weights["reconstruction"]),
        classify=bool(weights["prediction"]),
    )
    total = torch.zeros(net.n_replicas, device=x.device)
    if weights["kl"]:
        total = total + weights["kl"] * kl_loss(out.z_mean, out.z_log_var, rows)
    if out.reconstruction is not None:
        total = total + weights["reconstruction"] * reconstruction_loss(out.reconstruction, x, rows)
    if out.logits is not None:
        prediction = row_mean(net.config.task.prediction_losses(out.logits, y), rows)
        total = total + weights["prediction"] * prediction
    return total.sum()


def adamw(parameters: list[torch.Tensor], config: VAECConfig) -> torch.optim.Optimizer:
    """AdamW as one fused kernel where this torch has it (a step of a small model is mostly
    per-parameter overhead), else the multi-tensor version."""
    options = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    try:
        return torch.optim.AdamW(parameters, fused=True, **options)
    except (RuntimeError, TypeError):  # pragma: no cover - older torch or another device
        return torch.optim.AdamW(parameters, foreach=True, **options)


class EagerStep:
    """Forward, ``backward()`` and ``torch.optim.AdamW`` over the ``trainable`` parameters."""

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float],
                 trainable: list[torch.Tensor]) -> None:
        self.net, self.strategy, self.weights = net, strategy, weights
        self.optimizer = adamw(trainable, net.config)

    def step(self, x: torch.Tensor, y: torch.Tensor, rows: Weights,
             generators: Sequence[torch.Generator]) -> None:
        """One eager step."""
        loss = training_loss(self.net, x, y, self.strategy, self.weights, generators, rows)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def __call__(self, x: torch.Tensor, y: torch.Tensor, rows: Weights,
                 generators: Sequence[torch.Generator], full_batch: bool = False) -> None:
        self.step(x, y, rows, generators)


class CompiledStep(EagerStep):
    """A step under ``torch.compile`` (graph breaks allowed): the fused step's gradients where
    it applies (its noise drawn outside the graph, its AdamW the one fused kernel), else the
    eager step. When compiling fails the eager step runs from then on, with one warning."""

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float],
                 trainable: list[torch.Tensor], fused: bool | None = None) -> None:
        super().__init__(net, strategy, weights, trainable)
        if fused is None:
            fused = fused_step_supported(net, strategy, weights) is None
        config = net.config
        self.fused = FusedStep(net, strategy, weights, config.learning_rate,
                               config.weight_decay) if fused else None
        target = self.fused.gradients_given if self.fused is not None else self.step
        self.compiled: Callable[..., object] | None = None
        try:
            self.compiled = torch.compile(target, fullgraph=False, backend=COMPILE_BACKEND)
        except Exception as err:  # compile unavailable on this platform or Python
            self._give_up(err)

    def _give_up(self, err: BaseException) -> None:
        warnings.warn(f"torch.compile is unavailable here ({type(err).__name__}: {err}); "
                      "training eagerly", RuntimeWarning, stacklevel=3)
        self.compiled = None

    def _run_compiled(self, *args: object) -> tuple[bool, object]:
        """(whether it ran, what it returned) of the compiled function on ``args``: it does not
        run when compiling is off or fails (then off from now on)."""
        if self.compiled is None:
            return False, None
        try:
            return True, self.compiled(*args)
        except Exception as err:
            self._give_up(err)
            return False, None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, rows: Weights,
                 generators: Sequence[torch.Generator], full_batch: bool = False) -> None:
        if self.fused is None:
            ran, _ = self._run_compiled(x, y, rows, generators)
            if not ran:
                self.step(x, y, rows, generators)
            return
        fused = self.fused
        c = fused.constants(x, y, rows, full_batch)
        eps_d, eps_h = fused.draw_noise(x.shape[0], generators, x)
        args = (c.x, c.x_t, c.reconstruction, c.kl, c.kl_half, c.prediction, c.target, eps_d, eps_h)
        with torch.no_grad():
            ran, grads = self._run_compiled(*args)
            if not ran:  # the same draws, eagerly
                grads = fused.gradients_given(*args)
        fused.update(grads)


def make_step(net: VAECNet, strategy: Strategy, weights: dict[str, float],
              trainable: list[torch.Tensor]) -> Step:
    """The step ``net.config.training_step`` asks for (see the module's description)."""
    choice = net.config.training_step
    if choice == "compiled":
        return CompiledStep(net, strategy, weights, trainable)
    if choice == "auto" and fused_step_supported(net, strategy, weights) is None:
        config = net.config
        return FusedStep(net, strategy, weights, config.learning_rate, config.weight_decay)
    return EagerStep(net, strategy, weights, trainable)
