"""The selections of the default settings with the eager and with the fused training step.

The fused step's gradients equal the eager step's up to the order of floating-point sums, so
two trainings from the same seed part in the last bits and drift apart over the epochs; what
must not change is the selection. This runs the plain selection (no final model) on
breast_cancer, wine and madelon for a few seeds with every round's trials trained by each step
and compares the kept channels.

    python benchmarks/step_selections.py [--seeds 0 1 2]

``train_throughput.py`` puts the table in its results file.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence

import numpy as np
import torch

DATASETS = ("breast_cancer", "wine", "madelon")


@contextlib.contextmanager
def training_step(step: str) -> Iterator[None]:
    """Every training in the block runs ``step`` (``eager`` or ``auto``, the fused step)."""
    import vaec.training as steps

    original = steps.fused_step_supported
    if step == "eager":
        steps.fused_step_supported = lambda *args: "eager asked for"
    try:
        yield
    finally:
        steps.fused_step_supported = original


def selection(name: str, seed: int, step: str) -> tuple[list[str], list[int], float]:
    """The kept channels, the channels of every round, the seconds."""
    from pipeline.data.dataset import load_dataset
    from pipeline.selection import run_selection
    from pipeline.settings import SelectionSettings

    start = time.perf_counter()
    with training_step(step):
        result = run_selection(load_dataset(name), SelectionSettings(seed=seed), fit_final=None)
    return list(result.selected), [len(r.kept) for r in result.rounds], time.perf_counter() - start


def compare(datasets: Sequence[str] = DATASETS, seeds: Sequence[int] = (0, 1, 2)) -> tuple[str, bool]:
    """A markdown table of the selections with each step, and whether they all agree."""
    lines = ["| data set | seed | kept, eager step | kept, fused step | rounds (channels), eager "
             "| rounds, fused | same selection | seconds eager / fused |",
             "| --- | ---: | ---: | ---: | --- | --- | --- | ---: |"]
    same_all = True
    for name in datasets:
        for seed in seeds:
            eager, eager_rounds, eager_s = selection(name, seed, "eager")
            fused, fused_rounds, fused_s = selection(name, seed, "auto")
            same = eager == fused
            same_all &= same
            lines.append(f"| {name} | {seed} | {len(eager)} | {len(fused)} | {eager_rounds} "
                         f"| {fused_rounds} | {'yes' if same else 'NO'} "
                         f"| {eager_s:.1f} / {fused_s:.1f} |")
            print(lines[-1], flush=True)
    return "\n".join(lines), same_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    np.seterr(all="ignore")
    table, same = compare(seeds=args.seeds)
    print(table)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
