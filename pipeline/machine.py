"""What the machine gives a run (its cores, its memory) and what the run shows on it (progress).

**Threads**: one decision per process, never more than the cores. Small models gain little from
threads and lose a lot when the cores are shared (measured on two cores with another process busy,
two torch threads made a round 10 to 100 times slower than one). So the count is a setting
(``threads``); left unset it is one thread per training: the round models are bound by their many
small operations, not by arithmetic, and the default never depends on how busy the machine is (the
same command gives byte-identical weights).

**Memory**: a round too large for the machine is one line saying what to lower, not the kernel's
out-of-memory kill minutes later. The estimate is rough and generous: every replica holds the
activations of all its rows through every layer (values, gradients, pre-activations), its weights
with their gradients and the optimiser's two moments, and the round's inputs are held a few times
over as float64 arrays; the total is doubled for what the estimate leaves out.

**Progress**: :func:`pipeline.selection.run_selection` tells a :class:`Progress` of rounds, epochs,
resamples, the final model and the steps without epochs; the command line draws bars, the selector's
``verbose`` prints a line per round (:class:`LineProgress`), by default nothing is shown, and a
:class:`ProgressRelay` hands every event on to the displays registered with it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from vaec.config import ConfigError, ModelSettings

if TYPE_CHECKING:
    from pipeline.data.dataset import Dataset
    from pipeline.rounds.record import PruningRound
    from pipeline.settings import SelectionSettings
    from pipeline.stability.result import ResampleSelection

FLOAT_BYTES, ARRAY_BYTES = 4, 8  # the network trains in float32; the tables are float64
ACTIVATION_COPIES = 4  # values, gradients, pre-activations and the loss's own per layer
PARAMETER_COPIES = 4  # weights, gradients, two AdamW moments
INPUT_COPIES = 3  # the table, the shadows stacked beside it, the tensors on the device
SAFETY_FACTOR = 2.0
TO_LOWER = ("--n-trials, --latent-dim, --encoder-widths, --decoder-widths, --head-widths or "
            "--max-shadows, or use fewer rows")


def round_bytes(n_rows: int, n_channels: int, n_shadows: int, n_replicas: int,
                model: ModelSettings, n_outputs: int = 1) -> int:
    """The estimated peak bytes of one round: ``n_replicas`` models trained together on ``n_rows`` rows
    of ``n_channels`` channels and ``n_shadows`` shadow channels."""
    n_inputs = n_channels + n_shadows
    encoder = [n_inputs, *model.encoder_widths, 2 * model.latent_dim]  # mean and log-variance
    decoder = [model.latent_dim, *model.decoder_layer_widths, n_inputs]
    head = [model.latent_dim, *model.head_widths, n_outputs]
    layers = [encoder, decoder, head]
    units = sum(sum(widths) for widths in layers)
    weights = sum(a * b + b for widths in layers for a, b in itertools.pairwise(widths))
    per_replica = (n_rows * units * ACTIVATION_COPIES + weights * PARAMETER_COPIES) * FLOAT_BYTES
    inputs = n_rows * n_inputs * ARRAY_BYTES * INPUT_COPIES
    return int(SAFETY_FACTOR * (n_replicas * per_replica + inputs))


def available_bytes() -> int | None:
    """Memory the machine can give a new allocation now (``None`` when it cannot tell): psutil's
    when installed, else the kernel's MemAvailable, else the free pages."""
    with contextlib.suppress(ImportError):
        import psutil

        return int(psutil.virtual_memory().available)
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.0f} MB"


def check_round_memory(n_rows: int, n_channels: int, n_shadows: int, n_replicas: int,
                       model: ModelSettings, n_outputs: int = 1,
                       available: int | None = None) -> int:
    """Return :func:`round_bytes`, or raise :class:`ConfigError` (one line saying what to lower) when it
    is more than the memory ``available`` (default :func:`available_bytes`)."""
    needed = round_bytes(n_rows, n_channels, n_shadows, n_replicas, model, n_outputs)
    available = available_bytes() if available is None else available
    if available is not None and needed > available:
        raise ConfigError(f"a round needs about {_size(needed)} of memory ({n_rows} rows x ({n_channels} "
                          f"channels + {n_shadows} shadows) x {n_replicas} models x the layer widths), more "
                          f"than the {_size(available)} available: lower {TO_LOWER}")
    return needed


