"""How near its kernels the training step runs: the step timed as it trains, beside the same
step's ATen operations replayed one at a time.

One full-batch step of the default round (breast_cancer's 30 channels + 30 shadows, 341 training
rows, 3 replicas, one torch thread) is recorded operation by operation (``TorchDispatchMode``:
each op with copies of its inputs). Each op is then called alone in a tight loop on those inputs,
from Python, as the step calls it: the sum of their medians is the step's floor with these
kernels, what it would cost with no Python between the calls. A step near its floor is bound by
the kernels at these small shapes, not by the calls; going faster takes faster kernels (or fewer
FLOPs). Beside it, the matrix products' arithmetic rate against a 2048 x 2048 product's.

    python benchmarks/step_floor.py [--steps 300] [--repeats 5]

Writes benchmarks/results/step_floor.md.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

import provenance
import train_throughput

from pipeline.demo import load_demo_data
from vaec.config import ALL_PARTS
from vaec.model import VAECNet, replica_generators
from vaec.training import _trainable, _training_mode, _weights, make_step

RESULTS = Path(__file__).parent / "results"
MATMULS = ("bmm", "baddbmm")


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[Any, tuple, dict]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.ops.append((func, _copy(args), _copy(kwargs)))
        return func(*args, **kwargs)


def _flops(func: Any, args: tuple) -> float:
    name = func.__name__.split(".")[0]
    if name == "bmm":
        a, b = args[0], args[1]
    elif name == "baddbmm":
        a, b = args[1], args[2]
    else:
        return 0.0
    return 2.0 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]


def _median_seconds(call: Any, loops: int, repeats: int) -> float:
    for _ in range(loops // 10 + 1):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            call()
        times.append((time.perf_counter() - start) / loops)
    return statistics.median(times)


def measure(steps: int, repeats: int) -> dict[str, Any]:
    """The step's seconds, its ops' summed floor and the matrix products' rate."""
    data, _ = load_demo_data("breast_cancer", seed=0)
    shape = train_throughput.benchmark_round(data, steps)
    config = shape.config.replace(training_step="auto")
    net = VAECNet(config, 3)
    x, y = shape.tensors[0], shape.tensors[1]
    weights = _weights(config, ALL_PARTS)
    step = make_step(net, ALL_PARTS, weights, _trainable(net, ALL_PARTS))
    noise = replica_generators(config.seed, net.n_replicas, x.device)
    _training_mode(net, ALL_PARTS)

    def one_step() -> None:
        step(x, y, None, noise, full_batch=True)

    step_seconds = _median_seconds(one_step, steps, repeats)
    recorder = _Recorder()
    with recorder:
        one_step()
    per_op: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for func, args, kwargs in recorder.ops:
        seconds = _median_seconds(lambda f=func, a=args, k=kwargs: f(*a, **k), 200, repeats)
        entry = per_op[func.__name__.split(".")[0]]
        entry[0] += 1
        entry[1] += seconds
        entry[2] += _flops(func, args)
    floor = sum(e[1] for e in per_op.values())
    matmul_seconds = sum(per_op[n][1] for n in MATMULS if n in per_op)
    matmul_flops = sum(per_op[n][2] for n in MATMULS if n in per_op)
    return {"step": step_seconds, "floor": floor, "ops": len(recorder.ops), "per_op": dict(per_op),
            "matmul_gflops": matmul_flops / matmul_seconds / 1e9 if matmul_seconds else 0.0,
            "roofline_gflops": train_throughput.sgemm_roofline(1), "label": shape.label}


def to_markdown(result: dict[str, Any], steps: int, repeats: int, load: tuple[float, float]) -> str:
    step, floor = result["step"], result["floor"]
    rate = lambda seconds: 3 / seconds  # noqa: E731  model-steps (3 replicas) per second
    lines = [
        "# The training step beside its kernels", "",
        f"Selector at commit {provenance.selector_commit()}; "
        f"`python benchmarks/step_floor.py --steps {steps} --repeats {repeats}` on {platform.machine()}, "
        f"torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}), one torch "
        f"thread, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {load[0]:.2f} at the "
        f"start, {load[1]:.2f} at the end.", "",
        f"{result['label']}, 3 replicas, one full-batch fused step (forward, gradients, AdamW), "
        "without the evaluations a round adds every 10 epochs. `floor`: the step's ATen operations "
        "(recorded from one step) each called alone in a tight loop on copies of its inputs, the "
        "medians summed: the step's cost with nothing between the calls.", "",
        "| | µs a step | model-epochs/s |", "|---|---:|---:|",
        f"| the step as it trains | {step * 1e6:.0f} | {rate(step):.0f} |",
        f"| its {result['ops']} operations alone, summed (the floor) | {floor * 1e6:.0f} | "
        f"{rate(floor):.0f} |",
        f"| a step at 5,000 model-epochs/s | {3 / 5000 * 1e6:.0f} | 5000 |", "",
        f"The step runs at **{floor / step:.0%} of its floor's speed**: the calls between the kernels "
        f"cost {max(step - floor, 0) * 1e6:.0f} µs of its {step * 1e6:.0f}. The matrix products run at "
        f"{result['matmul_gflops']:.1f} GFLOP/s against {result['roofline_gflops']:.1f} GFLOP/s for a "
        "2048 x 2048 product on the same thread: at these shapes (a few hundred rows by 16-60 "
        "columns) each call is too small to reach the machine's rate.", "",
        "| operation | calls | µs a step (alone) | share of the floor |", "|---|---:|---:|---:|"]
    for name, (calls, seconds, _) in sorted(result["per_op"].items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| {name} | {calls} | {seconds * 1e6:.1f} | {seconds / floor:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps a timed repeat (300)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats, the median kept (5)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start_load = os.getloadavg()[0]
    result = measure(args.steps, args.repeats)
    text = to_markdown(result, args.steps, args.repeats, (start_load, os.getloadavg()[0]))
    return provenance.publish(RESULTS / "step_floor.md", text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
