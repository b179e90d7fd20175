"""The commands of ``vaec-select``: run (the flow, on a temporary or a shared Prefect server),
serve, report, transform, predict and demo. Each takes the parsed arguments and returns its exit
code; bad arguments and bad data raise :class:`flows.options.UsageError` before any work."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from flows.options import EXIT_FAILURE, PROG, UsageError, _options_named, _parameters

HEALTH_TIMEOUT_SECONDS = 5.0  # the check of a shared server before a run or serve starts
START_A_SERVER = "start one with 'prefect server start' and set PREFECT_API_URL=http://127.0.0.1:4200/api"


def _api_url(fix: str) -> str | None:
    """``PREFECT_API_URL`` (``None``: unset); a ConfigError ending in ``fix`` when no server answers."""
    from prefect.settings import PREFECT_API_URL

    from flows.server import health_problem
    from vaec.config import ConfigError

    url = PREFECT_API_URL.value()
    if not url:
        return None
    problem = health_problem(url, HEALTH_TIMEOUT_SECONDS)
    if problem is not None:
        cause = problem[0]
        why = (f"it answers {cause} to a health check, not as a Prefect server's API (it ends in /api)"
               if cause.startswith("HTTP ") else f"nothing answers ({cause})")
        raise ConfigError(f"no Prefect server at PREFECT_API_URL={url}: {why}; {fix}")
    return url


def check_server() -> str:
    """``PREFECT_API_URL`` if a Prefect server answers there, else a ConfigError saying how to start
    one: Prefect schedules on no temporary server, and ``serve`` would wait for runs forever."""
    from vaec.config import ConfigError

    url = _api_url(START_A_SERVER)
    if url is None:
        raise ConfigError(f"serve needs a running Prefect server and PREFECT_API_URL is not set: "
                          f"{START_A_SERVER}")
    return url


def _check_data(params: Any) -> Any:
    """Load the data now: a bad file or column, a count of channels the data does not have or a
    round larger than the memory fails before the flow starts (which reuses what was loaded)."""
    from pipeline.data.dataset import load_dataset
    from pipeline.data.tables import DataError
    from pipeline.machine import check_selection_memory
    from pipeline.selection import check_count

    dataset = load_dataset(**params.load_arguments())
    with _options_named(DataError):
        settings = params.selection()
        check_count(dataset.feature_names, settings.budget, dataset.constant_columns)
        check_selection_memory(dataset, settings)  # a round the machine cannot hold: what to lower
    return dataset


def _finished_work(params: Any, fingerprint: str, started: str) -> str:
    """What a run that must stop now leaves on disk: its report, or its checkpoint."""
    from pipeline.report.store import CHECKPOINT_DIR, list_runs

    with warnings.catch_warnings():  # an unreadable old run is no news here
        warnings.simplefilter("ignore")
        reports = [r for r in list_runs(params.reports_dir, fingerprint) if r.created >= started]
    if reports:
        return f"the report is written: {(reports[0].folder / 'report.html').resolve()}"
    checkpoint = Path(params.reports_dir) / CHECKPOINT_DIR / f"{fingerprint}.json"
    if checkpoint.is_file():
        return f"the finished work is kept in {checkpoint.resolve()} (the same command resumes from it)"
    return "nothing had finished"


def _server_watch(url: str, params: Any, dataset: Any) -> Any:
    """A :class:`flows.server.ServerWatch` that, when the shared server at ``url`` stops answering,
    ends the process at once with one line saying what is kept (exit 1)."""
    import datetime as dt

    from flows.server import ServerWatch
    from pipeline.report.store import run_fingerprint

    fingerprint = run_fingerprint(dataset.summary(), params.selection())
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    def gone(reason: str) -> None:
        # on a line of its own: another thread may have left half a line on the terminal
        print(f"\n{PROG}: error: the Prefect server at {url} is gone ({reason}); "
              f"{_finished_work(params, fingerprint, started)}", file=sys.stderr)
        _exit_now(EXIT_FAILURE)

    return ServerWatch(url, gone)


def command_run(args: argparse.Namespace) -> int:
    """``vaec-select run``: Prefect's temporary server (without ``PREFECT_API_URL``) starts first and
    boots while the libraries load and the data is checked; the flow waits for it only then."""
    params = _parameters(args)
    if params.task_runner == "dask":
        from flows.parameters import check_dask_installed

        with _options_named():
            check_dask_installed()
    from flows.display import RoundProgress, print_summary
    from flows.server import temporary_server

    name = params.dataset or Path(params.source).name
    # the named run's claim is released last, after the display and the server have stopped
    with contextlib.ExitStack() as claimed, RoundProgress(enabled=sys.stderr.isatty()) as progress:
        progress.stage(f"starting the run on {name}")
        with temporary_server() as server:
            meanwhile = "" if server is None else " (Prefect's local server is starting)"
            # before the data: a run on a server that is not there
            shared = _api_url("start it, or unset PREFECT_API_URL and the run starts a temporary server")
            progress.stage(f"loading {name} and the libraries{meanwhile}")  # torch, pandas, sklearn
            dataset = _check_data(params)
            from pipeline.report.claim import release
            from pipeline.report.store import check_reports_folder, claim_named_run

            with _options_named():  # of two runs of one name, one trains and the other stops here
                check_reports_folder(params.reports_dir, params.run_name)
                if params.run_name is not None:
                    claimed.callback(release, claim_named_run(params.reports_dir, params.run_name))
            progress.stage(f"loading the flow{meanwhile}")
            from flows.display import console_without_tracebacks
            from flows.feature_selection import run_feature_selection

            if server is not None:
                if not server.answers():
                    progress.stage("waiting for Prefect's local server to start")
                server.wait()
            progress.stage("starting the flow run")
            watch = contextlib.nullcontext() if shared is None else _server_watch(shared, params, dataset)
            with console_without_tracebacks(), watch:
                out = run_feature_selection(params, progress=progress)
            progress.stage("finishing the run")
    print_summary(out)
    return 0


def command_serve(args: argparse.Namespace) -> int:
    from flows.parameters import check_cron

    check_cron(args.cron)  # a ConfigError: a usage error
    params = _parameters(args)
    from flows.display import console_without_tracebacks
    from pipeline.report.store import check_reports_folder

    # before the data: without a server, serve would wait for runs that never come
    with _options_named():
        check_server()
        # a served run name is a prefix: every run has a folder of its own
        check_reports_folder(params.reports_dir)
    _check_data(params)
    from flows.feature_selection import serve

    with console_without_tracebacks():
        serve(params, cron=args.cron, name=args.name)
    return 0


def command_report(args: argparse.Namespace) -> int:
    """``vaec-select report``: the runs, or one run's sentences and tables as its report holds them."""
    from pipeline.report.store import StoreError, list_runs, read_report
    from pipeline.report.tables import Table

    if args.run is None:
        runs = list_runs(args.reports_dir)
        table = Table(columns=["run", "created", "dataset", "selected", "stop reason"],
                      rows=[[r.folder.name, r.created, r.dataset, str(len(r.selected)), r.stop_reason]
                            for r in runs])
        print(table.render("text") if runs else f"no runs under {args.reports_dir}")
        return 0
    folder = Path(args.run)
    if not (folder / "report.json").is_file():
        folder = Path(args.reports_dir) / args.run
    if not folder.is_dir():
        raise UsageError(f"unknown run {args.run!r}: no folder {folder} "
                         f"('{PROG} report --reports-dir {args.reports_dir}' lists the runs)")
    try:
        report = read_report(folder)
    except StoreError as err:
        raise UsageError(f"cannot read run {args.run!r}: {err}") from err
    for line in report.notes:
        print(line)
    table = report.tables.get("keep_frequency") or report.tables.get("rounds")
    if table is not None:
        print("\n" + table.render("text") + "\n")
    print(f"selected ({len(report.selected)}): {', '.join(report.selected)}")
    print(f"dropped ({len(report.dropped)}): {', '.join(report.dropped) or 'none'}")
    if report.data.weight_column:
        print(f"rows weighted by column {report.data.weight_column!r} (not a feature)")
    print(f"stop reason: {report.stop_reason}")
    print(f"report: {(folder / 'report.html').resolve()}")
    return 0


def command_transform(args: argparse.Namespace) -> int:
    from pipeline.apply import transform_file

    print(f"wrote {transform_file(args.selection, args.data, args.out)}")
    return 0


def command_predict(args: argparse.Namespace) -> int:
    from pipeline.apply import predict_file

    print("wrote", predict_file(args.model, args.data, args.out, n_sigma=args.n_sigma,
                                all_confidence=args.all_confidence))
    return 0


def command_demo(args: argparse.Namespace) -> int:
    import torch

    from pipeline.demo import run_demo, summary_table

    # These models are tiny: one intra-op thread is several times faster than two, whose
    # synchronisation costs more than the matmuls (and collapses when the cores are busy).
    torch.set_num_threads(1)
    summary = run_demo(args.dataset, epochs=args.epochs, reports_dir=args.reports_dir,
                       latent_dim=args.latent_dim, seed=args.seed)
    print(summary_table(summary))
    print(f"report: {(Path(args.reports_dir) / f'{args.dataset}-demo' / summary['page']).resolve()}")
    return 0


def _exit_now(code: int) -> None:
    """End the process with ``code`` at once: the trials still training in the task runner's
    worker threads cannot be interrupted, and the interpreter would wait for them at exit."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