def check_selection_memory(dataset: Dataset, config: SelectionSettings,
                           available: int | None = None) -> int:
    """:func:`check_round_memory` of the first (largest) round of a selection on ``dataset``:
    every row, every channel and the most shadows the settings give them (channel and cluster
    shadows), ``n_trials`` models."""
    from pipeline.rounds.shadows import n_shadows

    n_channels = len(dataset.feature_names)
    relevance = config.criterion == "relevance"
    shadows = 2 * n_shadows(n_channels, config.min_shadows, config.max_shadows) if relevance else 0
    n_outputs = dataset.frame[dataset.target].nunique() if dataset.task.has_classes else 1
    models = [config.model] + ([config.final_model] if config.final_model is not None else [])
    return max(check_round_memory(len(dataset.frame), n_channels, shadows, config.n_trials,
                                  model, int(n_outputs), available) for model in models)


# threads ----------------------------------------------------------------------------------------

def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def threads_for(threads: int | None, concurrent: int = 1) -> int:
    """Threads for each of ``concurrent`` trainings sharing this process (``threads`` None:
    one each)."""
    return 1 if threads is None else max(1, threads // max(1, concurrent))


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads, then restore the previous count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# progress ---------------------------------------------------------------------------------------

class Progress(Protocol):
    """Receives the events of a selection."""

    def round_started(self, index: int, n_channels: int, epochs: int) -> None:
        """Round ``index`` starts training on ``n_channels`` for at most ``epochs``."""

    def epoch(self, epoch: int, epochs: int) -> None:
        """An epoch of the current round's training finished."""

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        """A round was decided; the loop keeps ``n_kept`` channels after it."""

    def resamples_started(self, total: int, done: int) -> None:
        """A stability selection starts ``total`` resamples, ``done`` of them finished earlier."""

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        """A resample's selection finished; ``done`` of ``total`` are."""

    def final_started(self, n_channels: int) -> None:
        """The final model starts training."""

    def stage(self, what: str) -> None:
        """A step without epochs starts (``writing the report``), so nothing sits still silently."""


class NoProgress(Progress):
    """Shows nothing (every event of :class:`Progress` does nothing)."""


class LineProgress(NoProgress):
    """One line per round (per resample in a stability selection) and one for the final model,
    with the elapsed time, to ``stream`` (default sys.stderr)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()

    def _line(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f} s] {text}", file=self.stream, flush=True)

    def round_finished(self, record: PruningRound, n_kept: int) -> None:
        self._line(record.summary(n_kept))

    def resample_finished(self, selection: ResampleSelection, done: int, total: int) -> None:
        self._line(f"{done}/{total}: {selection.summary()}")

    def final_started(self, n_channels: int) -> None:
        self._line(f"final model on {n_channels} channels ...")

    def stage(self, what: str) -> None:
        self._line(f"{what} ...")


class ProgressRelay:
    """Every progress event to every display registered in this process.

    A display (the command line's rich bars: a console with locks, a refresh thread) lives in the
    process that draws it, while a flow's tasks may be shipped to other processes (Dask workers):
    Prefect pickles the flow and its tasks with the module globals their code refers to, and
    whenever it pickles a module by value everything those globals reach goes too. So the relay
    keeps its displays on the instance, never in a module global, and a relay that is pickled
    arrives empty: the displays stay where they draw, and a trial group trained elsewhere simply
    tells nobody of its epochs.
    """

    def __init__(self) -> None:
        self._displays: list[Progress] = []

    @property
    def displays(self) -> tuple[Progress, ...]:
        """The displays registered now."""
        return tuple(self._displays)

    @contextlib.contextmanager
    def showing(self, display: Progress | None) -> Iterator[None]:
        """Within the block, ``display`` (if any) is told of every event."""
        if display is None:
            yield
            return
        self._displays.append(display)
        try:
            yield
        finally:
            self._displays.remove(display)

    def __getattr__(self, event: str) -> Callable[..., None]:
        """Each :class:`Progress` event, told to the displays registered when it happens."""
        if event.startswith("_") or not hasattr(Progress, event):
            raise AttributeError(event)

        def tell(*args: Any) -> None:
            for display in self.displays:
                getattr(display, event)(*args)

        return tell

    def __reduce__(self) -> tuple[Any, ...]:
        # another process gets a relay of its own, without this process's displays
        return (type(self), ())
