"""The demo: the pipeline's split, five strategies, files written, summary fields."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from pipeline.demo import LATENT_GRID_STRATEGIES, RUNS, SUMMARY_FILE, load_demo_data
from vaec.history import history_columns, snapshot_epochs

STRATEGY_NAMES = [name for name, _ in RUNS]
EPOCHS = 16


@pytest.fixture(scope="module")
def breast_cancer_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    code = main(["demo", "--epochs", str(EPOCHS), "--reports-dir", str(out)])
    return code, out / "breast_cancer-demo"


def test_split_is_stratified_60_20_20_and_scaled_on_train_only():
    data, names = load_demo_data("breast_cancer", seed=0)
    assert names == ["malignant", "benign"]
    sizes = np.array([len(data.y_train), len(data.y_val), len(data.y_test)])
    np.testing.assert_allclose(sizes / sizes.sum(), [0.6, 0.2, 0.2], atol=0.01)
    shares = [np.mean(part) for part in (data.y_train, data.y_val, data.y_test)]
    assert max(shares) - min(shares) < 0.02
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1.0, atol=1e-3)
    # the test rows were not used to fit the scaler, so they are not exactly standardised
    assert np.abs(data.X_test.mean(axis=0)).max() > 1e-3


def test_split_depends_on_the_seed():
    first, second = load_demo_data("digits", seed=0)[0], load_demo_data("digits", seed=1)[0]
    assert not np.array_equal(first.y_test, second.y_test)
    np.testing.assert_array_equal(first.y_test, load_demo_data("digits", seed=0)[0].y_test)


def test_unknown_dataset_is_rejected_by_name():
    with pytest.raises(ValueError, match="dataset"):
        load_demo_data("iris")


@pytest.mark.slow
def test_demo_writes_curves_histories_and_latent_grids_of_every_strategy(breast_cancer_demo):
    code, folder = breast_cancer_demo
    assert code == 0
    for name in STRATEGY_NAMES:
        assert (folder / "figures" / f"curves_{name}.png").read_bytes().startswith(b"\x89PNG")
        history = pd.read_csv(folder / "histories" / f"history_{name}.csv")
        assert list(history.columns) == ["epoch", "replica", *history_columns()]
        assert history["epoch"].tolist() == list(range(1, EPOCHS + 1))
    for name in LATENT_GRID_STRATEGIES:
        for epoch in snapshot_epochs(EPOCHS):
            assert (folder / "figures" / f"latent_{name}_epoch{epoch:05d}.png").is_file()
    # the head-only run does not move the latent space: no grids for it
    assert not list(folder.glob("figures/latent_classifier_head_*"))
    assert not list(folder.rglob(".*.tmp"))
    # one page and its summary at the top, the rest in their folders
    assert sorted(p.name for p in folder.iterdir()) == [
        "figures", "histories", "report.html", SUMMARY_FILE]


@pytest.mark.slow  # the demo trains five models and draws their grids
def test_summary_has_the_settings_and_scores_of_every_strategy(breast_cancer_demo):
    _, folder = breast_cancer_demo
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    assert summary["dataset"] == "breast_cancer"
    assert summary["epochs"] == EPOCHS and summary["seed"] == 0 and summary["latent_dim"] == 2
    assert summary["rows"] == {"train": 341, "val": 114, "test": 114}
    assert summary["config"]["n_inputs"] == 30
    assert list(summary["strategies"]) == STRATEGY_NAMES
    for name, row in summary["strategies"].items():
        history = pd.read_csv(folder / row["history"])
        best = history[history["epoch"] == row["best_epoch"]].iloc[0]
        score = "val_f1" if name != "autoencoder" else "val_reconstruction_loss"
        assert row[score] == pytest.approx(best[score]), name
        for listed in [row["curves"], row["history"], *row["latent_grids"]]:
            assert (folder / listed).is_file(), f"{name}: {listed}"


@pytest.mark.slow  # the demo trains five models and draws their grids
def test_a_strategy_that_trains_no_head_reports_no_accuracy(breast_cancer_demo):
    _, folder = breast_cancer_demo
    strategies = json.loads((folder / SUMMARY_FILE).read_text())["strategies"]
    autoencoder = strategies["autoencoder"]
    assert not [k for k in autoencoder if "accuracy" in k or "f1" in k], autoencoder
    assert "test_accuracy" in strategies["classifier_head"]  # the head on its encoder
    page = (folder / "report.html").read_text()
    (row,) = re.findall(r"<tr[^>]*><td>autoencoder</td>(.*?)</tr>", page)
    assert re.findall(r"<td>([^<]*)</td>", row)[:2] == ["-", "-"]
    assert "autoencoder trains no head: it has no test scores" in page


@pytest.mark.slow  # the demo trains five models and draws their grids
def test_the_page_shows_every_strategy_and_links_only_files_in_the_folder(breast_cancer_demo):
    _, folder = breast_cancer_demo
    page = (folder / "report.html").read_text()
    links = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert links and all((folder / link).is_file() for link in links), links
    assert {f.relative_to(folder).as_posix() for f in (folder / "figures").iterdir()} == {
        link for link in links if link.startswith("figures/")}  # every figure is on the page
    for name in STRATEGY_NAMES:
        assert f'<h2 id="{name}">{name}</h2>' in page
        assert f'<img src="figures/curves_{name}.png"' in page


@pytest.mark.slow
def test_demo_classifiers_beat_the_majority_class_after_a_few_epochs(breast_cancer_demo):
    _, folder = breast_cancer_demo
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    majority = 0.63  # share of benign rows in the breast cancer set
    for name in ("var_mlp_classifier", "all_parts", "mlp_classifier", "classifier_head"):
        assert summary["strategies"][name]["test_accuracy"] > majority + 0.15, name


@pytest.mark.slow
def test_demo_prints_a_table_of_every_strategy(tmp_path, capsys):
    code = main(["demo", "--dataset", "digits", "--epochs", "2", "--latent-dim", "5",
                 "--reports-dir", str(tmp_path)])
    assert code == 0
    printed = capsys.readouterr().out
    for name in STRATEGY_NAMES:
        assert name in printed
    summary = json.loads((tmp_path / "digits-demo" / SUMMARY_FILE).read_text())
    assert summary["config"]["latent_dim"] == 5 and summary["config"]["n_classes"] == 10


@pytest.mark.slow
def test_the_command_prints_the_path_of_the_demo_page(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "demo", "--dataset", "wine", "--epochs", "3",
         "--reports-dir", str(tmp_path / "reports")],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "reports" / "wine-demo" / "report.html").resolve()
    assert result.stdout.strip().splitlines()[-1] == f"report: {page}"
    assert page.is_file()
    rows = [line.split() for line in result.stdout.splitlines()]
    (autoencoder,) = [row for row in rows if row[:1] == ["autoencoder"] and len(row) == 5]
    assert autoencoder[1:3] == ["-", "-"]  # no accuracy, no F1


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--latent-dim", "-1"], ["--dataset", "x"]])
def test_bad_options_are_rejected_before_any_training(tmp_path, option, capsys):
    assert main(["demo", "--reports-dir", str(tmp_path), *option]) == 2
    assert option[0] in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
