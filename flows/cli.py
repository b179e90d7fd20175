"""The ``vaec-select`` command line: run, serve, report, transform, predict, demo.

Bad arguments and bad data end with one line on stderr and exit code 2, before any training.
Anything else that fails ends with one line naming the cause (and the file) and exit code 1;
``--debug`` prints the traceback too. Warnings are one line each. Heavy libraries (torch,
pandas, matplotlib, prefect) load only in the commands that work with them, so ``--help``, a
usage error or the run listing answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

PROG = "vaec-select"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
FLOW_NAME = "vaec-feature-selection"

# Prefect settings are read when prefect is first imported, so these go in before that.
PREFECT_DEFAULTS = {
    # no telemetry (nor its notice) from a machine that may have no outside network
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # the temporary local server (no PREFECT_API_URL) can be slow to start on a busy machine
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


class UsageError(Exception):
    """Bad arguments: printed as one line, exit code 2."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:  # running from a source tree that is not installed
        from vaec import __version__

        return __version__


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from err
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def _value_parser(annotation: Any) -> tuple[Callable[[str], Any], list[str] | None, str]:
    """Text -> value of a setting of this type (``none`` for an optional one), its choices, and
    its placeholder; the range is checked by the settings model, so the command line says what
    the flow and the selector say."""
    import types
    import typing

    def bare(kind: Any) -> Any:  # Annotated[int, Field(ge=1)] -> int
        return typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Annotated else kind

    args = typing.get_args(annotation)
    optional = type(None) in args
    words: list[str] = []  # a count or a word: int | Literal["auto"]
    if optional or isinstance(annotation, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        words = [str(w) for a in kinds if typing.get_origin(a) is typing.Literal
                 for w in typing.get_args(a)]
        if words and len(kinds) > 1:
            kinds = [a for a in kinds if typing.get_origin(a) is not typing.Literal]
        (annotation,) = kinds
        annotation = bare(annotation)
    choices = [str(c) for c in typing.get_args(annotation)] if typing.get_origin(annotation) is \
        typing.Literal else None
    origin = typing.get_origin(annotation)
    item = bare(typing.get_args(annotation)[0]) if origin is tuple else None
    kind = str if choices else (int if origin is tuple else dict if origin is dict else annotation)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}

    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        if text in words and not choices:
            return text
        try:
            if origin is tuple and item is str:  # column names: a,b
                return tuple(w.strip() for w in text.split(",") if w.strip())
            if origin is tuple and item is not int:  # groups of column names: a,b;c,d
                return tuple(tuple(w.strip() for w in part.split(",") if w.strip())
                             for part in text.split(";") if part.strip())
            if origin is tuple:  # widths: 32,16 (an empty value: no hidden layer)
                return tuple(int(w) for w in text.split(",") if w.strip())
            if origin is dict:  # weights by label: 0:1,1:5
                pairs = [part.rsplit(":", 1) for part in text.split(",") if part.strip()]
                if not pairs or any(len(p) != 2 for p in pairs):
                    raise ValueError(text)
                return {label.strip(): float(value) for label, value in pairs}
            if kind is bool:
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                return text.lower() == "true"
            return kind(text)
        except ValueError:
            extra = "".join(f", {w!r}" for w in words if not choices)
            extra += " or 'none'" if optional else ""
            what = "comma-separated integers" if origin is tuple else \
                "comma-separated label:weight pairs" if origin is dict else names.get(kind, "a value")
            raise argparse.ArgumentTypeError(f"expected {what}{extra}, got {text!r}") from None

    placeholder = ("W,W" if item is int else "A,B" if item is str else "A,B;C,D") \
        if origin is tuple else "CLASS:W,CLASS:W" if origin is dict else \
        {int: "N", float: "X"}.get(kind, "VALUE")
    return parse, choices, placeholder


METAVARS = {"data": "FILE", "target": "COLUMN", "reports_dir": "DIR", "run_name": "NAME",
            "dask_address": "ADDRESS", "device": "DEVICE"}


