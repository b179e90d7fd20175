"""Every Python sample of the README runs as it stands, each on its own."""

from __future__ import annotations

import re
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


@pytest.mark.slow
@pytest.mark.parametrize("code", samples(), ids=_name)
def test_a_readme_sample_runs_as_it_stands(code, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # samples that write files write here
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
