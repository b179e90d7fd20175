"""The hand-fused training step gives the eager step's gradients and training; the compiled
step falls back to the eager one where compiling fails."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vaec import training as steps
from vaec.config import STRATEGIES, VAECConfig
from vaec.fused import FusedStep, fused_step_supported
from vaec.model import VAECNet, replica_generators, sample_latent
from vaec.training import CompiledStep, EagerStep, _trainable, _weights, make_step, train, training_loss

TASKS = {"binary": ("classification", 2), "classes": ("classification", 3),
         "regression": ("regression", 1), "unsupervised": ("unsupervised", 1)}


def _data(task: str, n_classes: int, rows: int = 24, channels: int = 7):
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(rows, channels, generator=gen)
    if task == "classification":
        y = torch.randint(0, n_classes, (rows,), generator=gen)
    elif task == "regression":
        y = torch.randn(rows, generator=gen)
    else:
        y = torch.zeros(rows)
    return x, y


def _eager_gradients(net, strategy, weights, x, y, rows):
    trainable = _trainable(net, strategy)
    loss = training_loss(net, x, y, strategy, weights, replica_generators(5, net.n_replicas), rows)
    loss.backward()
    return {id(p): p.grad for p in trainable if p.grad is not None}


CASES = [(t, s, a, w) for t, s, a, w in itertools.product(
    TASKS, STRATEGIES, ("elu", "relu", "tanh", "gelu", "silu", "leaky_relu"), (False, True))
    if a == "elu" or (s == "all_parts" and t == "binary")]


@pytest.mark.parametrize(("task", "strategy", "activation", "weighted"), CASES)
def test_fused_gradients_are_autograds(task, strategy, activation, weighted):
    name, n_classes = TASKS[task]
    config = VAECConfig(n_inputs=7, n_classes=n_classes, task=name, activation=activation, seed=3,
                        encoder_widths=(8, 5), head_widths=(6,))
    net = VAECNet(config, n_replicas=3)
    x, y = _data(name, n_classes)
    rows = torch.rand(3, len(x), generator=torch.Generator().manual_seed(2)) if weighted else None
    strategy = STRATEGIES[strategy]
    weights = _weights(config, strategy)
    if fused_step_supported(net, strategy, weights) is not None:
        assert not config.task.has_target and weights["prediction"]
        assert isinstance(make_step(net, strategy, weights, _trainable(net, strategy)), EagerStep)
        return
    expected = _eager_gradients(net, strategy, weights, x, y, rows)
    step = FusedStep(net, strategy, weights)
    grads = step.gradients(x, y, rows, replica_generators(5, 3))
    # exactly the parameters autograd reaches get a gradient, and the same one
    assert sorted(map(id, step.params)) == sorted(expected)
    for p, g in zip(step.params, grads, strict=True):
        assert g.shape == p.shape
        torch.testing.assert_close(g, expected[id(p)], rtol=1e-5, atol=1e-7)


def test_fused_noise_is_sample_latents():
    config = VAECConfig(n_inputs=5, n_classes=2)
    net = VAECNet(config, n_replicas=3)
    step = FusedStep(net, STRATEGIES["all_parts"], _weights(config, STRATEGIES["all_parts"]))
    mean, log_var = torch.zeros(3, 9, 4), torch.zeros(3, 9, 4)
    ours = [step._draw(mean.shape, gens, mean, slot).clone()
            for gens in [replica_generators(1, 3)] for slot in (0, 1)]
    gens = replica_generators(1, 3)
    theirs = [sample_latent(mean, log_var, gens) for _ in range(2)]
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("batch_size", [None, 10])
def test_fused_training_follows_eager_training(batch_size):
    x, y = _data("classification", 2, rows=40)
    config = VAECConfig(n_inputs=7, n_classes=2, epochs=6, seed=4, batch_size=batch_size,
                        weight_decay=1e-2, restore_best=False)
    nets = {}
    for mode in ("eager", "auto"):
        nets[mode] = VAECNet(config.replace(training_step=mode), n_replicas=2)
        result = train(nets[mode], STRATEGIES["all_parts"], x, y, x, y, record_snapshots=False)
        assert result.epochs_run == 6
    for (name, a), b in zip(nets["eager"].state_dict().items(), nets["auto"].state_dict().values(),
                            strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)


def test_dropout_trains_eagerly():
    config = VAECConfig(n_inputs=5, n_classes=2, dropout=0.1)
    net = VAECNet(config)
    strategy = STRATEGIES["all_parts"]
    weights = _weights(config, strategy)
    assert fused_step_supported(net, strategy, weights) == "dropout"
    assert isinstance(make_step(net, strategy, weights, _trainable(net, strategy)), EagerStep)
    with pytest.raises(ValueError, match="dropout"):
        FusedStep(net, strategy, weights)


def test_a_torch_without_fused_adamw_trains_eagerly(monkeypatch):
    from vaec import fused

    monkeypatch.setattr(fused, "fused_adamw_available", lambda device_type: False)
    config = VAECConfig(n_inputs=5, n_classes=2)
    net, strategy = VAECNet(config), STRATEGIES["all_parts"]
    weights = _weights(config, strategy)
    assert fused_step_supported(net, strategy, weights) == "no fused AdamW kernel in this torch"
    assert type(make_step(net, strategy, weights, _trainable(net, strategy))) is EagerStep


def test_the_kernel_is_asked_directly_and_a_missing_or_failing_one_means_eager(monkeypatch):
    from vaec import fused

    assert fused.fused_adamw_available.__wrapped__("cpu")  # torch 2.4+ has the CPU kernel

    def no_kernel(*args, **kwargs):
        raise NotImplementedError("no fused AdamW on this device")

    monkeypatch.setattr(torch, "_fused_adamw_", no_kernel)
    assert not fused.fused_adamw_available.__wrapped__("cpu")
    monkeypatch.delattr(torch, "_fused_adamw_")
    assert not fused.fused_adamw_available.__wrapped__("cpu")


@pytest.mark.slow
def test_asking_for_the_kernel_does_not_import_dynamo():
    # building torch.optim.AdamW imports torch._dynamo: seconds of every first round
    code = ("import sys; from vaec.fused import fused_adamw_available; "
            "assert fused_adamw_available('cpu'); print('torch._dynamo' in sys.modules)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, cwd=Path(__file__).parents[2])
    assert shown.stdout.strip() == "False"


def test_eager_setting_trains_eagerly():
    config = VAECConfig(n_inputs=5, n_classes=2, training_step="eager")
    net, strategy = VAECNet(config), STRATEGIES["all_parts"]
    step = make_step(net, strategy, _weights(config, strategy), _trainable(net, strategy))
    assert type(step) is EagerStep


def _train_states(config, x, y):
    net = VAECNet(config, n_replicas=2)
    train(net, STRATEGIES["all_parts"], x, y, x, y, record_snapshots=False)
    return net.state_dict()


@pytest.mark.parametrize("where", ["compile", "call"])
@pytest.mark.parametrize(("dropout", "uncompiled"), [(0.0, "auto"), (0.2, "eager")])
def test_compiled_step_falls_back_to_the_uncompiled_step(monkeypatch, where, dropout, uncompiled):
    """Where compiling fails, training is exactly what the step it compiles gives: the fused
    one, or the eager one where the fused step does not apply (dropout)."""
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    if where == "compile":
        monkeypatch.setattr(torch, "compile", broken)
    else:
        monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: broken)
    x, y = _data("classification", 2, rows=30)
    config = VAECConfig(n_inputs=7, n_classes=2, epochs=4, seed=1, restore_best=False,
                        dropout=dropout)
    torch.manual_seed(0)  # dropout's masks
    with pytest.warns(RuntimeWarning, match="training eagerly"):
        compiled = _train_states(config.replace(training_step="compiled"), x, y)
    torch.manual_seed(0)
    expected = _train_states(config.replace(training_step=uncompiled), x, y)
    for name, value in expected.items():
        assert torch.equal(compiled[name], value), name


def test_compiled_step_compiles_the_eager_step(monkeypatch):
    calls = []

    def record(fn, **kwargs):
        calls.append(kwargs)
        return fn

    monkeypatch.setattr(torch, "compile", record)
    config = VAECConfig(n_inputs=5, n_classes=2, training_step="compiled")
    net, strategy = VAECNet(config), STRATEGIES["all_parts"]
    step = make_step(net, strategy, _weights(config, strategy), _trainable(net, strategy))
    assert isinstance(step, CompiledStep) and step.compiled is not None
    assert step.fused is not None  # the fused step's gradients are what compiles
    assert calls == [{"fullgraph": False, "backend": steps.COMPILE_BACKEND}]


@pytest.mark.slow  # torch.compile traces the step: seconds
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own, while tracing
@pytest.mark.parametrize("dropout", [0.0, 0.2])
def test_compiled_step_trains_as_the_uncompiled_one(monkeypatch, dropout):
    """torch.compile of the step (with its cheapest backend, which only traces) trains the
    model the uncompiled step trains."""
    monkeypatch.setattr(steps, "COMPILE_BACKEND", "eager")
    x, y = _data("classification", 2, rows=30)
    config = VAECConfig(n_inputs=7, n_classes=2, epochs=3, seed=2, restore_best=False,
                        dropout=dropout)
    torch.manual_seed(0)
    compiled = _train_states(config.replace(training_step="compiled"), x, y)
    torch.manual_seed(0)
    expected = _train_states(config.replace(training_step="auto" if not dropout else "eager"), x, y)
    for name, value in expected.items():
        torch.testing.assert_close(compiled[name], value, rtol=1e-5, atol=1e-6, msg=name)
