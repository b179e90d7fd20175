"""The ``vaec-select`` command line: run, serve, report, transform, predict, demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# No telemetry from a machine that may have no outside network; the user's setting wins.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from vaec import __version__

EXIT_USAGE = 2


def _none_or_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def add_flow_options(parser: argparse.ArgumentParser) -> None:
    """The flow parameters, shared by ``run`` and ``serve``."""
    source = parser.add_argument_group("data (one of --dataset or --data)")
    source.add_argument("--dataset", help="built-in data set: breast_cancer, digits, wine, madelon "
                        "(default breast_cancer)")
    source.add_argument("--data", help="a CSV or Parquet file (needs --target)")
    source.add_argument("--target", help="the target column of --data")
    prune = parser.add_argument_group("pruning")
    prune.add_argument("--n-trials", type=int, default=3, help="models trained per round (3)")
    prune.add_argument("--threshold", type=float, default=0.6,
                       help="minimum validation reconstruction R² a channel needs (0.6)")
    prune.add_argument("--max-drop-fraction", type=float, default=0.2,
                       help="largest fraction of the kept channels dropped per round (0.2)")
    prune.add_argument("--min-features", type=int, default=2, help="never keep fewer (2)")
    prune.add_argument("--n-features-to-select", type=int, default=None,
                       help="drop the worst channels until exactly this many are kept")
    prune.add_argument("--accuracy-tolerance", type=_none_or_float, default=0.05,
                       help="stop when validation F1 falls this far below the best round; "
                            "'none' switches the guard off (0.05)")
    prune.add_argument("--latent-dim", type=int, default=4, help="neck width of the models (4)")
    prune.add_argument("--epochs", type=int, default=300, help="training epochs per model (300)")
    prune.add_argument("--final-strategy", default="all_parts",
                       choices=["all_parts", "var_mlp_classifier"],
                       help="how the final model on the kept channels is trained")
    prune.add_argument("--val-size", type=float, default=0.2, help="validation fraction (0.2)")
    prune.add_argument("--test-size", type=float, default=0.2, help="test fraction (0.2)")
    prune.add_argument("--seed", type=int, default=0, help="seed of the split and models (0)")
    out = parser.add_argument_group("output and execution")
    out.add_argument("--reports-dir", default="reports", help="where run folders go (reports)")
    out.add_argument("--run-name", default=None, help="run folder name (dataset-timestamp)")
    out.add_argument("--task-runner", choices=["thread", "dask"], default="thread",
                     help="where a round's trial groups run: threads, or a Dask cluster")
    out.add_argument("--dask-address", default=None,
                     help="scheduler address of an existing Dask cluster (default: a LocalCluster)")
    out.add_argument("--trial-groups", type=int, default=None,
                     help="split a round's trials into this many groups run in parallel")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="vaec-select",
        description="Feature selection by iterative reconstruction pruning with a joint "
                    "variational autoencoder + classifier.",
    )
    parser.add_argument("--version", action="version", version=f"vaec-select {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the feature-selection flow once",
                              description="Run the feature-selection flow once and print the "
                                          "kept channels and the report path.")
    add_flow_options(run)

    serve = commands.add_parser("serve", help="serve the flow on a cron schedule",
                                description="Serve the flow on a cron schedule (Prefect's "
                                            "flow.serve); runs appear in the Prefect UI.")
    serve.add_argument("--cron", required=True, help='cron schedule, e.g. "0 3 * * *"')
    serve.add_argument("--name", default="scheduled", help="deployment name (scheduled)")
    add_flow_options(serve)

    report = commands.add_parser("report", help="list runs, or show one run's rounds",
                                 description="Without RUN, list the runs; with RUN, print its "
                                             "round table and the path of its report.html.")
    report.add_argument("run", nargs="?", help="a run folder name under --reports-dir, or a path")
    report.add_argument("--reports-dir", default="reports", help="where run folders are (reports)")

    transform = commands.add_parser(
        "transform", help="keep a run's selected columns of a table",
        description="Keep the selected columns (and the target, if present) of a CSV/Parquet "
                    "file for downstream models.")
    transform.add_argument("--selection", required=True,
                           help="a run's selected_features.json")
    transform.add_argument("--data", required=True, help="input CSV or Parquet file")
    transform.add_argument("--out", required=True, help="output file (never the input)")

    predict = commands.add_parser(
        "predict", help="predict with a run's final model, with latent-domain confidence",
        description="Predict classes of a raw CSV/Parquet file with a run's final model; the "
                    "output has the input's columns plus the predictions.")
    predict.add_argument("--model", required=True, help="a run's final_model folder")
    predict.add_argument("--data", required=True, help="input CSV or Parquet file")
    predict.add_argument("--out", required=True, help="output file (never the input)")
    predict.add_argument("--n-sigma", type=float, default=3.0,
                         help="the N of the within-N-sigma domain flag (3)")

    demo = commands.add_parser("demo", help="train the five strategies on a bundled data set",
                               description="Train the five training strategies and write "
                                           "their curves and latent grids.", add_help=False)
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help="options of the demo")
    return parser


def _fail(message: str) -> int:
    print(f"vaec-select: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _parameters(args: argparse.Namespace):
    from pydantic import ValidationError

    from flows.parameters import SelectionParameters

    fields = {name: getattr(args, name) for name in SelectionParameters.model_fields
              if hasattr(args, name)}
    if fields.get("dataset") is None and fields.get("data") is None:
        fields["dataset"] = "breast_cancer"
    try:
        return SelectionParameters(**fields)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "parameters"
        raise UsageError(f"--{where.replace('_', '-')}: {first['msg']}" if first["loc"]
                         else first["msg"].removeprefix("Value error, ")) from err


class UsageError(Exception):
    """Bad arguments: printed as one line, exit code 2."""


def command_run(args: argparse.Namespace) -> int:
    from flows.feature_selection import run_feature_selection
    from flows.progress import RoundProgress
    from pipeline.data import load_dataset

    params = _parameters(args)
    # bad data fails here, before Prefect or any training starts
    load_dataset(params.source, params.target, val_size=params.val_size, test_size=params.test_size)
    with RoundProgress(enabled=sys.stdout.isatty()) as progress:
        out = run_feature_selection(params, on_round=progress.update)
    print(f"kept {len(out['selected'])} channels ({out['stop_reason']}): "
          + ", ".join(out["selected"]))
    if out["added"] or out["removed"]:
        print(f"since the previous run: added {out['added']}, removed {out['removed']}")
    print(f"report: {Path(out['run_folder']) / 'report.html'}")
    return 0


def command_serve(args: argparse.Namespace) -> int:
    from flows.serve import check_cron, serve

    check_cron(args.cron)
    params = _parameters(args)
    serve(params, cron=args.cron, name=args.name)
    return 0


def command_report(args: argparse.Namespace) -> int:
    from pipeline.report import list_runs, read_report
    from pipeline.report.markdown import round_table

    if args.run is None:
        runs = list_runs(args.reports_dir)
        if not runs:
            print(f"no runs under {args.reports_dir}")
        for run in runs:
            print(f"{run.name}\t{run.created}\t{run.dataset}\t{run.n_selected} selected\t"
                  f"{run.stop_reason}")
        return 0
    folder = Path(args.run) if Path(args.run).is_dir() else Path(args.reports_dir) / args.run
    try:
        report = read_report(folder)
    except (OSError, ValueError) as err:
        raise UsageError(f"unknown run {args.run!r}: {err}") from err
    print(round_table(report))
    print(f"selected ({len(report['selected'])}): {', '.join(report['selected'])}")
    print(f"report: {(folder / 'report.html').resolve()}")
    return 0


def command_transform(args: argparse.Namespace) -> int:
    from pipeline.transform import transform_file

    path = transform_file(args.selection, args.data, args.out)
    print(f"wrote {path}")
    return 0


def command_predict(args: argparse.Namespace) -> int:
    from pipeline.prediction import predict_file

    path = predict_file(args.model, args.data, args.out, n_sigma=args.n_sigma)
    print(f"wrote {path}")
    return 0


def command_demo(args: argparse.Namespace) -> int:
    from vaec.demo import main as demo_main

    return demo_main(args.demo_args)


COMMANDS = {
    "run": command_run,
    "serve": command_serve,
    "report": command_report,
    "transform": command_transform,
    "predict": command_predict,
    "demo": command_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``vaec-select``; returns the exit code."""
    args = build_parser().parse_args(argv)
    from pipeline.validation import DataError
    from vaec.config import ConfigError

    try:
        return COMMANDS[args.command](args)
    except (UsageError, DataError, ConfigError) as err:
        return _fail(str(err))


if __name__ == "__main__":
    sys.exit(main())
