"""The ``vaec-select`` command line: run, serve, report, transform, predict, demo.

Bad arguments and bad data end with one line on stderr and exit code 2, before any training. Anything
else that fails ends with one line naming the cause (and the file) and exit code 1; ``--debug``
prints the traceback too. Heavy libraries (torch, pandas, matplotlib, prefect) load only in the
commands that work with them, so ``--help``, a usage error or the run listing answer at once.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

import flows.commands as cmd
from flows.options import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    FLOW_NAME,
    PREFECT_DEFAULTS,
    PROG,
    OneLineParser,
    UsageError,
    _first_line,
    _non_negative_int,
    _positive_float,
    _positive_int,
    _version,
    add_settings_options,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (subcommand parsers are of the same class)."""
    parser = OneLineParser(
        prog=PROG, epilog=f"'{PROG} COMMAND --help' explains the options of a command.",
        description="Feature selection by iterative reconstruction pruning with a joint variational "
                    "autoencoder + classifier.")
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    parser.add_argument("--debug", action="store_true", default=False,
                        help="on a failure, print the traceback too (before or after COMMAND)")
    # --debug is accepted after the command as well; SUPPRESS keeps the top-level value
    common = OneLineParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on a failure, print the traceback too")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_settings_options(commands.add_parser(
        "run", parents=[common], help="run the feature selection once",
        description="Run the feature selection once: pruning rounds, the final model and the "
                    "report. Prints the kept channels and the path of report.html. Without "
                    "PREFECT_API_URL, Prefect starts a temporary local server for the run."))
    for add in (_serve_command, _report_command, _transform_command, _predict_command, _demo_command):
        add(commands, common)
    return parser


def _serve_command(commands: Any, common: argparse.ArgumentParser) -> None:
    serve = commands.add_parser(
        "serve", parents=[common], help="serve the feature selection on a cron schedule",
        description=f"Serve the feature selection as the deployment {FLOW_NAME}/NAME on a "
                    "cron schedule (UTC) until interrupted; runs show in the Prefect UI and "
                    f"can also be started with 'prefect deployment run {FLOW_NAME}/NAME'.")
    serve.add_argument("--cron", required=True,
                       help='the schedule, five cron fields, e.g. "0 3 * * *" (03:00 every day)')
    serve.add_argument("--name", default="scheduled", help="deployment name (default scheduled)")
    add_settings_options(serve)
    for action in serve._actions:  # every scheduled run writes a folder of its own
        if action.dest == "run_name":
            action.help = ("start of every scheduled run's folder name: NAME-<UTC timestamp> "
                           "(default <dataset>-<UTC timestamp>)")


def _report_command(commands: Any, common: argparse.ArgumentParser) -> None:
    report = commands.add_parser(
        "report", parents=[common], help="list the runs, or show one run's rounds",
        description="Without RUN, list the finished runs, newest first; with RUN, print its "
                    "round table, the kept channels and the path of its report.html.")
    report.add_argument("run", nargs="?", metavar="RUN",
                        help="a run folder name under --reports-dir, or the path of a run folder")
    report.add_argument("--reports-dir", default="reports", metavar="DIR",
                        help="folder holding the run folders (default reports)")


def _transform_command(commands: Any, common: argparse.ArgumentParser) -> None:
    transform = commands.add_parser(
        "transform", parents=[common], help="keep a run's selected columns of a table",
        description="Write the selected columns of a table, in the selection's order, plus the "
                    "target column and a weighted run's weight column when the table has them.")
    transform.add_argument("--selection", required=True, metavar="FILE",
                           help="a run's selected_features.json")
    transform.add_argument("--data", required=True, metavar="FILE", help="input CSV or Parquet file")
    transform.add_argument("--out", required=True, metavar="FILE",
                           help="output CSV or Parquet file (by suffix); never an input file")


