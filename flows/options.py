"""The command line's options: ``vaec-select run``'s are built from the settings models' fields and
read back into :class:`flows.parameters.RunParameters`, whose checks become one-line usage errors
that spell the option. Nothing here imports torch, pandas or prefect: ``--help`` answers at once."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import typing
from collections.abc import Iterator
from typing import Any

PROG = "vaec-select"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a Unix tool whose reader has gone reports
FLOW_NAME = "vaec-feature-selection"

# Prefect settings are read when prefect is first imported, so these go in before that.
PREFECT_DEFAULTS = {
    # no telemetry (nor its notice) from a machine that may have no outside network
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    # the temporary local server (no PREFECT_API_URL) can be slow to start on a busy machine
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


class UsageError(Exception):
    """Bad arguments: printed as one line, exit code 2."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:  # running from a source tree that is not installed
        from vaec import __version__

        return __version__


TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _number(text: str, kind: type = int, least: int = 0) -> Any:
    """``text`` as an integer of at least ``least`` (a negative one is told it must be >= 0), or,
    with ``kind`` float, as a positive finite number: the type of a command-line option."""
    try:
        value = kind(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected {TYPE_NAMES[kind]}, got {text!r}") from err
    if kind is float and not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    bound = 0 if value < 0 else least
    if kind is int and value < bound:
        raise argparse.ArgumentTypeError(f"must be >= {bound}, got {text!r}")
    return value


_positive_float = functools.partial(_number, kind=float)
_non_negative_int = functools.partial(_number, least=0)
_positive_int = functools.partial(_number, least=1)


def _converted(text: str, origin: Any, item: Any, kind: Any) -> Any:
    """``text`` as a value of the setting's type (``origin`` and ``item``: a tuple's or dict's
    and its items'); ValueError when it is not one."""
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


def _value_options(annotation: Any) -> dict[str, Any]:
    """The ``add_argument`` options that read a setting of this type: its choices, or its parser (text ->
    value, ``none`` for an optional one) and placeholder; the range is checked by the settings model,
    so the command line says what the flow and the selector say."""
    def bare(kind: Any) -> Any:  # Annotated[int, Field(ge=1)] -> int
        return typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Annotated else kind

    def is_literal(kind: Any) -> bool:
        return typing.get_origin(kind) is typing.Literal

    args = typing.get_args(annotation)
    optional = type(None) in args  # every union of the settings is an optional
    words: list[str] = []  # a count or a word: int | Literal["auto"]
    if optional:
        kinds = [a for a in args if a is not type(None)]
        words = [str(w) for a in kinds if is_literal(a) for w in typing.get_args(a)]
        if words and len(kinds) > 1:
            kinds = [a for a in kinds if not is_literal(a)]
        (annotation,) = map(bare, kinds)
    if is_literal(annotation):  # argparse checks the choices itself
        return {"choices": [str(c) for c in typing.get_args(annotation)]}
    origin = typing.get_origin(annotation)
    item = bare(typing.get_args(annotation)[0]) if origin is tuple else None
    what = {tuple: "comma-separated integers", dict: "comma-separated label:weight pairs"}.get(
        origin, TYPE_NAMES.get(annotation, "a value"))
    extra = "".join(f", {w!r}" for w in words) + (" or 'none'" if optional else "")

    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        if text in words:
            return text
        try:
            return _converted(text, origin, item, annotation)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}{extra}, got {text!r}") from None

    placeholder = {tuple: {int: "W,W", str: "A,B"}.get(item, "A,B;C,D"), dict: "CLASS:W,CLASS:W"}.get(
        origin, {int: "N", float: "X"}.get(annotation, "VALUE"))
    return {"type": parse, "metavar": placeholder}


METAVARS = {"data": "FILE", "target": "COLUMN", "weight_column": "COLUMN", "reports_dir": "DIR",
            "run_name": "NAME", "dask_address": "ADDRESS", "device": "DEVICE"}


