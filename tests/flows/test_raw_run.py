"""``vaec-select run`` on a raw CSV: categories, a boolean, dates, gaps and an identifier."""

from __future__ import annotations

import contextlib
import io
import json

import pandas as pd
import pytest

from flows.cli import main

from ..customer_table import customer_table


def raw_csv_table(n_rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """The shared customer table as a CSV holds it: dates as text, the target ``y`` a column."""
    frame, y = customer_table(n_rows, seed)
    return frame.assign(opened=frame["opened"].dt.strftime("%Y-%m-%d"), y=y)


@pytest.mark.slow
def test_a_raw_table_runs_and_the_report_speaks_its_columns(tmp_path):
    raw_csv_table().to_csv(tmp_path / "t.csv", index=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", "--data", str(tmp_path / "t.csv"), "--target", "y", "--n-trials", "2",
                     "--epochs", "60", "--latent-dim", "2", "--reports-dir", str(tmp_path / "r"),
                     "--run-name", "raw"])
    assert code == 0, err.getvalue()[-3000:]
    assert "set aside as identifiers" in err.getvalue() and "'customer'" in err.getvalue()
    folder = tmp_path / "r" / "raw"
    selection = json.loads((folder / "selected_features.json").read_text())
    assert "color" in selection["selected"] and "customer" not in selection["selected"]
    assert all(not c.startswith("color=") for c in selection["selected"])
    report = json.loads((folder / "report.json").read_text())
    assert set(report["selected"]) | set(report["dropped"]) == {
        "color", "noise_a", "noise_b", "flag", "opened"}
    markdown = (folder / "report.md").read_text()
    assert "## Every column" in markdown
    # the page counts the user's columns, not the channels they were encoded into
    page = (folder / "report.html").read_text()
    assert f"Selected: {len(report['selected'])} of 5 columns" in page and " · 5 columns · " in page
    assert "| opened | datetime | date parts |" in markdown
    assert "customer" in markdown  # named among the identifiers set aside
    # transform keeps the selected columns as they are in the file
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["transform", "--selection", str(folder / "selected_features.json"),
                     "--data", str(tmp_path / "t.csv"), "--out", str(tmp_path / "kept.csv")]) == 0
    kept = pd.read_csv(tmp_path / "kept.csv")
    assert list(kept.columns) == [*selection["selected"], "y"]
    # predict takes the raw table too: the final model encodes it as in training
    new = raw_csv_table(30, seed=1).drop(columns="y")
    new.loc[:4, "color"] = "violet"  # a level never seen
    new.to_csv(tmp_path / "new.csv", index=False)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["predict", "--model", str(folder / "final_model"), "--data",
                     str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 30
