"""Where the time of ``vaec-select run --dataset breast_cancer`` goes, end to end.

The command line is called in this process (``flows.cli.main``) with timers wrapped around the
functions that do each part of the job (in this benchmark only; the code under test is not
changed):

- import: the modules the run loads (torch, prefect, pandas and the project), timed before the
  run so the run itself finds them loaded;
- Prefect server: the temporary local server the run starts (``temporary_server``: its process
  is started first, then waited for before the flow; here, with the imports done before the run,
  almost nothing overlaps the wait, which the whole command's timing below shows);
- data: loading and validating the table (the command line does it before the flow, which
  reuses it), and the split;
- round k: the training and scoring of round k's trials, and its decision;
- final model: the encoder + head on the kept channels;
- report: its parts (figures, the saved model, the tables, the markdown and HTML pages);
- artifacts: the Prefect markdown and table artifacts;
- Prefect flow and task overhead: the rest of the run (flow and task runs reported to the
  server, the run's folder and checkpoint, the summary printed).

The whole command is also timed as people run it (``--runs N``, 3 by default): a process of its
own on a terminal (a pseudo-terminal, so the progress display draws as at a shell), a fresh
``PREFECT_HOME`` each run (the first run on a machine: Prefect makes its database) alternating
with runs on one ``PREFECT_HOME`` used before (every later run), and of each run: when the first text
showed, when the command ended, and how long the command waited for Prefect's server (the part of
the server's start that nothing else overlapped). ``--baseline REF`` times the command of that git
revision beside this tree's, alternating run by run, so both see the same machine.

    python benchmarks/profile_run.py [--threads 1] [--dataset breast_cancer] [--runs 3]
                                     [--baseline REF]

Writes benchmarks/results/profile_run.md.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import importlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
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

    def wrap_context(self, module: Any, attribute: str, name: str, exit_name: str) -> None:
        """Time the entry and the exit of the context manager ``module.attribute()``."""
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
                with self.part(exit_name):
                    manager.__exit__(None, None, None)

        setattr(module, attribute, timed)


def _round_label(_split: Any, _channels: Any, _config: Any, round_index: int, *_: Any,
                 **__: Any) -> str:
    return f"round {round_index}: trials (training, scores)"


def _decision_label(round_index: int, *_: Any, **__: Any) -> str:
    return f"round {round_index}: decision"


def instrument(timers: Timers) -> None:
    """Put the timers around the parts of the run (the modules are imported by now)."""
    import flows.commands as commands
    import flows.feature_selection as flow
    import flows.server as server
    import pipeline.report.writer as writer
    import pipeline.rounds.loop as loop
    import pipeline.selection as selection
    from pipeline.final_model import FinalModel

    timers.wrap(commands, "_check_data", "data: load and validate (the command line, before the flow)")
    timers.wrap_context(server, "temporary_server", "Prefect server: its process started",
                        "Prefect server stop")
    timers.wrap(server.TemporaryServer, "wait", "Prefect server: waiting for it to answer")
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


def _time_server_wait() -> Timers:
    """Timers on the command line's wait for Prefect's server, its parts named ``server wait``
    (light: only the server's module is imported, which imports Prefect when called)."""
    import flows.server as server

    timers = Timers()
    if hasattr(server, "TemporaryServer"):  # started at once, waited for before the flow
        timers.wrap(server.TemporaryServer, "wait", "server wait")
    else:  # started and waited for in one call, on entering the context
        timers.wrap_context(server, "temporary_server", "server wait", "server stop")
    return timers


def child(args: argparse.Namespace) -> int:
    """One whole command, in this process: what ``--runs`` starts."""
    timers = _time_server_wait()
    from flows.cli import main as cli_main

    def write_timings() -> None:
        timings = {name: seconds for name, seconds in merged(timers) if name == "server wait"}
        Path(args.timings).write_text(json.dumps(timings))

    # as the installed command calls it: with the process's arguments, so the process ends as the
    # command's does (the timings are written among its exit handlers)
    atexit.register(write_timings)
    sys.argv = ["vaec-select", "run", "--dataset", args.dataset, "--reports-dir", args.reports_dir,
                "--threads", str(args.threads)]
    return cli_main()


TEXT = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|[\r\n\s]")


def whole_run(tree: Path, dataset: str, threads: int, home: Path | None = None) -> dict[str, float]:
    """One command on a terminal, the code of ``tree``, a fresh PREFECT_HOME (or ``home``, one
    used before): seconds to the first text shown, to the end, and of waiting for the server."""
    import pty

    with tempfile.TemporaryDirectory() as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({"PREFECT_HOME": str(home or Path(scratch) / "prefect-home"),
                    "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"})
        timings = Path(scratch) / "timings.json"
        terminal, child_side = pty.openpty()
        start = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", "--timings", str(timings), "--dataset",
             dataset, "--threads", str(threads), "--reports-dir", str(Path(scratch) / "reports")],
            env=env, cwd=scratch, stdin=subprocess.DEVNULL, stdout=child_side, stderr=child_side)
        os.close(child_side)
        first: list[float] = []
        shown = bytearray()

        def read() -> None:
            while True:
                try:
                    chunk = os.read(terminal, 65536)
                except OSError:  # the child side closed
                    return
                if not chunk:
                    return
                if not first and TEXT.sub("", chunk.decode(errors="replace")):
                    first.append(time.perf_counter() - start)
                shown.extend(chunk)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        code = process.wait()
        end = time.perf_counter() - start
        reader.join(timeout=30)
        os.close(terminal)
        if code != 0:
            raise RuntimeError(f"the command failed ({code}): {shown.decode(errors='replace')[-2000:]}")
        waited = json.loads(timings.read_text()).get("server wait", 0.0)
        return {"first text shown": first[0] if first else end, "whole command": end,
                "waiting for the server": waited}


