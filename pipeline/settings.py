"""Settings declared once: name, default, help, check.

A settings class is a dataclass whose fields are made with :func:`setting`. From it the rest is
derived: :func:`check_settings` validates an instance (one-line :class:`~vaec.config.ConfigError`
naming the setting), :func:`setting_specs` lists the declarations for the command line, the
Prefect flow parameters and the selector's ``__init__``. Adding an option means adding one field.

Plain Python only: the command line imports this to answer a usage error in well under a second.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vaec.config import ConfigError

CLI, FLOW, SELECTOR = "cli", "flow", "selector"
EVERYWHERE = frozenset({CLI, FLOW, SELECTOR})
_KIND_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
               dict: "a mapping"}


@dataclass(frozen=True)
class SettingSpec:
    """One declared setting.

    Attributes
    ----------
    name : str
        Field name (the command line spells it ``--name-with-dashes``).
    default : Any
        Default value (``dict`` settings default to an empty mapping).
    help : str
        One line for the command line; the default is appended where it is shown.
    doc : str or None
        The longer description of docstrings (``help`` when not given).
    kind : type
        ``int``, ``float``, ``str``, ``bool`` or ``dict``.
    optional : bool
        ``None`` is allowed (spelled ``none`` on the command line).
    low, high : float or None
        Bounds; ``low_open`` / ``high_open`` make them strict.
    choices : tuple of str or None
        Allowed values of a ``str`` setting.
    metavar : str or None
        Placeholder in the command line's help.
    surfaces : frozenset of str
        Where the setting appears: ``cli``, ``flow``, ``selector``.
    selector_name : str or None
        The selector's parameter name when it differs (``seed`` is ``random_state`` there).
    group : str
        Heading of the command line's help section.
    """

    name: str
    default: Any
    help: str
    kind: type
    doc: str | None = None
    optional: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    surfaces: frozenset[str] = EVERYWHERE
    selector_name: str | None = None
    group: str = "selection"

    @property
    def option(self) -> str:
        """The command-line spelling, ``--n-trials``."""
        return "--" + self.name.replace("_", "-")

    def allowed(self) -> str:
        """What values are allowed, in words: ``an integer >= 1``, ``one of a, b``."""
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        else:
            text = _KIND_NAMES[self.kind]
            if self.low is not None and self.high is not None:
                left, right = ("(" if self.low_open else "["), (")" if self.high_open else "]")
                text += f" in {left}{self.low:g}, {self.high:g}{right}"
            elif self.low is not None:
                text += f" {'>' if self.low_open else '>='} {self.low:g}"
            elif self.high is not None:
                text += f" {'<' if self.high_open else '<='} {self.high:g}"
        return text + (" or None" if self.optional else "")

    def check(self, value: Any) -> Any:
        """The value normalised (numpy scalars to Python numbers), or a :class:`ConfigError`."""
        if value is None:
            if self.optional:
                return None
            raise ConfigError(f"{self.name} must be {self.allowed()}, got None")
        value = self._normalised(value)
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}")
        if self.kind in (int, float):
            below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
            above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
            if below or above or (self.kind is float and math.isnan(value)):
                raise ConfigError(f"{self.name} must be {self.allowed()}, got {value!r}")
        return value

    def _normalised(self, value: Any) -> Any:
        wrong = ConfigError(f"{self.name} must be {self.allowed()}, got {value!r}")
        is_bool = isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's too
        if self.kind is bool:
            if is_bool:
                return bool(value)
            raise wrong
        # numpy integers and floats are numbers.Integral / numbers.Real; bools are not numbers here
        if self.kind is int:
            if isinstance(value, numbers.Integral) and not is_bool:
                return int(value)
            raise wrong
        if self.kind is float:
            if isinstance(value, numbers.Real) and not is_bool:
                return float(value)
            raise wrong
        if self.kind is str:
            if isinstance(value, str):
                return value
            raise wrong
        if self.kind is dict:
            if isinstance(value, typing.Mapping):
                return dict(value)
            raise wrong
        raise TypeError(f"setting {self.name} has an unknown kind {self.kind!r}")


def setting(
    default: Any,
    help: str,
    **options: Any,
) -> Any:
    """A dataclass field that declares a setting; see :class:`SettingSpec` for ``options``."""
    metadata = {"setting": {"help": help, **options}}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@functools.cache
def setting_specs(cls: type) -> tuple[SettingSpec, ...]:
    """The declared settings of a settings dataclass, in field order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        declared = f.metadata.get("setting")
        if declared is None:
            continue
        kind, optional = _kind(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        specs.append(SettingSpec(name=f.name, default=default, kind=kind, optional=optional, **declared))
    return tuple(specs)


def _kind(annotation: Any) -> tuple[type, bool]:
    """``int | None`` -> ``(int, True)``; ``dict[str, Any]`` -> ``(dict, False)``."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    if optional:
        (annotation,) = [a for a in args if a is not type(None)]
    origin = typing.get_origin(annotation) or annotation
    if origin not in _KIND_NAMES:
        raise TypeError(f"settings support int, float, str, bool and dict, not {annotation!r}")
    return origin, optional


def check_settings(instance: Any) -> None:
    """Check and normalise every declared setting of ``instance`` in place."""
    for spec in setting_specs(type(instance)):
        object.__setattr__(instance, spec.name, spec.check(getattr(instance, spec.name)))


def _type_text(spec: SettingSpec) -> str:
    if spec.choices:
        text = "{" + ", ".join(f'"{c}"' for c in spec.choices) + "}"
    else:
        text = {int: "int", float: "float", str: "str", bool: "bool", dict: "dict"}[spec.kind]
    if spec.optional:
        text += " or None"
    default = "{}" if spec.kind is dict else repr(spec.default)
    return f"{text}, default={default}"


def parameters_doc(specs: tuple[SettingSpec, ...], surface: str | None = None,
                   indent: str = "    ") -> str:
    """A numpydoc ``Parameters`` section of the settings (those shown on ``surface``)."""
    lines = ["", f"{indent}Parameters", f"{indent}----------"]
    for spec in specs:
        if surface is not None and surface not in spec.surfaces:
            continue
        name = spec.selector_name if surface == SELECTOR and spec.selector_name else spec.name
        lines.append(f"{indent}{name} : {_type_text(spec)}")
        text = spec.doc or (spec.help[0].upper() + spec.help[1:] + ".")
        lines += [indent * 2 + line for line in textwrap.wrap(text, 88)]
    return "\n".join(lines) + "\n"


def selector_defaults(specs: tuple[SettingSpec, ...]) -> dict[str, Any]:
    """The selector's parameter names and defaults for ``specs`` (those shown on the selector).

    A ``dict`` setting defaults to ``None`` there: scikit-learn wants immutable defaults.
    """
    return {
        (spec.selector_name or spec.name): (None if spec.kind is dict else spec.default)
        for spec in specs
        if SELECTOR in spec.surfaces
    }


def keyword_init(defaults: dict[str, Any]) -> Callable[..., None]:
    """An ``__init__`` that stores keyword arguments named in ``defaults`` (and only those).

    Its signature lists them keyword-only with their defaults, so ``inspect.signature`` (and
    scikit-learn's ``get_params``/``clone``) see ordinary parameters.
    """

    def __init__(self: Any, **params: Any) -> None:
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got unexpected keyword argument(s): {', '.join(unknown)}"
            )
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
           for name, default in defaults.items()]
    )
    return __init__
