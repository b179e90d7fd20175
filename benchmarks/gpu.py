"""Model-epochs per second of the training steps on a CUDA GPU.

Trains the default pruning round's model (3 trials, all_parts, validation every 10 epochs,
early stopping off) on the round shapes of ``train_throughput.py`` with every training step
(``eager``, ``fused`` = ``training_step="auto"``, and with ``--compiled`` the compiled one)
on the GPU, the steps interleaved run by run, and prints a table with the device and the torch
build in its header. Without CUDA it prints one line saying so and exits 0.

    python benchmarks/gpu.py [--epochs 300] [--replicas 3 8 32] [--compiled] [--write]

``--write`` also writes ``benchmarks/results/gpu.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "gpu.md"


def synchronised_run(shape, step: str, n_replicas: int, device: torch.device) -> float:
    """Seconds of one training on ``device``, the queue drained before and after."""
    from vaec.config import ALL_PARTS
    from vaec.model import VAECNet
    from vaec.training import train

    config = shape.config.replace(training_step=step, device=str(device))
    tensors = [t.to(device) for t in shape.tensors]
    weights = [None if w is None else w.to(device) for w in (shape.row_weights, shape.val_row_weights)]
    net = VAECNet(config, n_replicas).to(device)
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    train(net, ALL_PARTS, *tensors, record_snapshots=False, row_weights=weights[0],
          val_row_weights=weights[1])
    torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="epochs of the rounds (300)")
    parser.add_argument("--wide-epochs", type=int, default=20, help="epochs of the wide round (20)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[3, 8, 32])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (3)")
    parser.add_argument("--compiled", action="store_true", help="also the compiled step")
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS.name}")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"gpu.py: skipped, no CUDA device (torch {torch.__version__}, "
              f"CUDA build {torch.version.cuda or 'none'})")
        return 0
    sys.path.insert(0, str(Path(__file__).parent))
    import train_throughput as tt

    from pipeline.demo import load_demo_data

    device = torch.device("cuda")
    properties = torch.cuda.get_device_properties(device)
    data, _ = load_demo_data("breast_cancer", seed=0)
    shapes = [tt.benchmark_round(data, args.epochs),
              tt.pipeline_round(tt.bench_frame("breast_cancer"), "breast_cancer", args.epochs),
              tt.pipeline_round(tt.bench_frame("mnist"), "MNIST-5000", args.wide_epochs)]
    steps = ["eager", "auto", *(["compiled"] if args.compiled else [])]
    lines = [
        "# Training throughput on a GPU", "",
        f"`python benchmarks/gpu.py` on {properties.name} ({properties.total_memory / 2**30:.0f} "
        f"GiB, compute capability {properties.major}.{properties.minor}), torch "
        f"{torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
        f"{torch.backends.cudnn.version()}), Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.2f}. Median of {args.repeats} runs after a warm-up, the steps "
        "interleaved; the GPU queue is drained before and after every run.", "",
        "| round shape | replicas | step | seconds | model-epochs/s | vs eager |",
        "| --- | ---: | --- | ---: | ---: | ---: |"]
    print("\n".join(lines), flush=True)
    for shape in shapes:
        for n in args.replicas:
            runs = {s: (lambda s=s, n=n, shape=shape: synchronised_run(shape, s, n, device))
                    for s in steps}
            times = tt.interleaved(args.repeats, {k: (lambda f=f: (f(),)) for k, f in runs.items()})
            eager = None
            for step in steps:
                seconds = statistics.median(t[0] for t in times[step])
                rate = n * shape.config.epochs / seconds
                eager = eager or rate
                lines.append(f"| {shape.label} | {n} | {tt.STEP_NAMES[step]} | {seconds:.2f} "
                             f"| {rate:.0f} | {rate / eager:.2f}x |")
                print(lines[-1], flush=True)
    if args.write:
        from vaec.persistence import atomic_write_text

        atomic_write_text(RESULTS, "\n".join(lines) + "\n")
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
