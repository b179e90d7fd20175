"""The training step written out by hand: forward, the gradients of the losses, AdamW.

A small model's step is bound by the cost of calling an op, so :class:`FusedStep` makes the eager
step's gradients in a third of the calls: each layer's backward written out with autograd's ATen
kernels, no loss value, per-batch constants computed once, the same noise drawn into kept buffers,
AdamW as the kernel ``torch._fused_adamw_``. Equal to the eager step up to the order of sums.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vaec.config import Strategy
from vaec.model import LOG_VAR_MAX, LOG_VAR_MIN, Generators, ReplicaLinear, VAECNet

# activation -> (forward, backward(grad, pre-activation, output)), as nn's modules and autograd
_Forward = Callable[[Tensor], Tensor]
_Backward = Callable[[Tensor, Tensor, Tensor], Tensor]
_aten = torch.ops.aten
ACTIVATIONS: dict[str, tuple[_Forward, _Backward]] = {
    "elu": (F.elu, lambda g, a, h: _aten.elu_backward(g, 1.0, 1, 1, False, a)),
    "relu": (torch.relu, lambda g, a, h: _aten.threshold_backward(g, h, 0)),
    "tanh": (torch.tanh, lambda g, a, h: _aten.tanh_backward(g, h)),
    "gelu": (F.gelu, lambda g, a, h: _aten.gelu_backward(g, a)),
    "silu": (F.silu, lambda g, a, h: _aten.silu_backward(g, a)),
    "leaky_relu": (F.leaky_relu, lambda g, a, h: _aten.leaky_relu_backward(g, a, 0.01, False)),
}
# the kernel's other options: torch.optim.AdamW's defaults, which the eager step uses
ADAMW = {"amsgrad": False, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "maximize": False, "grad_scale": None,
         "found_inf": None}


@functools.cache
def fused_adamw_available(device_type: str) -> bool:
    """Whether this torch has the fused AdamW kernel there (asked directly: AdamW imports dynamo)."""
    zero = torch.zeros(1, device=device_type)
    tensors = ([zero], [torch.ones_like(zero)], [torch.zeros_like(zero)], [torch.zeros_like(zero)], [],
               [torch.ones((), device=device_type)])
    try:
        torch._fused_adamw_(*tensors, lr=1e-3, weight_decay=0.0, **ADAMW)
    except (AttributeError, RuntimeError, TypeError, NotImplementedError):  # no such kernel (here)
        return False
    return True


def fused_step_supported(net: VAECNet, strategy: Strategy, weights: dict[str, float]) -> str | None:
    """Why the fused step cannot train ``net`` with ``strategy`` (``None``: it can)."""
    config = net.config
    if config.dropout > 0:  # its masks come from the global generator
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


class _Chain:
    """The linear layers of ``trunk`` in turn, each activated, then ``out`` (if any), not activated."""

    def __init__(self, trunk: torch.nn.Module, out: ReplicaLinear | None) -> None:
        layers = [m for m in trunk.modules() if isinstance(m, ReplicaLinear)] + [out] * (out is not None)
        self.layers, self.weights, self.biases = layers, [m.weight for m in layers], [m.bias for m in layers]
        self.weights_t = [w.detach().transpose(1, 2) for w in self.weights]
        self.activated = [i < len(layers) - 1 or out is None for i in range(len(layers))]
        self.params = [p for layer in reversed(layers) for p in (layer.weight, layer.bias)]  # last first

    def forward(self, h: Tensor, act: _Forward) -> tuple[Tensor, list[tuple]]:
        cache = []
        for weight, bias, activated in zip(self.weights, self.biases, self.activated, strict=True):
            a = torch.baddbmm(bias, h, weight)
            cache.append((h, a, act(a) if activated else a))
            h = cache[-1][2]
        return h, cache

    def backward(self, g: Tensor, cache: list[tuple], act_back: _Backward, train: bool, grads: list[Tensor],
                 input_grad: bool, first_input_t: Tensor | None = None) -> Tensor | None:
        """The gradient at the input (or ``None``); layer gradients appended to ``grads``, last first."""
        for i in range(len(self.layers) - 1, -1, -1):
            h, a, out = cache[i]
            if self.activated[i]:
                g = act_back(g, a, out)
            if train:
                h_t = first_input_t if i == 0 and first_input_t is not None else h.transpose(1, 2)
                grads += [torch.bmm(h_t, g), g.sum(dim=1, keepdim=True)]
            if i == 0 and not input_grad:
                return None
            g = torch.bmm(g, self.weights_t[i])
        return g


class _Constants:
    """A batch's fixed parts: each row's factor in every loss and the targets."""

    def __init__(self, net: VAECNet, x: Tensor, y: Tensor, rows: Tensor | None,
                 weights: dict[str, float]) -> None:
        n, dtype, device, n_replicas = x.shape[0], x.dtype, x.device, net.n_replicas

        def factor(weight: float, per_row: float = 1.0) -> Tensor:
            upstream = torch.full((n_replicas, 1), weight, dtype=dtype, device=device) / per_row
            if rows is None:
                return (upstream / n).unsqueeze(1)  # (replicas, 1, 1)
            # as row_mean, (values * w).sum(1) / w.sum(1): (replicas, rows, 1)
            return (upstream / rows.sum(dim=1, keepdim=True)).unsqueeze(-1) * rows.unsqueeze(-1)

        self.x = net.expand(x)
        self.x_t, self.kl = self.x.transpose(1, 2), factor(weights["kl"])
        self.prediction = factor(weights["prediction"])
        self.reconstruction, self.kl_half = factor(weights["reconstruction"], x.shape[1]) * 2.0, self.kl * 0.5
        task, n_outputs = net.config.task, net.config.task.n_outputs(net.config.n_classes)
        one_hot = task.has_classes and n_outputs > 1
        self.target = None if not weights["prediction"] else (
            F.one_hot(y, n_outputs).to(dtype).unsqueeze(0) if one_hot else y.to(dtype).view(1, -1, 1))


class FusedStep:
    """One training step of every replica of ``net`` (forward, gradients, AdamW) without
    autograd; called as ``step(x, y, rows, generators)``. ``net`` is updated in place with AdamW's
    settings of its config; ``weights`` holds the weight of every loss (0: not counted)."""

    def __init__(self, net: VAECNet, strategy: Strategy, weights: dict[str, float]) -> None:
        reason = fused_step_supported(net, strategy, weights)
        if reason is not None:
            raise ValueError(f"the fused step does not cover this training ({reason})")
        self.net, self.weights = net, weights
        self.lr, self.weight_decay = net.config.learning_rate, net.config.weight_decay
        self.act, self.act_back = ACTIVATIONS[net.config.activation]
        enc, trains = net.encoder, strategy.trains
        self.trunk = _Chain(enc.trunk, None)
        self.decoder = _Chain(net.decoder.trunk, net.decoder.out)
        self.head = _Chain(net.head.trunk, net.head.out)
        self.z_mean_w, self.z_mean_b = enc.z_mean.weight, enc.z_mean.bias
        self.z_log_var_w, self.z_log_var_b = enc.z_log_var.weight, enc.z_log_var.bias
        self.z_mean_t = self.z_mean_w.detach().transpose(1, 2)
        self.z_log_var_t = self.z_log_var_w.detach().transpose(1, 2)
        self.decode, self.classify = bool(weights["reconstruction"]), bool(weights["prediction"])
        task, n_outputs = net.config.task, net.config.task.n_outputs(net.config.n_classes)
        kind = "softmax" if n_outputs > 1 else "sigmoid"
        self.output_kind = kind if task.has_classes else "squared"
        self.sample_decoder = self.decode and strategy.sample
        self.sample_head = self.classify and strategy.sample
        self.train_encoder = "encoder" in trains
        self.train_decoder = "decoder" in trains and self.decode
        self.train_head = "head" in trains and self.classify
        # z_log_var gets a gradient where the loss depends on it (the KL, a sampled z)
        self.uses_log_var = bool(weights["kl"]) or self.sample_decoder or self.sample_head
        # the parameters that get a gradient, in the order gradients_given gives them
        self.params = self.decoder.params if self.train_decoder else []
        self.params += self.head.params if self.train_head else []
        if self.train_encoder:
            self.params += [enc.z_mean.weight, enc.z_mean.bias]
            self.params += [enc.z_log_var.weight, enc.z_log_var.bias] if self.uses_log_var else []
            self.params += self.trunk.params
        self.exp_avg, self.exp_avg_sq = ([torch.zeros_like(p) for p in self.params] for _ in range(2))
        # one step count shared by every parameter (the kernel only reads it): one increment
        self.step_count = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        self.steps = [self.step_count] * len(self.params)
        self._full_batch: _Constants | None = None
        self._noise: dict[tuple[int, ...], list[Tensor]] = {}

    def _draw(self, shape: tuple[int, ...], generators: Generators, like: Tensor, slot: int) -> Tensor:
        """N(0, 1) noise into a kept buffer, each replica from its generator as ``sample_latent``."""
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

    @torch.no_grad()
    def gradients(self, x: Tensor, y: Tensor, rows: Tensor | None, generators: Generators,
                  full_batch: bool = False, given: Callable[..., list[Tensor]] | None = None) -> list[Tensor]:
        """The gradient of the training loss (summed over replicas) for every :attr:`params`, from
        the batch's constants and noise by ``given`` (default :meth:`gradients_given`); the
        constants of the ``full_batch``, the same rows at every call, are computed once."""
        if full_batch and self._full_batch is None:
            self._full_batch = _Constants(self.net, x, y, rows, self.weights)
        c = self._full_batch if full_batch else _Constants(self.net, x, y, rows, self.weights)
        # the decoder's noise, then the head's (None where that part sees z_mean)
        shape = (self.net.n_replicas, x.shape[0], self.net.config.latent_dim)
        eps_d = self._draw(shape, generators, x, 0) if self.sample_decoder else None
        eps_h = self._draw(shape, generators, x, 1) if self.sample_head else None
        return (given or self.gradients_given)(c.x, c.x_t, c.reconstruction, c.kl, c.kl_half, c.prediction,
                                               c.target, eps_d, eps_h)

    def gradients_given(self, x: Tensor, x_t: Tensor, f_rec: Tensor, f_kl: Tensor, f_kl_half: Tensor,
                        f_pred: Tensor, target: Tensor | None, eps_d: Tensor | None, eps_h: Tensor | None,
                        ) -> list[Tensor]:
        """:meth:`gradients` of a batch's constants and noise: tensors in and out (what gets compiled)."""
        act, back = self.act, self.act_back
        hidden, trunk_cache = self.trunk.forward(x, act)
        z_mean = torch.baddbmm(self.z_mean_b, hidden, self.z_mean_w)
        log_var_raw = torch.baddbmm(self.z_log_var_b, hidden, self.z_log_var_w)
        log_var = log_var_raw.clamp(LOG_VAR_MIN, LOG_VAR_MAX)
        std = torch.exp(0.5 * log_var) if self.sample_decoder or self.sample_head else None
        grads: list[Tensor] = []
        need_z, g_mean, g_std = self.train_encoder, None, None
        if self.decode:
            z = z_mean + std * eps_d if self.sample_decoder else z_mean  # as sample_latent
            rec, cache = self.decoder.forward(z, act)
            if self.train_decoder or need_z:
                g_z = self.decoder.backward((rec - x) * f_rec, cache, back, self.train_decoder, grads, need_z)
                if need_z:
                    g_mean, g_std = g_z, (g_z * eps_d if self.sample_decoder else None)
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

    def _encoder_gradients(self, x_t: Tensor, hidden: Tensor, trunk_cache: Any, z_mean: Tensor,
                           log_var: Tensor, log_var_raw: Tensor, std: Tensor | None, g_mean: Tensor | None,
                           g_std: Tensor | None, f_kl: Tensor, f_kl_half: Tensor,
                           grads: list[Tensor]) -> None:
        """Append the latent layers', then the trunk's gradients to ``grads``."""
        g_log_var = None
        if self.weights["kl"]:
            g_mean = z_mean * f_kl if g_mean is None else g_mean + z_mean * f_kl
            g_log_var = (torch.exp(log_var) - 1.0) * f_kl_half
        if g_std is not None:
            g_log_var = g_std * std * 0.5 if g_log_var is None else g_log_var + g_std * std * 0.5
        hidden_t = x_t if not self.trunk.layers else hidden.transpose(1, 2)
        grads += [torch.bmm(hidden_t, g_mean), g_mean.sum(dim=1, keepdim=True)]
        g_hidden = torch.bmm(g_mean, self.z_mean_t)
        if self.uses_log_var:
            # clamp passes the gradient where it did not clip
            g_log_var = g_log_var * (log_var == log_var_raw)
            grads += [torch.bmm(hidden_t, g_log_var), g_log_var.sum(dim=1, keepdim=True)]
            g_hidden = torch.baddbmm(g_hidden, g_log_var, self.z_log_var_t)
        if self.trunk.layers:
            self.trunk.backward(g_hidden, trunk_cache, self.act_back, True, grads,
                                input_grad=False, first_input_t=x_t)

    def _prediction_gradient(self, outputs: Tensor, target: Tensor, factor: Tensor) -> Tensor:
        """d(loss)/d(head output) of every row, times the row's factor."""
        if self.output_kind == "softmax":
            return (torch.softmax(outputs, dim=-1) - target) * factor
        if self.output_kind == "sigmoid":
            return (torch.sigmoid(outputs) - target) * factor
        return (outputs - target) * (2.0 * factor)

    def update(self, grads: list[Tensor]) -> None:
        """AdamW on :attr:`params`: the kernel ``torch.optim.AdamW(fused=True)`` runs."""
        self.step_count.add_(1)
        torch._fused_adamw_(self.params, grads, self.exp_avg, self.exp_avg_sq, [], self.steps, lr=self.lr,
                            weight_decay=self.weight_decay, **ADAMW)

    @torch.no_grad()
    def __call__(self, x: Tensor, y: Tensor, rows: Tensor | None, generators: Generators,
                 full_batch: bool = False) -> None:
        self.update(self.gradients(x, y, rows, generators, full_batch))