@contextlib.contextmanager
def revision_tree(ref: str) -> Iterator[Path]:
    """The files of git revision ``ref`` in a temporary folder."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(["git", "-C", str(root), "archive", ref], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


def whole_runs(runs: int, dataset: str, threads: int,
               baseline: str | None) -> tuple[list[str], dict[str, list[dict[str, float]]]]:
    """The whole command ``runs`` times: a first run (a fresh PREFECT_HOME) alternating with a later
    one (a PREFECT_HOME that an untimed run used first, as on a machine where the command ran
    before); with a baseline, each of them of the baseline's code and of this tree's, alternating."""
    here = Path(__file__).resolve().parent.parent
    with contextlib.ExitStack() as stack:
        versions = {"": here} if baseline is None else {
            f", before ({baseline})": stack.enter_context(revision_tree(baseline)), ", this tree": here}
        trees: dict[str, tuple[Path, Path | None]] = {}
        for kind in ("first run", "later run"):
            for version, tree in versions.items():
                home = None
                if kind == "later run":
                    home = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "prefect-home"
                    whole_run(tree, dataset, threads, home)  # the home's database made
                trees[kind + version] = (tree, home)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(runs):
            for name, (tree, home) in trees.items():
                results[name].append(whole_run(tree, dataset, threads, home))
                print(name, results[name][-1], flush=True)
    figures = list(next(iter(results.values()))[0])
    return figures, results


def whole_table(figures: list[str], results: dict[str, list[dict[str, float]]]) -> list[str]:
    """Medians (and each run) per figure, a column per tree."""
    lines = ["| seconds (median of " + str(len(next(iter(results.values())))) + " runs) | "
             + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for figure in figures:
        cells = []
        for runs in results.values():
            values = [run[figure] for run in runs]
            cells.append(f"**{statistics.median(values):.1f}** ("
                         + ", ".join(f"{v:.1f}" for v in values) + ")")
        lines.append(f"| {figure} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="breast_cancer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the run (1)")
    parser.add_argument("--runs", type=int, default=3,
                        help="whole commands timed as a process of their own (3; 0: none)")
    parser.add_argument("--baseline", default=None, metavar="REF",
                        help="a git revision whose command is timed beside this tree's")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--timings", help=argparse.SUPPRESS)
    parser.add_argument("--reports-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    whole: list[str] = []
    if args.runs:
        load = os.getloadavg()
        figures, results = whole_runs(args.runs, args.dataset, args.threads, args.baseline)
        whole = ["## The whole command, as people run it", "",
                 f"`vaec-select run --dataset {args.dataset} --threads {args.threads}` as a process "
                 "of its own on a (pseudo-)terminal, a fresh `PREFECT_HOME` each run (*first run*; "
                 "*later run*: one `PREFECT_HOME` that a run used before); "
                 f"load average {load[0]:.2f} at the start"
                 + (", the two trees alternating run by run" if args.baseline else "") + ". "
                 "*First text shown*: from the start of the process to the first text on the "
                 "terminal; *waiting for the server*: the time the command stood waiting for "
                 "Prefect's temporary server (its start, less what the command did meanwhile).",
                 "", *whole_table(figures, results), ""]
    from flows.cli import PREFECT_DEFAULTS

    for name in [n for n in os.environ if n.startswith("PREFECT_")]:  # as the whole commands
        del os.environ[name]
    home = tempfile.TemporaryDirectory()  # a fresh PREFECT_HOME, as the whole commands have
    os.environ["PREFECT_HOME"] = home.name
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
        f"# Where `vaec-select run --dataset {args.dataset}` spends its time", "", *whole,
        "## Its parts, in one process", "",
        f"`python benchmarks/profile_run.py --threads {args.threads}` on {platform.machine()}, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{load[0]:.2f} at the start (2 cores, shared). The command line runs in the "
        "benchmark's process; each part is the wall-clock time of the functions that do it "
        "(timers put around them by the benchmark), the imports are timed before the run, so "
        "here the server's boot overlaps only the data checks (the whole command, above, "
        "overlaps it with the imports too).",
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