def settings_fields() -> dict[str, Any]:
    """Every setting of a run by its command-line name: the run's, the selection's and the
    model's (flattened: ``--latent-dim``)."""
    from flows.parameters import RunParameters
    from pipeline.settings import SelectionSettings
    from vaec.config import ModelSettings

    own = [n for n in RunParameters.model_fields if n not in SelectionSettings.model_fields]
    selection = [n for n in SelectionSettings.model_fields if n not in ("model", "final_model")]
    return {n: RunParameters.model_fields[n] for n in own + selection} | dict(ModelSettings.model_fields)


def _group(name: str) -> str:
    """The help section of a setting."""
    from pipeline.settings import SelectionSettings
    from vaec.config import ModelSettings

    if name in ("dataset", "data", "target", "weight_column"):
        return "data (one of --dataset or --data)"
    if name in ("n_resamples", "resample", "keep_frequency"):
        return "stability selection"
    if name in ModelSettings.model_fields:
        return "the models"
    return "selection" if name in SelectionSettings.model_fields else "output and execution"


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One option per setting, grouped by its heading. An option left out is left out of the
    parameters too, so the declared default applies."""
    groups: dict[str, Any] = {}
    for name, field in settings_fields().items():
        group = _group(name)
        if group not in groups:
            groups[group] = parser.add_argument_group(group)
        default = field.get_default(call_default_factory=True)
        shown = "none" if default in (None, ()) else ",".join(map(str, default)) if isinstance(
            default, tuple) else default
        options = _value_options(field.annotation) | {"dest": name, "default": argparse.SUPPRESS,
                                                      "help": f"{field.description} (default {shown})"}
        if name in METAVARS:
            options["metavar"] = METAVARS[name]
        groups[group].add_argument("--" + name.replace("_", "-"), **options)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the error and where ``--help`` lists
    the options) instead of the whole usage text; exit code 2 as argparse's own."""

    def error(self, message: str) -> Any:  # argparse's hook: never returns
        print(f"{self.prog}: error: {_first_line(message)} ({self.prog} --help lists the "
              "options)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _as_option(message: str) -> str:
    """A message that starts with a setting's name, with the option spelled instead (``run_name
    must`` -> ``--run-name must``, ``model.latent_dim must`` -> ``--latent-dim must``)."""
    head, _, rest = message.partition(" ")
    name, bracket, index = head.removeprefix("model.").partition("[")  # encoder_widths[0]
    if name in settings_fields() and rest.startswith(("must ", "is ", "needs ", "'")):
        return "--" + name.replace("_", "-") + bracket + index + (" " + rest if rest else "")
    return message


@contextlib.contextmanager
def _options_named(*errors: type[Exception]) -> Iterator[None]:
    """Setting checks (a ConfigError, or one of ``errors``) raised within the block become usage errors
    that spell the option."""
    from vaec.config import ConfigError

    try:
        yield
    except (ConfigError, *errors) as err:
        raise UsageError(_as_option(str(err))) from err


def _parameters(args: argparse.Namespace) -> Any:
    """:class:`RunParameters` from the options; a bad value is a :class:`UsageError`."""
    from flows.parameters import RunParameters
    from vaec.config import ModelSettings
    from vaec.tasks import TASKS

    given = {name: getattr(args, name) for name in settings_fields() if hasattr(args, name)}
    if given.get("data") is not None and given.get("dataset") is not None:
        raise UsageError("give --dataset or --data, not both")
    if given.get("data") is not None and given.get("target") is None and given.get("task") not in TASKS:
        # the task would come from the target (a named task without one: the parameters' check)
        raise UsageError("--data needs --target COLUMN (the column to select for), or --task "
                         "unsupervised to select without one" + _label_hint(given["data"]))
    model = {k: given.pop(k) for k in list(given) if k in ModelSettings.model_fields}
    with _options_named():
        return RunParameters(**given, model=ModelSettings(**model))


LABEL_NAMES = ("label", "target", "class", "y", "diagnosis", "outcome", "species", "churn")
HINT_ROWS, FEW_VALUES = 200, 10


def _label_hint(path: str) -> str:
    """``; 'diagnosis' looks like a label`` when a CSV column is named like one, or its last column
    holds a few distinct words or integers (read without pandas: a usage error needs none)."""
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
