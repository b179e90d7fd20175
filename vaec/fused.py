"""The training step written out by hand: forward, the gradients of the losses, AdamW.

A step of a small model is bound by the cost of calling an op, not by arithmetic: the eager
step (autograd graph, ~250 ops and nodes, ``optimizer.step()`` bookkeeping) spends most of its
time between the kernels. :class:`FusedStep` computes the same gradients with about a third of
the calls:

- no autograd graph: the backward of every layer is written out (the same ATen kernels
  autograd calls: ``bmm`` of the transposed input, the bias' row sum, the activations'
  ``*_backward`` ops), and only the parameters that train get a gradient;
- the loss value is never formed: a step needs its gradient only (the recorded metrics come
  from the evaluation, as before);
- what is constant over the steps is computed once: every row's weight in each loss (row
  weights, the means' divisors, the loss weights), the one-hot targets;
- the noise is drawn into buffers kept from step to step, from the same per-replica streams in
  the same order (the draws are bit for bit the eager step's);
- AdamW is the fused kernel ``torch.optim.AdamW(fused=True)`` runs (``torch._fused_adamw_``),
  called directly with state of its own.

The numbers are the eager step's up to the order of floating-point sums (a gradient that
reaches a tensor by several paths is added up in another order): the same to a few units in the
last place per step. :func:`fused_step_supported` says when the step applies; the training loop
runs the eager step otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from vaec.config import Strategy
from vaec.model import LOG_VAR_MAX, LOG_VAR_MIN, ReplicaLinear, VAECNet

# activation -> (forward, backward(grad, pre-activation, output)), as nn's modules and autograd
_Forward = Callable[[torch.Tensor], torch.Tensor]
_Backward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
_aten = torch.ops.aten
ACTIVATIONS: dict[str, tuple[_Forward, _Backward]] = {
    "elu": (F.elu, lambda g, a, h: _aten.elu_backward(g, 1.0, 1, 1, False, a)),
    "relu": (torch.relu, lambda g, a, h: _aten.threshold_backward(g, h, 0)),
    "tanh": (torch.tanh, lambda g, a, h: _aten.tanh_backward(g, h)),
    "gelu": (F.gelu, lambda g, a, h: _aten.gelu_backward(g, a)),
    "silu": (F.silu, lambda g, a, h: _aten.silu_backward(g, a)),
    "leaky_relu": (F.leaky_relu, lambda g, a, h: _aten.leaky_relu_backward(g, a, 0.01, False)),
}
# AdamW's defaults (torch.optim.AdamW), which the eager step uses
BETAS, EPS = (0.9, 0.999), 1e-8


@functools.cache
def fused_adamw_available(device_type: str) -> bool:
    """Whether this torch has the fused AdamW kernel on that device (the CPU's came in 2.4).

    One step of the kernel on a one-element tensor asks it directly: building a
    ``torch.optim.AdamW`` to find out would import ``torch._dynamo`` (seconds) on the way.
    """
    kernel = getattr(torch, "_fused_adamw_", None)
    if kernel is None:
        return False
    one = [torch.zeros(1, device=device_type)]
    try:
        kernel(one, [torch.ones_like(t) for t in one], [torch.zeros_like(t) for t in one],
               [torch.zeros_like(t) for t in one], [], [torch.ones((), device=device_type)],
               amsgrad=False, lr=1e-3, beta1=BETAS[0], beta2=BETAS[1], weight_decay=0.0,
               eps=EPS, maximize=False, grad_scale=None, found_inf=None)
    except (RuntimeError, TypeError, NotImplementedError):
        return False
    return True


def fused_step_supported(net: VAECNet, strategy: Strategy, weights: dict[str, float]) -> str | None:
    """Why the fused step cannot train ``net`` with ``strategy`` (``None``: it can).

    It covers every strategy, task, activation and row weighting of the training loop, and
    leaves to the eager step: dropout (its masks come from the global generator), a head
    trained for a task without a target (nothing reaches it), a step where no loss counts or
    no loss reaches a part that trains, and a torch without the fused AdamW kernel.
    """
    config = net.config
    if config.dropout > 0:
        return "dropout"
    if not fused_adamw_available(net.encoder.z_mean.weight.device.type):
        return "no fused AdamW kernel in this torch"
    if config.activation not in ACTIVATIONS:
        return f"activation {config.activation!r}"
    if weights["prediction"] and not config.task.has_target:
        return "a prediction loss without a target"
    if not any(weights.values()):
        return "no loss counts"
    trains = strategy.trains
    if not ("encoder" in trains or ("decoder" in trains and weights["reconstruction"])
            or ("head" in trains and weights["prediction"])):
        return "no part that trains is reached by a loss"
    return None


def _layers(module: torch.nn.Module) -> list[ReplicaLinear]:
    return [m for m in module.modules() if isinstance(m, ReplicaLinear)]


class _Chain:
    """Linear layers applied in turn, an activation after each but the last unless
    ``act_after_last`` (a trunk has one after every layer; an MLP's output layer has none).

    The weights, biases and transposed weights are kept as tensors (views of the parameters,
    which the optimizer updates in place): no module attribute look-up or transpose per step.
    """

    def __init__(self, layers: list[ReplicaLinear], act_after_last: bool) -> None:
        self.layers = layers
        self.weights = [layer.weight for layer in layers]
        self.biases = [layer.bias for layer in layers]
        self.weights_t = [w.detach().transpose(1, 2) for w in self.weights]
        count = len(layers)
        self.activated = [i < count - 1 or act_after_last for i in range(count)]

    def forward(self, h: torch.Tensor, act: _Forward) -> tuple[torch.Tensor, list[tuple]]:
        cache = []
        for weight, bias, activated in zip(self.weights, self.biases, self.activated, strict=True):
            a = torch.baddbmm(bias, h, weight)
            out = act(a) if activated else a
            cache.append((h, a, out))
            h = out
        return h, cache

    def backward(self, g: torch.Tensor, cache: list[tuple], act_back: _Backward, train: bool,
                 grads: list[torch.Tensor], input_grad: bool,
                 first_input_t: torch.Tensor | None = None) -> torch.Tensor | None:
        """The gradient at the chain's input (``None`` unless ``input_grad``); the layers'
        weight and bias gradients are appended to ``grads`` (last layer first) when ``train``.
        ``first_input_t`` is the first layer's input transposed, when it is kept."""
        for i in range(len(self.layers) - 1, -1, -1):
            h, a, out = cache[i]
            if self.activated[i]:
                g = act_back(g, a, out)
            if train:
                h_t = first_input_t if i == 0 and first_input_t is not None else h.transpose(1, 2)
                grads.append(torch.bmm(h_t, g))
                grads.append(g.sum(dim=1, keepdim=True))
            if i == 0 and not input_grad:
                return None
            g = torch.bmm(g, self.weights_t[i])
        return g


class _Constants:
    """What a step's gradients need of one batch that does not change between steps: each row's
    factor in every loss (loss weight x row weight / the means' divisors) and the targets."""

    def __init__(self, net: VAECNet, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None,
                 weights: dict[str, float]) -> None:
        n, dtype, device = x.shape[0], x.dtype, x.device
        n_replicas = net.n_replicas

        def factor(weight: float, per_row: float = 1.0) -> torch.Tensor:
            upstream = torch.full((n_replicas, 1), weight, dtype=dtype, device=device)
            if per_row != 1.0:
                upstream = upstream / per_row
            if rows is None:
                return (upstream / n).unsqueeze(1)  # (replicas, 1, 1)
            # row_mean: (values * w).sum(1) / w.sum(1)
            return ((upstream / rows.sum(dim=1, keepdim=True)).unsqueeze(-1)
                    * rows.unsqueeze(-1))  # (replicas, rows, 1)

        self.x = net.expand(x)
        self.x_t = self.x.transpose(1, 2)
        self.reconstruction = factor(weights["reconstruction"], x.shape[1]) * 2.0
        self.kl = factor(weights["kl"])
        self.kl_half = self.kl * 0.5
        self.prediction = factor(weights["prediction"])
        task, n_outputs = net.config.task, net.config.task.n_outputs(net.config.n_classes)
        self.target = None
        if weights["prediction"]:
            if task.has_classes and n_outputs > 1:
                self.target = F.one_hot(y, n_outputs).to(dtype).unsqueeze(0)
            else:
                self.target = y.to(dtype).view(1, -1, 1)


class FusedStep:
    """One training step of every replica of ``net`` (forward, gradients, AdamW) without
    autograd; see the module's description. Call it as ``step(x, y, rows, generators)``.

    Parameters
    ----------
    net : VAECNet
        The network; its parameters are updated in place.
    strategy : Strategy
        Which losses count, which parts train, which part sees sampled z.
    weights : dict of str to float
        The weight of every loss (0 for those the strategy does not count).
    learning_rate, weight_decay : float
        AdamW's.
    """

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float],
                 learning_rate: float, weight_decay: float) -> None:
        reason = fused_step_supported(net, strategy, weights)
        if reason is not None:
            raise ValueError(f"the fused step does not cover this training ({reason})")
        self.net, self.strategy, self.weights = net, strategy, weights
        self.lr, self.weight_decay = learning_rate, weight_decay
        self.act, self.act_back = ACTIVATIONS[net.config.activation]
        enc = net.encoder
        self.trunk = _Chain(_layers(enc.trunk), act_after_last=True)
        self.decoder = _Chain([*_layers(net.decoder.trunk), net.decoder.out], act_after_last=False)
        self.head = _Chain([*_layers(net.head.trunk), net.head.out], act_after_last=False)
        self.z_mean_w, self.z_mean_b = enc.z_mean.weight, enc.z_mean.bias
        self.z_log_var_w, self.z_log_var_b = enc.z_log_var.weight, enc.z_log_var.bias
        self.z_mean_t = self.z_mean_w.detach().transpose(1, 2)
        self.z_log_var_t = self.z_log_var_w.detach().transpose(1, 2)
        self.decode, self.classify = bool(weights["reconstruction"]), bool(weights["prediction"])
        task, n_outputs = net.config.task, net.config.task.n_outputs(net.config.n_classes)
        self.output_kind = "softmax" if task.has_classes and n_outputs > 1 else (
            "sigmoid" if task.has_classes else "squared")
        self.sample_decoder = self.decode and strategy.sample_decoder
        self.sample_head = self.classify and strategy.sample_head
        trains = strategy.trains
        self.train_encoder = "encoder" in trains
        self.train_decoder = "decoder" in trains and self.decode
        self.train_head = "head" in trains and self.classify
        # z_log_var gets a gradient where the loss depends on it (the KL, a sampled z)
        self.uses_log_var = bool(weights["kl"]) or self.sample_decoder or self.sample_head
        self.params = self._parameters()
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        # one step count shared by every parameter (the kernel only reads it): one increment
        self.step_count = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        self.steps = [self.step_count] * len(self.params)
        self._constants: dict[int, _Constants] = {}
        self._noise: dict[tuple[int, ...], list[torch.Tensor]] = {}

    def _parameters(self) -> list[torch.Tensor]:
        """The parameters that get a gradient, in the order :meth:`gradients` gives them."""
        params: list[torch.Tensor] = []

        def chain(c: _Chain) -> None:
            for layer in reversed(c.layers):
                params.extend([layer.weight, layer.bias])

        if self.train_decoder:
            chain(self.decoder)
        if self.train_head:
            chain(self.head)
        if self.train_encoder:
            enc = self.net.encoder
            params.extend([enc.z_mean.weight, enc.z_mean.bias])
            if self.uses_log_var:
                params.extend([enc.z_log_var.weight, enc.z_log_var.bias])
            chain(self.trunk)
        return params

    def constants(self, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None,
                  cache: bool) -> _Constants:
        """The batch's constants; a full batch's (``cache``) are computed once."""
        if not cache:
            return _Constants(self.net, x, y, rows, self.weights)
        key = x.shape[0]
        if key not in self._constants:
            self._constants = {key: _Constants(self.net, x, y, rows, self.weights)}
        return self._constants[key]

    def _draw(self, shape: tuple[int, ...], generators: Sequence[torch.Generator] | torch.Generator | None,
              like: torch.Tensor, slot: int) -> torch.Tensor:
        """A draw of N(0, 1) noise of ``shape`` into a kept buffer: replica ``r`` from its own
        generator, exactly as :func:`vaec.model.sample_latent` draws it."""
        key = (*shape, slot)
        if key not in self._noise:
            buffer = torch.empty(shape, dtype=like.dtype, device=like.device)
            self._noise[key] = [buffer, *buffer.unbind(0)]
        buffer, *views = self._noise[key]
        if isinstance(generators, Sequence):
            for view, gen in zip(views, generators, strict=True):
                view.normal_(generator=gen)
        else:
            buffer.normal_(generator=generators)
        return buffer

    def draw_noise(self, n_rows: int, generators: Sequence[torch.Generator] | torch.Generator | None,
                   like: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The step's draws of the decoder's and the head's noise (``None`` where that part
        sees z_mean), in the eager step's order: the decoder's first."""
        shape = (self.net.n_replicas, n_rows, self.net.config.latent_dim)
        eps_d = self._draw(shape, generators, like, 0) if self.sample_decoder else None
        eps_h = self._draw(shape, generators, like, 1) if self.sample_head else None
        return eps_d, eps_h

    @torch.no_grad()
    def gradients(self, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None,
                  generators: Sequence[torch.Generator] | torch.Generator | None,
                  full_batch: bool = False) -> list[torch.Tensor]:
        """The gradient of the training loss (summed over replicas) for every parameter of
        :attr:`params`, drawing the step's noise from ``generators``."""
        c = self.constants(x, y, rows, full_batch)
        eps_d, eps_h = self.draw_noise(x.shape[0], generators, x)
        return self.gradients_given(c.x, c.x_t, c.reconstruction, c.kl, c.kl_half, c.prediction,
                                    c.target, eps_d, eps_h)

    def gradients_given(self, x: torch.Tensor, x_t: torch.Tensor, f_rec: torch.Tensor,
                        f_kl: torch.Tensor, f_kl_half: torch.Tensor, f_pred: torch.Tensor,
                        target: torch.Tensor | None, eps_d: torch.Tensor | None,
                        eps_h: torch.Tensor | None) -> list[torch.Tensor]:
        """:meth:`gradients` of a batch's constants (:class:`_Constants`: the input with the
        replica dimension and transposed, every loss's row factors, the target) and drawn
        noise: tensors in, tensors out, nothing drawn (the part ``torch.compile`` compiles)."""
        act, back = self.act, self.act_back
        hidden, trunk_cache = self.trunk.forward(x, act)
        z_mean = torch.baddbmm(self.z_mean_b, hidden, self.z_mean_w)
        log_var_raw = torch.baddbmm(self.z_log_var_b, hidden, self.z_log_var_w)
        log_var = log_var_raw.clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        std = None
        if self.sample_decoder or self.sample_head:
            std = torch.exp(0.5 * log_var)
        grads: list[torch.Tensor] = []
        need_z = self.train_encoder
        g_mean = g_std = None
        if self.decode:
            z = z_mean + std * eps_d if self.sample_decoder else z_mean  # as sample_latent
            rec, cache = self.decoder.forward(z, act)
            if self.train_decoder or need_z:
                g = (rec - x) * f_rec
                g_z = self.decoder.backward(g, cache, back, self.train_decoder, grads, need_z)
                if need_z:
                    g_mean = g_z
                    if self.sample_decoder:
                        g_std = g_z * eps_d
        if self.classify:
            z = z_mean + std * eps_h if self.sample_head else z_mean
            logits, cache = self.head.forward(z, act)
            if self.train_head or need_z:
                g = self._prediction_gradient(logits, target, f_pred)
                g_z = self.head.backward(g, cache, back, self.train_head, grads, need_z)
                if need_z:
                    g_mean = g_z if g_mean is None else g_mean + g_z
                    if self.sample_head:
                        g_std = g_z * eps_h if g_std is None else torch.addcmul(g_std, g_z, eps_h)
        if need_z:
            self._encoder_gradients(x_t, hidden, trunk_cache, z_mean, log_var, log_var_raw, std,
                                    g_mean, g_std, f_kl, f_kl_half, grads)
        return grads

    def _encoder_gradients(self, x_t: torch.Tensor, hidden: torch.Tensor, trunk_cache: Any,
                           z_mean: torch.Tensor, log_var: torch.Tensor,
                           log_var_raw: torch.Tensor, std: torch.Tensor | None,
                           g_mean: torch.Tensor | None, g_std: torch.Tensor | None,
                           f_kl: torch.Tensor, f_kl_half: torch.Tensor,
                           grads: list[torch.Tensor]) -> None:
        """Append the encoder's gradients (the latent layers', then the trunk's) to ``grads``,
        from the gradients reaching ``z_mean`` and the noise's scale, and the KL term's."""
        g_log_var = None
        if self.weights["kl"]:
            kl_mean = z_mean * f_kl
            g_mean = kl_mean if g_mean is None else g_mean + kl_mean
            g_log_var = (torch.exp(log_var) - 1.0) * f_kl_half
        if g_std is not None:
            g_from_std = g_std * std * 0.5
            g_log_var = g_from_std if g_log_var is None else g_log_var + g_from_std
        hidden_t = x_t if not self.trunk.layers else hidden.transpose(1, 2)
        grads.append(torch.bmm(hidden_t, g_mean))
        grads.append(g_mean.sum(dim=1, keepdim=True))
        g_hidden = torch.bmm(g_mean, self.z_mean_t)
        if self.uses_log_var:
            # clamp passes the gradient where it did not clip
            g_log_var = g_log_var * (log_var == log_var_raw)
            grads.append(torch.bmm(hidden_t, g_log_var))
            grads.append(g_log_var.sum(dim=1, keepdim=True))
            g_hidden = torch.baddbmm(g_hidden, g_log_var, self.z_log_var_t)
        if self.trunk.layers:
            self.trunk.backward(g_hidden, trunk_cache, self.act_back, True, grads,
                                input_grad=False, first_input_t=x_t)

    def _prediction_gradient(self, outputs: torch.Tensor, target: torch.Tensor,
                             factor: torch.Tensor) -> torch.Tensor:
        """d(loss)/d(head output) of every row: cross-entropy's ``p - onehot``, binary
        cross-entropy's ``sigmoid - y``, squared error's ``2 (output - y)``, each times the row's
        factor."""
        if self.output_kind == "softmax":
            return (torch.softmax(outputs, dim=-1) - target) * factor
        if self.output_kind == "sigmoid":
            return (torch.sigmoid(outputs) - target) * factor
        return (outputs - target) * (2.0 * factor)

    def update(self, grads: list[torch.Tensor]) -> None:
        """AdamW on :attr:`params` with ``grads``: the kernel ``torch.optim.AdamW(fused=True)``
        runs, with the same defaults."""
        self.step_count.add_(1)
        torch._fused_adamw_(
            self.params, grads, self.exp_avg, self.exp_avg_sq, [], self.steps,
            amsgrad=False, lr=self.lr, beta1=BETAS[0], beta2=BETAS[1],
            weight_decay=self.weight_decay, eps=EPS, maximize=False,
            grad_scale=None, found_inf=None,
        )

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None,
                 generators: Sequence[torch.Generator] | torch.Generator | None,
                 full_batch: bool = False) -> None:
        self.update(self.gradients(x, y, rows, generators, full_batch))
