"""Every Python sample of the README runs as it stands, each on its own."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import matplotlib
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def samples() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def _name(code: str) -> str:
    """The sample's first line that is not an import, to tell the samples apart."""
    lines = [line for line in code.splitlines()
             if line.strip() and not line.startswith(("from ", "import "))]
    return lines[0][:40] if lines else code[:40]


def test_the_readme_has_its_samples():
    found = samples()
    assert len(found) >= 6
    assert all("from " in code or "import " in code for code in found)  # self-contained


PACKAGES = ("pipeline", "vaec", "flows")


def _ours(caught: warnings.WarningMessage) -> bool:
    """A warning of the project's own: of a category it declares, or issued from its code."""
    where = Path(caught.filename).resolve()
    return caught.category.__module__.split(".")[0] in PACKAGES or any(
        README.parent / package in where.parents for package in PACKAGES)


@pytest.mark.slow
@pytest.mark.parametrize("code", samples(), ids=_name)
def test_a_readme_sample_runs_as_it_stands_and_warns_nothing(code, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # samples that write files write here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names: dict = {"__name__": "__readme__"}
        exec(compile(code, str(README), "exec"), names)
    # the README's own settings (wine, breast_cancer, the defaults) give no cause for a warning;
    # a sample that shows one says so on its line (# warns: 'customer')
    expected = re.findall(r"# warns: '([^']+)'", code)
    unexpected = [str(w.message) for w in caught if _ours(w)
                  and not any(repr(name) in str(w.message) for name in expected)]
    assert unexpected == []
    if "stability" in names:  # the stability sample's numbers mean what the README says
        stability, kept = names["stability"], names["selector"].get_feature_names_out()
        assert stability.nogueira > 0.5 and not any(c.startswith("noise") for c in kept)
