"""Model-epochs per second of the VAEC training loop: its training steps against each other
and against a textbook PyTorch loop.

Every loop trains the ``all_parts`` objective (reconstruction + beta * KL + binary
cross-entropy). A replica is one model, so model-epochs/s = replicas * epochs / seconds. The
training steps of ``vaec.training.train`` (``VAECConfig.training_step``) are measured in the
same process, interleaved run by run, on one torch thread:

- ``eager``: autograd, ``backward()`` and ``torch.optim.AdamW(fused=True)`` (the step before the
  fused one);
- ``fused``: the hand-fused step of ``vaec.fused`` (``training_step="auto"``, the default);
- ``compiled`` (``--compiled``): ``torch.compile`` of the fused step's gradients
  (``training_step="compiled"``); its first epoch holds the compile, reported apart from the
  rate after it.

on three shapes: the default round as this benchmark has always measured it (breast_cancer's
341 training rows, its 30 channels and 30 shadows, validation every 10 epochs), round 1 of
``vaec-select run --dataset breast_cancer`` as the pipeline builds it (the channels with
their shadows and shadow clusters, every row cross-fitted) and a wide round (round 1 of
MNIST-5000: 663 channels + 100 shadows, 4000 training rows in mini-batches of 256). The
textbook loop (``nn.Sequential`` layers, a ``DataLoader``, one model at a time, a batch of 32
and the full batch) and ``train`` with 1 to 8 replicas run the seed prototype's small model
on breast_cancer, evaluating every epoch.

Run ``python benchmarks/train_throughput.py`` (``--help`` for options); it prints the tables
and writes ``benchmarks/results/train_throughput.md``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pipeline.demo import load_demo_data
from pipeline.rounds.trials import round_model_config
from pipeline.settings import SelectionSettings
from vaec.config import ALL_PARTS, VAECConfig
from vaec.model import VAECNet
from vaec.persistence import atomic_write_text
from vaec.training import train

RESULTS = Path(__file__).parent / "results" / "train_throughput.md"


def textbook_model(config: VAECConfig) -> dict[str, nn.Module]:
    """Encoder trunk, z_mean / z_log_var layers, decoder and head as plain ``nn.Sequential``."""
    def mlp(sizes: list[int]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(sizes):
            layers += [nn.Linear(n_in, n_out), nn.ELU()]
        return layers

    enc = [config.n_inputs, *config.encoder_widths]
    dec = [config.latent_dim, *config.decoder_layer_widths]
    head = [config.latent_dim, *config.head_widths]
    return nn.ModuleDict({
        "encoder": nn.Sequential(*mlp(enc)),
        "z_mean": nn.Linear(enc[-1], config.latent_dim),
        "z_log_var": nn.Linear(enc[-1], config.latent_dim),
        "decoder": nn.Sequential(*mlp(dec), nn.Linear(dec[-1], config.n_inputs)),
        "head": nn.Sequential(*mlp(head), nn.Linear(head[-1], 1)),
    })


def textbook_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor, kl_weight: float):
    """The all_parts losses, written the usual way; returns (total, logits of z_mean, of z)."""
    hidden = model["encoder"](x)
    z_mean, z_log_var = model["z_mean"](hidden), model["z_log_var"](hidden)
    z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
    reconstruction = F.mse_loss(model["decoder"](z), x)
    kl = (0.5 * (z_log_var.exp() + z_mean.pow(2) - 1 - z_log_var)).sum(dim=1).mean()
    logits = model["head"](z).squeeze(1)
    prediction = F.binary_cross_entropy_with_logits(logits, y)
    return reconstruction + kl_weight * kl + prediction, model["head"](z_mean).squeeze(1), logits


def run_textbook(config: VAECConfig, data, batch_size: int, epochs: int) -> float:
    """Seconds of ``epochs`` epochs of the textbook loop (train, then validate once)."""
    torch.manual_seed(config.seed)
    model = textbook_model(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    x = torch.from_numpy(data.X_train)
    y = torch.from_numpy(data.y_train).float()
    x_val, y_val = torch.from_numpy(data.X_val), torch.from_numpy(data.y_val).float()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            loss, _, _ = textbook_losses(model, xb, yb, config.kl_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            val_loss, logits_off, logits_on = textbook_losses(model, x_val, y_val, config.kl_weight)
            history = {
                "val_loss": val_loss.item(),
                "val_accuracy": ((logits_off > 0).float() == y_val).float().mean().item(),
                "val_accuracy_sampled": ((logits_on > 0).float() == y_val).float().mean().item(),
            }
    del history
    return time.perf_counter() - start


def epoch_times(config: VAECConfig, tensors: tuple, n_replicas: int,
                row_weights: torch.Tensor | None = None,
                val_row_weights: torch.Tensor | None = None) -> tuple[float, float, float]:
    """Seconds of a whole :func:`vaec.training.train` call, of its first epoch (a compiled
    step compiles in it), and the CPU seconds of this thread in the call (what the load of
    other processes takes from the wall-clock time is not in them)."""
    stamps: list[float] = []
    net = VAECNet(config, n_replicas)
    start, cpu = time.perf_counter(), time.thread_time()
    train(net, ALL_PARTS, *tensors, record_snapshots=False, row_weights=row_weights,
          val_row_weights=val_row_weights, on_epoch=lambda epoch, _: stamps.append(time.perf_counter()))
    return time.perf_counter() - start, stamps[0] - start, time.thread_time() - cpu


@dataclass
class Shape:
    """A training job: config, tensors, row weights (cross-fitting) and a description."""

    label: str
    config: VAECConfig
    tensors: tuple
    row_weights: torch.Tensor | None = None
    val_row_weights: torch.Tensor | None = None

    def run(self, step: str, n_replicas: int = 3) -> tuple[float, float, float]:
        return epoch_times(self.config.replace(training_step=step), self.tensors, n_replicas,
                           self.row_weights, self.val_row_weights)


def round_inputs(data) -> tuple:
    """The tensors of a default pruning round on breast_cancer: the 30 channels and 30 shadows."""
    from pipeline.rounds.shadows import make_shadows

    shadows = make_shadows(data.X_train, data.X_val, data.X_train.shape[1], seed=0)
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (
        np.hstack([data.X_train, shadows.train]), data.y_train,
        np.hstack([data.X_val, shadows.val]), data.y_val))


def benchmark_round(data, epochs: int) -> Shape:
    """The default round as this benchmark has measured it: 30 channels + 30 shadows, 341
    training rows, early stopping off so every run trains ``epochs`` epochs."""
    tensors = round_inputs(data)
    config = round_model_config(SelectionSettings(), n_inputs=tensors[0].shape[1], n_classes=2,
                                round_index=1).replace(epochs=epochs, early_stopping_patience=None)
    return Shape(f"default round, {tensors[0].shape[1]} inputs x {tensors[0].shape[0]} rows "
                 "(30 channels + 30 shadows)", config, tensors)


def pipeline_round(frame: pd.DataFrame, name: str, epochs: int | None) -> Shape:
    """Round 1 of the pipeline on ``frame`` (target ``__target``) as ``train_trials`` trains it,
    early stopping off (``epochs``: fewer epochs than the round's own)."""
    from pipeline.data.dataset import load_dataset
    from pipeline.data.split import split_dataset
    from pipeline.rounds.shadows import round_inputs as pipeline_inputs

    settings = SelectionSettings()
    split = split_dataset(load_dataset(frame, "__target"), val_size=settings.val_size,
                          test_size=settings.test_size, seed=settings.seed)
    inputs = pipeline_inputs(split, split.feature_names, settings, round_index=1)
    config = round_model_config(settings, n_inputs=inputs.X_train.shape[1],
                                n_classes=split.n_classes, round_index=1,
                                n_rows=len(inputs.X_train), task=split.task)
    config = config.replace(early_stopping_patience=None, epochs=epochs or config.epochs)
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (
        inputs.X_train, inputs.y_train, inputs.X_val, inputs.y_val))
    weights = [None if w is None else torch.from_numpy(w)
               for w in (inputs.train_weights, inputs.val_weights)]
    rows, channels = inputs.X_train.shape
    how = "cross-fitted" if weights[0] is not None else f"mini-batches of {config.batch_size}"
    return Shape(f"{name} round 1, {channels} inputs x {rows} rows ({len(split.feature_names)} "
                 f"channels + shadows, {how})", config, tensors, *weights)