def _predict_command(commands: Any, common: argparse.ArgumentParser) -> None:
    predict = commands.add_parser(
        "predict", parents=[common], help="predict with a run's final model, with latent-domain confidence",
        description="Predict the class of every row of a raw (unscaled) table with a run's final "
                    "model; the output has the input's columns plus predicted_class, "
                    "predicted_probability (predicted_prediction for a regression target), and the "
                    "domain test: predicted_reconstruction_p_value (the share of training rows "
                    "reconstructed at least as badly) and predicted_in_domain (that p-value is at "
                    "least 0.05).")
    predict.add_argument("--model", required=True, metavar="DIR",
                         help="a run's folder, or its final_model folder")
    predict.add_argument("--data", required=True, metavar="FILE",
                         help="input CSV or Parquet file holding the model's channels")
    predict.add_argument("--out", required=True, metavar="FILE",
                         help="output CSV or Parquet file (by suffix); never an input file")
    predict.add_argument("--all-confidence", action="store_true", default=False,
                         help="also the reconstruction error and the method's proposed latent scores, "
                              "prefixed predicted_proposed_ (sigma distance, tail probability, "
                              "within-N-sigma flags, per-dimension t-test p-values, confidence); "
                              "they place a row among the classes but do not flag rows outside the "
                              "training domain")
    predict.add_argument("--n-sigma", type=_positive_float, default=3.0, metavar="N",
                         help="N of the within-N-sigma flag of --all-confidence (default 3)")


def _demo_command(commands: Any, common: argparse.ArgumentParser) -> None:
    from pipeline.data.builtin import BUILTIN_DATASETS

    demo = commands.add_parser(
        "demo", parents=[common], help="train the model's five training strategies on a built-in data set",
        description="Train the five training strategies of the model (var_mlp_classifier, all_parts, "
                    "mlp_classifier, autoencoder then classifier_head) on a built-in data set and "
                    "write one page, REPORTS_DIR/<dataset>-demo/report.html, with their scores, "
                    "learning curves and latent grids (figures/), histories (histories/) and "
                    "summary.json beside it; prints the page's path.")
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


# Errors that mean bad arguments or bad data, by module: looked up only in modules already imported
# (an error cannot come from a module never loaded), so --help and argument errors import no torch.
USAGE_ERRORS = {"pipeline.data.tables": "DataError", "vaec.config": "ConfigError",
                "vaec.persistence": "ModelFileError"}


def _crash(err: BaseException, debug: bool) -> int:
    """One line naming what failed (an OSError names its file); the traceback with --debug."""
    if debug:
        traceback.print_exception(err, file=sys.stderr)
    cause = f"{type(err).__name__}: {_first_line(str(err))}".rstrip(": ")
    hint = "" if debug else f" (run '{PROG} --debug ...' for the traceback)"
    print(f"{PROG}: error: {cause}{hint}", file=sys.stderr)
    return EXIT_FAILURE


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; an option the command does not know is reported by that command's parser,
    so its hint names the command's ``--help``."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vaec-select``: ``argv`` the arguments after the program name (default
    ``sys.argv[1:]``: the process ends with the command). Exit code 0 on success, 1 when the work
    failed, 2 for bad arguments or data (before any work), 130 interrupted, 141 the reader gone."""
    code = _command(argv)
    if argv is None:  # the process's own: it ends without taking every module apart (a second and a half)
        threading._shutdown()  # the interpreter's first step at exit: threads that are no daemons end
        atexit._run_exitfuncs()
        cmd._exit_now(code)
    return code


def _command(argv: Sequence[str] | None) -> int:
    argv_given = argv is not None  # called from Python, not as the process's command
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    if sys.stderr.isatty():
        # the progress bars tell the story; Prefect's log lines (still sent to its UI) would tear them
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    debug = False
    try:
        try:
            args = _parse(build_parser(), argv)
        except SystemExit as done:  # --help, --version, or argparse's own usage error
            return done.code if isinstance(done.code, int) else EXIT_USAGE
        debug = args.debug
        with warnings.catch_warnings():  # one line each (a flow run sends its own to the run log)
            warnings.showwarning = lambda message, *_: print(
                f"{PROG}: warning: {_first_line(str(message))}", file=sys.stderr)
            return getattr(cmd, f"command_{args.command}")(args)
    except BrokenPipeError:  # `| head` read what it wanted and ended: the rest goes nowhere, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as err:
        if isinstance(err, UsageError) or any(
                module in sys.modules and isinstance(err, getattr(sys.modules[module], name))
                for module, name in USAGE_ERRORS.items()):
            print(f"{PROG}: error: {_first_line(str(err)) or 'failed'}", file=sys.stderr)
            return EXIT_USAGE
        return _crash(err, debug)
    except KeyboardInterrupt:
        # the run's context managers have unwound: display closed, server stopped, checkpoint kept
        print(f"{PROG}: interrupted", file=sys.stderr)
        if argv_given:
            return EXIT_INTERRUPTED
        cmd._exit_now(EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
