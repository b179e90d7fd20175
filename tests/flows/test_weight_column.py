"""``vaec-select run --weight-column``: the rows of ``--data`` weighed by one of its columns, which
is never a feature; a column that cannot weigh the rows is refused in one line before anything
trains; the report says what weighed the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..weighted_table import weighted_halves
from .conftest import read_artifact, run_main
from .test_cli import assert_usage_error


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    table = weighted_halves(300)
    table.to_csv(root / "table.csv", index=False)
    table.assign(w=table["w"].where(table.index != 3, -1.0)).to_csv(root / "negative.csv",
                                                                    index=False)
    table.assign(w=table["w"].where(table.index != 3)).to_csv(root / "gap.csv", index=False)
    table.assign(w=table["w"].astype(object).where(table.index != 3, "heavy")).to_csv(
        root / "text.csv", index=False)
    table.assign(w=0.0).to_csv(root / "zero.csv", index=False)
    return root


def test_the_option_comes_from_the_run_parameters():
    from flows.parameters import RunParameters

    code, out, _ = run_main("run", "--help")
    assert code == 0 and "--weight-column COLUMN" in out
    assert "weight_column" in RunParameters.model_json_schema()["properties"]  # Prefect's form


@pytest.mark.parametrize(("args", "words"), [
    (["--dataset", "wine", "--weight-column", "w"], ["--weight-column needs data"]),
    (["--data", "table.csv", "--task", "unsupervised", "--weight-column", "w"],
     ["--weight-column needs target"]),
    (["--data", "table.csv", "--target", "label", "--weight-column", "W"],
     ["weight column 'W' not found", "close names: 'w'"]),
    (["--data", "table.csv", "--target", "label", "--weight-column", "label"],
     ["weight column 'label' is the target column"]),
    (["--data", "negative.csv", "--target", "label", "--weight-column", "w"],
     ["weight column 'w'", "Negative values"]),
    (["--data", "gap.csv", "--target", "label", "--weight-column", "w"],
     ["weight column 'w'", "NaN"]),
    (["--data", "text.csv", "--target", "label", "--weight-column", "w"],
     ["weight column 'w' must hold numbers", "'heavy'"]),
    (["--data", "zero.csv", "--target", "label", "--weight-column", "w"],
     ["weight column 'w'", "at least one non-zero"]),
])
def test_a_weight_column_that_cannot_weigh_the_rows_is_refused_before_any_training(
        args, words, tables, never_trains, monkeypatch):
    monkeypatch.chdir(tables)
    assert_usage_error(run_main("run", *args, "--reports-dir", "reports"), *words)
    assert not (tables / "reports").exists()


@pytest.mark.slow
def test_a_run_weighed_by_a_column_trains_on_its_weights_and_says_so(prefect_api_url, tables):
    reports = tables / "reports-weighted"
    code, out, err = run_main(
        "run", "--data", str(tables / "table.csv"), "--target", "label", "--weight-column", "w",
        "--n-trials", "2", "--epochs", "60", "--seed", "0", "--max-drop-fraction", "0.5",
        "--reports-dir", str(reports), "--run-name", "weighted")
    assert code == 0, err[-3000:]
    folder = reports / "weighted"
    selection = json.loads((folder / "selected_features.json").read_text())
    report = json.loads((folder / "report.json").read_text())
    assert selection["weight_column"] == report["data"]["weight_column"] == "w"
    # never a channel: not trained on, not kept, not dropped
    assert "w" not in report["data"]["feature_names"] + report["rounds"][0]["kept"]
    assert "w" not in selection["selected"] + report["dropped"]
    assert "rows weighted by column 'w' (not a feature)" in out.splitlines()[-2]
    assert "rows weighted by column w" in (folder / "report.md").read_text()
    code, out, err = run_main("report", "weighted", "--reports-dir", str(reports))
    assert code == 0 and "rows weighted by column 'w' (not a feature)" in out, err
    # and the run's page in Prefect's UI
    rounds = read_artifact("table-rounds").data
    assert "**Rows weighted by column:** w (not a feature)" in rounds
    # the second half weighs nothing: b, which tells the class only there, is near the shadows
    t = report["rounds"][0]["t_importance"]
    assert t["a"] > 8 and t["b"] < 4, t