def bench_frame(name: str) -> pd.DataFrame:
    sys.path.insert(0, str(Path(__file__).parent))
    import bench_data

    X, y, _ = bench_data.load(name)
    frame = X.copy()
    frame["__target"] = y
    return frame


def round_flops_per_model_epoch(shape: Shape) -> float:
    """Floating-point operations of one model-epoch: 2 per multiply-add of every linear layer,
    forward and backward (3 passes), over the training rows."""
    config = shape.config
    sizes = [config.n_inputs, *config.encoder_widths]
    macs = sum(a * b for a, b in itertools.pairwise(sizes)) + 2 * sizes[-1] * config.latent_dim
    decoder = [config.latent_dim, *config.decoder_layer_widths, config.n_inputs]
    head = [config.latent_dim, *config.head_widths, 1]
    macs += sum(a * b for a, b in itertools.pairwise(decoder))
    macs += sum(a * b for a, b in itertools.pairwise(head))
    return 2.0 * 3.0 * macs * shape.tensors[0].shape[0]


def sgemm_roofline(threads: int, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large float32 matrix product with ``threads`` threads: the machine's
    practical ceiling for the dense work a training step is made of."""
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2.0 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def interleaved(repeats: int, runs: dict[str, Callable[[], tuple]]) -> dict[str, list]:
    """Every run ``repeats`` times after one warm-up each, in turn (eager, fused, eager, ...):
    a shared machine's load falls on all alike. Returns what each run returned, every time."""
    for run in runs.values():
        run()
    times: dict[str, list] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
    return times


def shape_rows(shape: Shape, steps: list[str], repeats: int, n_replicas: int = 3) -> list[dict]:
    """Model-epochs/s of every step on ``shape`` (the median of the runs)."""
    epochs = shape.config.epochs
    fast = [s for s in steps if s != "compiled"]
    times = interleaved(repeats, {s: (lambda s=s: shape.run(s, n_replicas)) for s in fast})
    rows = []
    for step in fast:
        seconds = statistics.median(t[0] for t in times[step])
        cpu = statistics.median(t[2] for t in times[step])
        rows.append({"shape": shape.label, "step": step, "epochs": epochs, "seconds": seconds,
                     "first": statistics.median(t[1] for t in times[step]),
                     "rate": n_replicas * epochs / seconds, "cpu_rate": n_replicas * epochs / cpu})
    if "compiled" in steps:
        # first from torch's empty on-disk cache (main sets it), as a round of a new shape;
        # then new networks of the shape (which reuse the compile) interleaved with the fused
        # step: the rate after the compile
        cold, cold_first, cold_cpu = shape.run("compiled", n_replicas)
        warm = interleaved(repeats, {s: (lambda s=s: shape.run(s, n_replicas))
                                     for s in ("auto", "compiled")})

        def after_compile(runs: list) -> float:
            return statistics.median(n_replicas * (epochs - 1) / max(t - f, 1e-9) for t, f, _ in runs)

        rows.append({"shape": shape.label, "step": "compiled", "epochs": epochs,
                     "seconds": cold, "first": cold_first, "rate": n_replicas * epochs / cold,
                     "cpu_rate": n_replicas * epochs / cold_cpu,
                     "warm_first": statistics.median(f for _, f, _ in warm["compiled"]),
                     "steady": after_compile(warm["compiled"]),
                     "fused_steady": after_compile(warm["auto"])})
    return rows


def textbook_rows(data, epochs: int, textbook_epochs: int, replicas: list[int],
                  repeats: int) -> list[tuple]:
    """The seed prototype's model: the textbook loop, and train with 1..8 replicas, eager and
    fused, evaluating every epoch."""
    config = VAECConfig(n_inputs=len(data.feature_names), n_classes=2, seed=0, latent_dim=2,
                        kl_weight=1e-3, learning_rate=3e-3, epochs=epochs)
    tensors = tuple(torch.from_numpy(a) for a in (data.X_train, data.y_train, data.X_val, data.y_val))
    runs: dict[str, Callable[[], float]] = {}
    for batch, label in ((32, "textbook, DataLoader batch 32"),
                         (len(data.y_train), f"textbook, full batch ({len(data.y_train)})")):
        runs[label] = lambda b=batch: run_textbook(config, data, b, textbook_epochs)
    for n in replicas:
        for step in ("eager", "auto"):
            label = f"vaec.training.train, {n} replica{'s' if n > 1 else ''}, {STEP_NAMES[step]}"
            runs[label] = lambda n=n, step=step: epoch_times(
                config.replace(training_step=step), tensors, n)[0]
    times = interleaved(repeats, {k: (lambda f=f: (f(),)) for k, f in runs.items()})
    rows = []
    for label, values in times.items():
        n = 1 if label.startswith("textbook") else int(label.split(", ")[1].split()[0])
        e = textbook_epochs if label.startswith("textbook") else epochs
        seconds = statistics.median(t[0] for t in values)
        rows.append((label, n, e, seconds, n * e / seconds))
    return rows


STEP_NAMES = {"eager": "eager step", "auto": "fused step", "compiled": "compiled step"}


def shapes_table(rows: list[dict], flops: dict[str, float], roofline: float) -> str:
    lines = ["| round shape | step | epochs | seconds | first epoch (s) | model-epochs/s "
             "| vs eager | per CPU second | GFLOP/s | of the roofline |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    eager = {r["shape"]: r["rate"] for r in rows if r["step"] == "eager"}
    for r in rows:
        rate = r["rate"]
        label = STEP_NAMES[r["step"]]
        if "steady" in r:
            label += (f" (compiling from an empty cache; a second network of the shape in the "
                      f"process reuses the compile, first epoch {r['warm_first']:.2f} s; after "
                      f"the compile {r['steady']:.0f} model-epochs/s against the fused step's "
                      f"{r['fused_steady']:.0f}, interleaved)")
        gflops = rate * flops[r["shape"]] / 1e9
        lines.append(f"| {r['shape']} | {label} | {r['epochs']} | {r['seconds']:.2f} "
                     f"| {r['first']:.2f} | {rate:.0f} | {rate / eager[r['shape']]:.2f}x "
                     f"| {r['cpu_rate']:.0f} | {gflops:.1f} | {gflops / roofline:.0%} |")
    return "\n".join(lines)


def textbook_table(rows: list[tuple]) -> str:
    lines = ["| loop | models | epochs | seconds | model-epochs/s | vs textbook batch 32 "
             "| vs textbook full batch |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base32, base_full = rows[0][4], rows[1][4]
    for label, n, epochs, seconds, rate in rows:
        lines.append(f"| {label} | {n} | {epochs} | {seconds:.2f} | {rate:.0f} "
                     f"| {rate / base32:.1f}x | {rate / base_full:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="epochs of the rounds (300)")
    parser.add_argument("--wide-epochs", type=int, default=20,
                        help="epochs of the wide round (20; 16 mini-batch steps each)")
    parser.add_argument("--textbook-epochs", type=int, default=100, help="textbook epochs (100)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3, 8])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (3)")
    parser.add_argument("--compiled", action="store_true",
                        help="also the compiled step (tens of seconds of compiling per shape)")
    parser.add_argument("--no-wide", action="store_true", help="leave out the MNIST round")
    parser.add_argument("--no-selections", action="store_true",
                        help="leave out the selections with each step (step_selections.py)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.compiled:  # compiles from scratch, not from an earlier run's cache
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    load = os.getloadavg()
    data, _ = load_demo_data("breast_cancer", seed=0)
    steps = ["eager", "auto", *(["compiled"] if args.compiled else [])]
    shapes = [benchmark_round(data, args.epochs),
              pipeline_round(bench_frame("breast_cancer"), "breast_cancer", args.epochs)]
    if not args.no_wide:
        shapes.append(pipeline_round(bench_frame("mnist"), "MNIST-5000", args.wide_epochs))
    rows = []
    for shape in shapes:
        rows += shape_rows(shape, steps, args.repeats)
        print(shapes_table(rows, {s.label: round_flops_per_model_epoch(s) for s in shapes}, 1.0),
              flush=True)
    roofline = sgemm_roofline(1)
    flops = {s.label: round_flops_per_model_epoch(s) for s in shapes}
    textbook = textbook_rows(data, args.epochs, args.textbook_epochs, args.replicas, args.repeats)
    selections = ""
    if not args.no_selections:
        sys.path.insert(0, str(Path(__file__).parent))
        import step_selections

        table, same = step_selections.compare()
        selections = (
            "\n## The selections with each step\n\n"
            "The fused step's gradients equal the eager step's up to the order of floating-point "
            "sums (`tests/vaec/test_fused.py`: to 1e-5 for every strategy, task, activation and "
            "row weighting; the noise and the forward pass are bit for bit the eager ones), so "
            "two trainings from one seed part in the last bits and drift apart over the epochs. "
            "The selections of the default settings, every round trained with each step "
            f"(`benchmarks/step_selections.py`): {'all the same' if same else 'NOT all the same'}."
            "\n\n" + table + "\n")
    load_end = os.getloadavg()
    text = (
        "# Training throughput: the training steps of vaec.training.train\n\n"
        "Written by `python benchmarks/train_throughput.py"
        f"{' --compiled' if args.compiled else ''}` (torch {torch.__version__}, Python "
        f"{platform.python_version()}, {platform.machine()}, CPU only, one torch thread for "
        f"every row, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). The machine has 2 "
        f"cores shared with other work: load average {load[0]:.2f} at the start, "
        f"{load_end[0]:.2f} at the end. The steps of a table were run interleaved in one "
        "process (eager, fused, eager, fused, ...), so their ratios hold although the "
        "absolute figures move with the load; `per CPU second` divides by the training "
        "thread's CPU time instead of the wall clock (nearer an idle machine's figure, though "
        "a busy neighbour still slows the shared caches). Median of the timed runs after a "
        "warm-up.\n\n"
        "## Pruning rounds: 3 trials, validation every 10 epochs, early stopping off\n\n"
        "`eager step` is the step before the fused one (autograd, `backward()`, "
        "`torch.optim.AdamW(fused=True)`); `fused step` is `vaec.fused.FusedStep`, the default "
        "(`training_step=\"auto\"`); `compiled step` is `torch.compile` of the fused step's "
        "gradients (`training_step=\"compiled\"`), whose first epoch holds the compile "
        "(from an empty cache, as for a round of a shape not compiled before).\n\n"
        + shapes_table(rows, flops, roofline) + "\n\n"
        f"Roofline: a 2048 x 2048 float32 matrix product runs at {roofline:.1f} GFLOP/s on "
        "one thread (torch.matmul, a warm-up and 5 products); a model-epoch's FLOP count is "
        "2 per multiply-add of every linear layer, 3 passes, over the training rows.\n\n"
        "## The seed prototype's model (latent_dim 2), evaluated every epoch on both splits\n\n"
        + textbook_table(textbook) + "\n" + selections
    )
    print(text)
    if not args.no_write:
        atomic_write_text(RESULTS, text)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
