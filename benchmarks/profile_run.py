"""Where the time of ``vaec-select run --dataset breast_cancer`` goes, end to end.

The command line is called in this process (``flows.cli.main``) with timers wrapped around the
functions that do each part of the job (in this benchmark only; the code under test is not
changed):

- import: the modules the run loads (torch, prefect, pandas and the project), timed before the
  run so the run itself finds them loaded;
- Prefect server start: the temporary local server the run starts (``temporary_server``);
- data: loading and validating the table (the command line does it before the flow, which
  reuses it), and the split;
- round k: the training and scoring of round k's trials, and its decision;
- final model: the encoder + head on the kept channels;
- report: its parts (figures, the saved model, the tables, the markdown and HTML pages);
- artifacts: the Prefect markdown and table artifacts;
- Prefect flow and task overhead: the rest of the run (flow and task runs reported to the
  server, the run's folder and checkpoint, the summary printed).

    python benchmarks/profile_run.py [--threads 1] [--dataset breast_cancer]

Writes benchmarks/results/profile_run.md.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "profile_run.md"


class Timers:
    """Wall-clock intervals of the named parts of a run, in the order they started."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, float, float]] = []

    @contextlib.contextmanager
    def part(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.parts.append((name, start, time.perf_counter()))

    def wrap(self, module: Any, attribute: str, name: str | Callable[..., str]) -> None:
        """Time every call of ``module.attribute`` (``name`` may be worked out from the call)."""
        original = getattr(module, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            with self.part(label):
                return original(*args, **kwargs)

        setattr(module, attribute, timed)

    def wrap_context(self, module: Any, attribute: str, name: str) -> None:
        """Time the entry of the context manager ``module.attribute()`` (its start)."""
        original = getattr(module, attribute)

        @contextlib.contextmanager
        def timed(*args: Any, **kwargs: Any) -> Iterator[Any]:
            manager = original(*args, **kwargs)
            with self.part(name):
                value = manager.__enter__()
            try:
                yield value
            except BaseException:
                if not manager.__exit__(*sys.exc_info()):
                    raise
            else:
                with self.part(name.replace("start", "stop")):
                    manager.__exit__(None, None, None)

        setattr(module, attribute, timed)


def _round_label(_split: Any, _channels: Any, _config: Any, round_index: int, *_: Any,
                 **__: Any) -> str:
    return f"round {round_index}: trials (training, scores)"


def _decision_label(round_index: int, *_: Any, **__: Any) -> str:
    return f"round {round_index}: decision"


def instrument(timers: Timers) -> None:
    """Put the timers around the parts of the run (the modules are imported by now)."""
    import flows.cli as cli
    import flows.feature_selection as flow
    import flows.temporary_server as server
    import pipeline.report.writer as writer
    import pipeline.rounds.loop as loop
    import pipeline.selection as selection
    from pipeline.final_model import FinalModel

    timers.wrap(cli, "_check_data", "data: load and validate (the command line, before the flow)")
    timers.wrap_context(server, "temporary_server", "Prefect server start")
    timers.wrap(flow, "load_dataset", "data: the flow's load (reuses the command line's)")
    timers.wrap(selection, "split_dataset", "data: split")
    timers.wrap(loop, "train_trials", _round_label)
    timers.wrap(flow, "train_trials", _round_label)
    timers.wrap(loop, "decide_round", _decision_label)
    timers.wrap(flow, "fit_final_model", "final model")
    timers.wrap(writer, "page_figures", "report: figures")
    timers.wrap(FinalModel, "save", "report: final model saved")
    timers.wrap(writer, "report_tables", "report: tables")
    timers.wrap(writer, "report_content", "report: content (report.json)")
    timers.wrap(writer, "render_page", lambda kind, *_, **__: f"report: {kind} page")
    timers.wrap(flow, "publish_artifacts", "artifacts (Prefect)")


def import_times() -> list[tuple[str, float]]:
    """Seconds of loading what a run loads, the heavy libraries one by one, then the rest."""
    rows = []
    for label, module in (("import: torch", "torch"), ("import: pandas, scikit-learn", "sklearn"),
                          ("import: prefect", "prefect"),
                          ("import: matplotlib, jinja2", "matplotlib.pyplot"),
                          ("import: the project (flows, pipeline, vaec)", "flows.feature_selection")):
        start = time.perf_counter()
        importlib.import_module(module)
        if module == "sklearn":
            importlib.import_module("pandas")
        if module == "matplotlib.pyplot":
            importlib.import_module("jinja2")
        rows.append((label, time.perf_counter() - start))
    return rows


def merged(timers: Timers) -> list[tuple[str, float]]:
    """Seconds per part name (calls of one name summed), in the order of first start."""
    totals: dict[str, float] = {}
    for name, start, end in sorted(timers.parts, key=lambda p: p[1]):
        totals[name] = totals.get(name, 0.0) + end - start
    return list(totals.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="breast_cancer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the run (1)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    from flows.cli import PREFECT_DEFAULTS

    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    process_start = time.perf_counter()
    imports = import_times()
    from flows.cli import main as cli_main

    timers = Timers()
    instrument(timers)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as reports:
        start = time.perf_counter()
        code = cli_main(["run", "--dataset", args.dataset, "--reports-dir", reports,
                         "--threads", str(args.threads)])
        run_seconds = time.perf_counter() - start
    if code != 0:
        print(f"the run failed with exit code {code}", file=sys.stderr)
        return code
    parts = merged(timers)
    # the server's start and stop surround the rest; nothing else nests
    inside = sum(s for name, s in parts)
    total = time.perf_counter() - process_start
    rows = [*imports, *parts, ("Prefect flow and task overhead, the rest of the run",
                               max(0.0, run_seconds - inside))]
    import torch

    lines = [
        f"# Where `vaec-select run --dataset {args.dataset}` spends its time", "",
        f"`python benchmarks/profile_run.py --threads {args.threads}` on {platform.machine()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{load[0]:.2f} at the start (2 cores, shared). The command line runs in the "
        "benchmark's process; each part is the wall-clock time of the functions that do it "
        "(timers put around them by the benchmark), the imports are timed before the run.",
        "", f"**{total:.1f} s** from the first import to the run's end "
        f"(the run itself: {run_seconds:.1f} s).", "",
        "| part | seconds | share |", "|---|---:|---:|"]
    for name, seconds in rows:
        lines.append(f"| {name} | {seconds:.2f} | {seconds / total:.0%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        from vaec.persistence import atomic_write_text

        atomic_write_text(RESULTS, text)
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