def settings_fields() -> dict[str, Any]:
    """Every setting of a run by its command-line name: the run's, the selection's and the
    model's (flattened: ``--latent-dim``)."""
    from flows.parameters import RunParameters
    from pipeline.settings import SelectionSettings
    from vaec.config import ModelSettings

    own = [n for n in RunParameters.model_fields if n not in SelectionSettings.model_fields]
    selection = [n for n in SelectionSettings.model_fields if n not in ("model", "final_model")]
    fields = {n: RunParameters.model_fields[n] for n in own + selection}
    return fields | dict(ModelSettings.model_fields)


def _group(name: str) -> str:
    from flows.parameters import GROUPS
    from vaec.config import ModelSettings

    if name in GROUPS:
        return GROUPS[name]
    if name in ("n_resamples", "resample", "keep_frequency"):
        return "stability selection"
    return "the models" if name in ModelSettings.model_fields else "selection"


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One option per setting, grouped by its heading. An option left out is left out of the
    parameters too, so the declared default applies."""
    groups: dict[str, Any] = {}
    for name, field in settings_fields().items():
        group = _group(name)
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        parse, choices, placeholder = _value_parser(field.annotation)
        placeholder = METAVARS.get(name, placeholder)
        default = field.get_default(call_default_factory=True)
        shown = "none" if default is None else ",".join(map(str, default)) if isinstance(
            default, tuple) and default else "none" if default == () else default
        options: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS,
                                   "help": f"{field.description} (default {shown})"}
        if choices:
            options["choices"] = choices
        else:
            options["type"], options["metavar"] = parse, placeholder
        groups[group].add_argument("--" + name.replace("_", "-"), **options)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the error and where ``--help`` lists
    the options) instead of the whole usage text; exit code 2 as argparse's own."""

    def error(self, message: str) -> Any:  # argparse's hook: never returns
        print(f"{self.prog}: error: {_first_line(message)} ({self.prog} --help lists the "
              "options)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (subcommand parsers are of the same class)."""
    from pipeline.data.builtin import BUILTIN_DATASETS

    parser = OneLineParser(
        prog=PROG,
        description="Feature selection by iterative reconstruction pruning with a joint "
                    "variational autoencoder + classifier.",
        epilog=f"'{PROG} COMMAND --help' explains the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="on a failure, print the traceback too (before or after COMMAND)")
    # --debug is accepted after the command as well; SUPPRESS keeps the top-level value
    common = OneLineParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on a failure, print the traceback too")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", parents=[common], help="run the feature selection once",
        description="Run the feature selection once: pruning rounds, the final model and the "
                    "report. Prints the kept channels and the path of report.html. Without "
                    "PREFECT_API_URL, Prefect starts a temporary local server for the run.")
    add_settings_options(run)

    serve = commands.add_parser(
        "serve", parents=[common], help="serve the feature selection on a cron schedule",
        description=f"Serve the feature selection as the deployment {FLOW_NAME}/NAME on a "
                    "cron schedule (UTC) until interrupted; runs show in the Prefect UI and "
                    f"can also be started with 'prefect deployment run {FLOW_NAME}/NAME'.")
    serve.add_argument("--cron", required=True,
                       help='the schedule, five cron fields, e.g. "0 3 * * *" (03:00 every day)')
    serve.add_argument("--name", default="scheduled",
                       help="deployment name (default scheduled)")
    add_settings_options(serve)
    for action in serve._actions:  # every scheduled run writes a folder of its own
        if action.dest == "run_name":
            action.help = ("start of every scheduled run's folder name: NAME-<UTC timestamp> "
                           "(default <dataset>-<UTC timestamp>)")

    report = commands.add_parser(
        "report", parents=[common], help="list the runs, or show one run's rounds",
        description="Without RUN, list the finished runs, newest first; with RUN, print its "
                    "round table, the kept channels and the path of its report.html.")
    report.add_argument("run", nargs="?", metavar="RUN",
                        help="a run folder name under --reports-dir, or the path of a run folder")
    report.add_argument("--reports-dir", default="reports", metavar="DIR",
                        help="folder holding the run folders (default reports)")

    transform = commands.add_parser(
        "transform", parents=[common], help="keep a run's selected columns of a table",
        description="Write the selected columns of a table, in the selection's order, plus the "
                    "target column when the table has it.")
    transform.add_argument("--selection", required=True, metavar="FILE",
                           help="a run's selected_features.json")
    transform.add_argument("--data", required=True, metavar="FILE",
                           help="input CSV or Parquet file")
    transform.add_argument("--out", required=True, metavar="FILE",
                           help="output CSV or Parquet file (by suffix); never an input file")

    predict = commands.add_parser(
        "predict", parents=[common], help="predict with a run's final model, with latent-domain confidence",
        description="Predict the class of every row of a raw (unscaled) table with a run's "
                    "final model; the output has the input's columns plus predicted_class, "
                    "predicted_probability (predicted_prediction for a regression target), "
                    "and the domain test: predicted_reconstruction_p_value (the share of "
                    "training rows reconstructed at least as badly) and predicted_in_domain "
                    "(that p-value is at least 0.05).")
    predict.add_argument("--model", required=True, metavar="DIR",
                         help="a run's folder, or its final_model folder")
    predict.add_argument("--data", required=True, metavar="FILE",
                         help="input CSV or Parquet file holding the model's channels")
    predict.add_argument("--out", required=True, metavar="FILE",
                         help="output CSV or Parquet file (by suffix); never an input file")
    predict.add_argument("--all-confidence", action="store_true", default=False,
                         help="also the reconstruction error and the method's proposed latent "
                              "scores, prefixed predicted_proposed_ (sigma distance, tail "
                              "probability, within-N-sigma flags, per-dimension t-test "
                              "p-values, confidence); they place a row among the classes but "
                              "do not flag rows outside the training domain")
    predict.add_argument("--n-sigma", type=_positive_float, default=3.0, metavar="N",
                         help="N of the within-N-sigma flag of --all-confidence (default 3)")

    demo = commands.add_parser(
        "demo", parents=[common], help="train the model's five training strategies on a built-in data set",
        description="Train the five training strategies of the model (var_mlp_classifier, "
                    "all_parts, mlp_classifier, autoencoder then classifier_head) on a built-in "
                    "data set and write one page, REPORTS_DIR/<dataset>-demo/report.html, with "
                    "their scores, learning curves and latent grids (figures/), histories "
                    "(histories/) and summary.json beside it; prints the page's path.")
    demo.add_argument("--dataset", default="breast_cancer", choices=list(BUILTIN_DATASETS),
                      help="built-in data set (default breast_cancer)")
    demo.add_argument("--epochs", type=_positive_int, default=300, metavar="N",
                      help="epochs per strategy (default 300)")
    demo.add_argument("--latent-dim", type=_positive_int, default=2, metavar="N",
                      help="width of the latent neck (default 2)")
    demo.add_argument("--seed", type=_non_negative_int, default=0,
                      help="seed of the split and the model (default 0)")
    demo.add_argument("--reports-dir", default="reports", metavar="DIR",
                      help="parent folder of <dataset>-demo/ (default reports)")
    return parser


def _as_option(message: str) -> str:
    """A message that starts with a setting's name, with the option spelled instead
    (``run_name must ...`` -> ``--run-name must ...``, ``model.latent_dim must`` ->
    ``--latent-dim must``)."""
    head, _, rest = message.partition(" ")
    name, bracket, index = head.removeprefix("model.").partition("[")  # encoder_widths[0]
    if name in settings_fields() and rest.startswith(("must ", "is ", "needs ", "'")):
        return "--" + name.replace("_", "-") + bracket + index + (" " + rest if rest else "")
    return message


@contextlib.contextmanager
def _options_named() -> Iterator[None]:
    """Setting checks raised within the block become usage errors that spell the option."""
    from vaec.config import ConfigError

    try:
        yield
    except ConfigError as err:
        raise UsageError(_as_option(str(err))) from err


def _parameters(args: argparse.Namespace) -> Any:
    """:class:`RunParameters` from the options; a bad value is a :class:`UsageError`."""
    from flows.parameters import RunParameters
    from vaec.config import ModelSettings

    given = {name: getattr(args, name) for name in settings_fields() if hasattr(args, name)}
    if given.get("data") is not None and given.get("dataset") is not None:
        raise UsageError("give --dataset or --data, not both")
    if (given.get("data") is not None and given.get("target") is None
            and given.get("task", "auto") in ("classification", "regression")):
        raise UsageError(f"--target is required with --data for --task {given['task']}")
    if given.get("data") is not None and given.get("target") is None \
            and given.get("task", "auto") == "auto":
        raise UsageError("--data needs --target COLUMN (the column to select for), or --task "
                         "unsupervised to select without one" + _label_hint(given["data"]))
    model = {k: given.pop(k) for k in list(given) if k in ModelSettings.model_fields}
    with _options_named():
        return RunParameters(**given, model=ModelSettings(**model))


LABEL_NAMES = ("label", "target", "class", "y", "diagnosis", "outcome", "species", "churn")
HINT_ROWS, FEW_VALUES = 200, 10


def _label_hint(path: str) -> str:
    """``; 'diagnosis' looks like a label`` when a CSV column is named like one, or its last
    column holds a few distinct words or integers (read with the standard library: a usage
    error needs no pandas)."""
    import csv
    import itertools

    try:
        with open(path, newline="") as handle:
            rows = list(itertools.islice(csv.reader(handle), HINT_ROWS + 1))
    except (OSError, UnicodeDecodeError, csv.Error):
        return ""
    if not rows or not rows[0]:
        return ""
    header = rows[0]
    named = [c for c in header if c.strip().lower() in LABEL_NAMES]
    if named:
        return f"; {named[0]!r} looks like a label"
    values = {r[-1] for r in rows[1:] if len(r) == len(header)}
    if 1 < len(values) <= FEW_VALUES and not any("." in v for v in values):
        return f"; the last column, {header[-1]!r}, looks like a label"
    return ""


def _check_data(params: Any) -> Any:
    """Load the data now so a bad file or column, a count of channels the data does not have,
    or a round larger than the memory fails before the flow starts or anything trains (the flow
    reuses what was loaded)."""
    from pipeline.data.dataset import load_dataset
    from pipeline.data.tables import DataError
    from pipeline.memory import check_selection_memory
    from pipeline.selection import check_count

    dataset = load_dataset(params.source, params.target, val_size=params.val_size,
                           test_size=params.test_size, task=params.task,
                           categorical=params.categorical, keep_columns=params.keep_columns,
                           groups=params.groups)
    try:  # every check that needs only the data and the settings, before the flow starts
        check_count(dataset.feature_names, params.n_features_to_select, dataset.constant_columns)
    except DataError as err:
        raise UsageError(_as_option(str(err))) from err
    with _options_named():  # a round the machine cannot hold: what to lower
        check_selection_memory(dataset, params.selection())
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
        return (f"the finished work is kept in {checkpoint.resolve()} (the same command "
                "resumes from it)")
    return "nothing had finished"


@contextlib.contextmanager
def _stop_when_server_goes(url: str | None, params: Any, dataset: Any) -> Iterator[None]:
    """Within the block, a shared server (``url``) that stops answering ends the process at
    once with one line saying what is kept (exit 1); Prefect's client would retry for minutes."""
    if url is None:
        yield
        return
    import datetime as dt

    from flows.server_watch import ServerWatch
    from pipeline.report.store import run_fingerprint

    fingerprint = run_fingerprint(dataset.summary(), params.selection())
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    def gone(reason: str) -> None:
        print(f"{PROG}: error: the Prefect server at {url} is gone ({reason}); "
              f"{_finished_work(params, fingerprint, started)}", file=sys.stderr)
        _exit_now(EXIT_FAILURE)

    with ServerWatch(url, gone):
        yield


def command_run(args: argparse.Namespace) -> int:
    """``vaec-select run``.

    Prefect's temporary server (when no ``PREFECT_API_URL`` names one) starts first and boots
    while the libraries load and the data is checked; the flow waits for it only then.
    """
    params = _parameters(args)
    if params.task_runner == "dask":
        from flows.task_runners import check_dask_installed

        with _options_named():
            check_dask_installed()
    from flows.progress import RoundProgress
    from flows.temporary_server import temporary_server

    name = params.dataset or Path(params.source).name
    claimed = None
    try:
        with RoundProgress(enabled=sys.stderr.isatty()) as progress:
            progress.stage(f"starting the run on {name}")
            with temporary_server() as server:
                meanwhile = "" if server is None else " (Prefect's local server is starting)"
                from flows.server_watch import check_run_server

                shared = check_run_server()  # before the data: a run on a server that is not there
                progress.stage(f"loading {name}{meanwhile}")
                dataset = _check_data(params)
                claimed = _claim(params)
                progress.stage(f"loading the libraries{meanwhile}")
                from flows.console_tracebacks import console_without_tracebacks
                from flows.feature_selection import run_feature_selection

                if server is not None and not server.answers():
                    progress.stage("waiting for Prefect's local server to start")
                if server is not None:
                    server.wait()
                progress.stage("starting the flow run")
                with console_without_tracebacks(), _stop_when_server_goes(shared, params, dataset):
                    out = run_feature_selection(params, progress=progress)
                progress.stage("finishing the run")
    finally:
        if claimed is not None:
            from pipeline.report.claim import release

            release(claimed)
    _print_summary(out)
    return 0


def _claim(params: Any) -> Any:
    """Check the reports folder and claim the run's name (``None``: no name given): of two runs
    of one name, one trains and the other stops here, before either trains."""
    from pipeline.report.store import check_reports_folder, claim_named_run

    with _options_named():
        check_reports_folder(params.reports_dir, params.run_name)
        return None if params.run_name is None else claim_named_run(
            params.reports_dir, params.run_name)


def _print_summary(out: dict[str, Any]) -> None:
    """What the run kept and dropped, what it cost, and where its report is."""
    from pipeline.rounds.record import SCORE_LABELS

    selected = out["selected"]
    stability = out.get("stability")
    if stability:
        print(f"kept {len(selected)} columns, each kept in at least "
              f"{100 * stability['keep_frequency']:g} % of {stability['n_resamples']} resamples "
              f"(Nogueira stability index {_maybe(stability['nogueira'])}, 95 % interval "
              f"{_maybe(stability['nogueira_low'])} to {_maybe(stability['nogueira_high'])}):")
    else:
        rounds = f"{out['n_rounds']} round{'s' * (out['n_rounds'] != 1)}"
        print(f"kept {len(selected)} columns after {rounds} (stop: {out['stop_reason']}):")
    print("  " + ", ".join(selected))
    dropped = out.get("dropped") or []
    print(f"dropped {len(dropped)}" + (":\n  " + ", ".join(dropped) if dropped else ""))
    cost = out.get("cost")
    if cost:
        label = SCORE_LABELS.get(cost["score"], cost["score"])
        print(f"cost: validation {label} {cost['all']:.3f} with all {cost['n_all']} columns, "
              f"{cost['kept']:.3f} with the {cost['n_kept']} kept (the round models)")
    metrics = out.get("metrics") or {}
    if metrics:
        print("final model: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))
    if out["added"] or out["removed"]:
        print(f"since the previous run: added {', '.join(out['added']) or 'none'}; "
              f"removed {', '.join(out['removed']) or 'none'}")
    print(f"report: {(Path(out['run_folder']) / 'report.html').resolve()}")


def _maybe(value: float | None) -> str:
    """A measure that may be undefined (NaN, or null in report.json)."""
    return "undefined" if value is None or math.isnan(value) else f"{value:.2f}"


def command_serve(args: argparse.Namespace) -> int:
    """``vaec-select serve``."""
    from flows.serve import check_cron

    try:
        check_cron(args.cron)
    except ValueError as err:
        raise UsageError(str(err)) from err
    params = _parameters(args)
    from flows.serve import check_server

    # before the data: without a server, serve would wait for runs that never come
    with _options_named():
        check_server()
    from pipeline.report.store import check_reports_folder

    with _options_named():  # a served run name is a prefix: every run has a folder of its own
        check_reports_folder(params.reports_dir)
    _check_data(params)
    from flows.console_tracebacks import console_without_tracebacks
    from flows.serve import serve

    with console_without_tracebacks():
        serve(params, cron=args.cron, name=args.name)
    return 0


def command_report(args: argparse.Namespace) -> int:
    """``vaec-select report``: the runs, or one run's sentences and tables as its report holds
    them."""
    from pipeline.report.store import StoreError, list_runs, read_report
    from pipeline.report.tables import Table

    if args.run is None:
        runs = list_runs(args.reports_dir)
        if not runs:
            print(f"no runs under {args.reports_dir}")
            return 0
        print(Table(columns=["run", "created", "dataset", "selected", "stop reason"],
                    rows=[[r.folder.name, r.created, r.dataset, str(len(r.selected)), r.stop_reason]
                          for r in runs]).render("text"))
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
    print(f"stop reason: {report.stop_reason}")
    print(f"report: {(folder / 'report.html').resolve()}")
    return 0


def command_transform(args: argparse.Namespace) -> int:
    """``vaec-select transform``."""
    from pipeline.transform import transform_file

    print(f"wrote {transform_file(args.selection, args.data, args.out)}")
    return 0


def command_predict(args: argparse.Namespace) -> int:
    """``vaec-select predict``."""
    from pipeline.prediction import predict_file

    written = predict_file(args.model, args.data, args.out, n_sigma=args.n_sigma,
                           all_confidence=args.all_confidence)
    print(f"wrote {written}")
    return 0


def command_demo(args: argparse.Namespace) -> int:
    """``vaec-select demo``."""
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": command_run,
    "serve": command_serve,
    "report": command_report,
    "transform": command_transform,
    "predict": command_predict,
    "demo": command_demo,
}


# Errors that mean bad arguments or bad data, by module: looked up only in modules already
# imported (an error cannot come from a module that was never loaded), so --help, --version
# and argument errors do not pay for importing torch and pandas.
USAGE_ERRORS = {
    "pipeline.data.tables": "DataError",
    "vaec.config": "ConfigError",
    "vaec.persistence": "ModelFileError",
}


def _is_usage_error(err: BaseException) -> bool:
    if isinstance(err, UsageError):
        return True
    return any(
        module in sys.modules and isinstance(err, getattr(sys.modules[module], name))
        for module, name in USAGE_ERRORS.items()
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _fail(message: str) -> int:
    print(f"{PROG}: error: {_first_line(str(message)) or 'failed'}", file=sys.stderr)
    return EXIT_USAGE


def _crash(err: BaseException, debug: bool) -> int:
    """One line naming what failed (an OSError names its file); the traceback with --debug."""
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    cause = f"{type(err).__name__}: {_first_line(str(err))}".rstrip(": ")
    hint = "" if debug else f" (run '{PROG} --debug ...' for the traceback)"
    print(f"{PROG}: error: {cause}{hint}", file=sys.stderr)
    return EXIT_FAILURE


def _print_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   file: Any = None, line: str | None = None) -> None:
    print(f"{PROG}: warning: {_first_line(str(message))}", file=sys.stderr)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Warnings printed as one line each (a flow run sends its own to the run log)."""
    with warnings.catch_warnings():
        warnings.showwarning = _print_warning
        yield


def _exit_now(code: int) -> None:
    """End the process with ``code`` at once: the trials still training in the task runner's
    worker threads cannot be interrupted, and the interpreter would wait for them at exit."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The arguments; an option the command does not know is reported by that command's parser,
    so its hint names the command's ``--help``."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vaec-select``.

    Parameters
    ----------
    argv : sequence of str or None
        The arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 on success, 1 when the work failed, 2 for bad arguments or data (before
        any work), 130 when interrupted.
    """
    argv_given = argv is not None  # called from Python, not as the process's command
    argv = list(sys.argv[1:] if argv is None else argv)
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if sys.stderr.isatty():
        # on a terminal the progress bars tell the story; Prefect's log lines (still sent to
        # its server and UI) would tear through them
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    debug = False
    try:
        try:
            args = _parse(build_parser(), argv)
        except SystemExit as done:  # --help, --version, or argparse's own usage error
            return done.code if isinstance(done.code, int) else EXIT_USAGE
        debug = args.debug
        with _one_line_warnings():
            return COMMANDS[args.command](args)
    except Exception as err:
        if _is_usage_error(err):
            return _fail(str(err))
        return _crash(err, debug)
    except KeyboardInterrupt:
        # the run's context managers have unwound: the progress display is closed, the
        # temporary server stopped, the checkpoint of the finished rounds kept
        print(f"{PROG}: interrupted", file=sys.stderr)
        if argv_given:
            return EXIT_INTERRUPTED
        _exit_now(EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
