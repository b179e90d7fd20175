"""The report folder of a pruning run, and finding and comparing runs."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from pipeline.data.dataset import load_dataset
from pipeline.final_model import FinalModel
from pipeline.report.store import (
    StoreError,
    StoreWarning,
    list_runs,
    read_report,
    run_fingerprint,
)
from pipeline.report.writer import new_run_folder, selection_diff, write_report
from pipeline.selection import run_selection
from pipeline.settings import SelectionSettings
from vaec.config import ConfigError

FAST = {"epochs": 40, "latent_dim": 2,
        "encoder_widths": (16,), "head_widths": (8,)}


def write(*args, **kwargs):
    """The run folder only."""
    return write_report(*args, **kwargs)[0]


@pytest.fixture(scope="module")
def run():
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(200, 1))
    frame = pd.DataFrame(factor + 0.1 * rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    frame["noise"] = rng.normal(size=200)
    frame["flat"] = 0.0
    frame["label"] = (factor[:, 0] > 0).astype(int)
    dataset = load_dataset(frame, "label")
    config = SelectionSettings.from_flat(n_trials=2, **FAST)
    result = run_selection(dataset, config)
    return dataset, result.split, config, result


@pytest.fixture(scope="module")
def folder(run, tmp_path_factory):
    dataset, _, config, result = run
    reports = tmp_path_factory.mktemp("reports")
    fingerprint = run_fingerprint(dataset.summary(), config)
    folder, report = write_report(result, dataset.summary(), reports, fingerprint=fingerprint,
                                  truth={"informative": ["a", "b", "c"]})
    assert json.loads((folder / "report.json").read_text()) == report
    assert read_report(folder).selected == report["selected"]
    return folder


def test_report_json_agrees_with_the_result(run, folder):
    _, _, _, result = run
    report = json.loads((folder / "report.json").read_text())
    assert report["selected"] == result.selected
    assert len(report["rounds"]) == len(result.rounds)
    assert report["stop_reason"] == result.stop_reason
    assert report["constant_columns"] == ["flat"]
    fates = {f["channel"]: f for f in report["channel_fates"]}
    assert fates["flat"]["status"] == "constant"
    assert all(fates[c]["rank"] == result.ranking[c] for c in result.ranking)
    assert report["truth"]["recall"] == pytest.approx(
        len({"a", "b", "c"} & set(result.selected)) / 3
    )
    assert report["final_model"]["metrics"]["test_accuracy"] > 0.8


def test_html_is_self_contained_with_every_figure(run, folder):
    page = (folder / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page
    _, _, _, result = run
    # the score against the channel count, one chart per round, the learning curves, one
    # latent view and the domain
    assert len(sources) == 1 + len(result.rounds) + 3
    assert "<td>noise</td>" in page


def test_selection_file_and_final_model_are_usable_downstream(run, folder):
    dataset, _split, _, result = run
    selection = json.loads((folder / "selected_features.json").read_text())
    assert selection["selected"] == result.selected
    assert selection["target"] == "label"
    final = FinalModel.load(folder / "final_model")
    assert final.channels == result.selected
    accuracy = (final.model.predict(final.scaled(dataset.frame)) == dataset.y).mean()
    assert accuracy > 0.85


def test_markdown_lists_rounds_and_channels(folder):
    text = (folder / "report.md").read_text()
    assert "| round | trained on | dropped | kept |" in text
    assert "flat" in text


@pytest.mark.slow  # writes whole reports, figures and all
def test_a_failing_write_keeps_the_previous_report(run, tmp_path, monkeypatch):
    dataset, _split, _config, result = run
    first = write(result, dataset.summary(), tmp_path, run_name="nightly")
    before = (first / "report.json").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("pipeline.report.writer.render_page", broken)
    with pytest.raises(RuntimeError):  # a second attempt into the same folder
        write(result, dataset.summary(), folder=first)
    assert (first / "report.json").read_text() == before
    assert not [p for p in first.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.slow  # writes whole reports, figures and all
def test_runs_are_listed_and_the_previous_run_is_found(run, tmp_path):
    dataset, _, config, result = run
    fingerprint = run_fingerprint(dataset.summary(), config)
    old = write(result, dataset.summary(), tmp_path, run_name="old", fingerprint=fingerprint)
    report = json.loads((old / "report.json").read_text())
    report["created"] = "2000-01-01T00:00:00+00:00"
    (old / "report.json").write_text(json.dumps(report))
    write(result, dataset.summary(), tmp_path, run_name="other", fingerprint="different")
    new = write(result, dataset.summary(), tmp_path, run_name="new", fingerprint=fingerprint)
    (tmp_path / "half-written").mkdir()
    runs = list_runs(tmp_path)
    assert [r.folder.name for r in runs][-1] == "old"
    assert {r.folder.name for r in runs} == {"old", "other", "new"}
    assert [r.folder for r in list_runs(tmp_path, fingerprint)] == [new, old]  # the newest first
    assert list_runs(tmp_path, "unknown") == []


def test_fingerprint_changes_with_data_or_settings(run):
    dataset, _, config, _ = run
    summary = dataset.summary()
    assert run_fingerprint(summary, config) == run_fingerprint(dict(summary), config)
    assert run_fingerprint(summary, config) != run_fingerprint(summary, SelectionSettings(threshold=0.7))
    assert run_fingerprint(summary, config) != run_fingerprint({**summary, "n_rows": 1}, config)


def test_selection_diff_names_added_and_removed():
    diff = selection_diff(["a", "b", "c"], ["b", "c", "d"], previous_run="r1")
    assert diff == {"previous_run": "r1", "added": ["d"], "removed": ["a"], "unchanged": 2}


def test_round_charts_draw_both_scores_as_boxes_with_the_shadow_band(run, folder):
    from pipeline.report.figures import plot_round_scores

    _, _, config, result = run
    record = result.rounds[0]
    fig = plot_round_scores(record, config.threshold)
    shared, importance = fig.axes[:2]
    for ax, score in ((shared, "shared_r2"), (importance, "importance")):
        (boxes,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        corners = [path.vertices for path in boxes.get_paths()]
        assert len(corners) == len(record.kept)  # one box per channel over the trials
        best = corners[0]  # the best channel, drawn on top, its box over its trials' quartiles
        assert (best[:, 1].min() + best[:, 1].max()) / 2 == pytest.approx(len(record.kept) - 1)
        trials = np.asarray(record.trial_scores[score][record.ranked()[0]])
        assert best[:, 0].min() == pytest.approx(max(np.quantile(trials, 0.25), -1.0))
        assert best[:, 0].max() == pytest.approx(max(np.quantile(trials, 0.75), -1.0))
        assert len(ax.patches) == 1  # the shadows' middle 90 %
    labels = [t.get_text() for t in shared.get_yticklabels()]
    assert labels == record.ranked()  # best first, top to bottom
    page = (folder / "report.html").read_text()
    assert 'alt="channel scores of round 1"' in page
    fates = json.loads((folder / "report.json").read_text())["channel_fates"]
    assert {"importance_mean", "shared_r2_mean", "decision"} <= set(fates[0])


# whatever else lies under reports/ --------------------------------------------------------

JUNK = {
    "only a schema version": '{"schema_version": 1}',
    "a list": "[]",
    "garbage": "this is not json",
    "not UTF-8": b"\xff\xfe\x00junk",
    "another schema": '{"schema_version": 2, "created": "2030-01-01", "data": {"name": "x"}}',
}


@pytest.fixture(scope="module")
def reports_with_junk(folder, tmp_path_factory):
    """A real run's report, one junk folder per kind of junk, a truncated report, and a folder
    that is no run at all (the demo's)."""
    root = tmp_path_factory.mktemp("junk-reports")
    text = (folder / "report.json").read_text()
    (root / "good").mkdir()
    (root / "good" / "report.json").write_text(text)
    for i, content in enumerate(JUNK.values()):
        (root / f"junk{i}").mkdir()
        data = content if isinstance(content, bytes) else content.encode()
        (root / f"junk{i}" / "report.json").write_bytes(data)
    (root / "truncated").mkdir()
    (root / "truncated" / "report.json").write_text(text[: len(text) // 2])
    (root / "wine-demo").mkdir()
    return root, root / "good", json.loads(text)["fingerprint"]


def test_junk_run_folders_are_skipped_with_one_warning_each(reports_with_junk):
    root, good, fingerprint = reports_with_junk
    with pytest.warns(StoreWarning) as caught:
        runs = list_runs(root)
    assert [r.folder.name for r in runs] == ["good"]
    named = sorted(str(w.message).split(f"{root}/")[1].split("/")[0] for w in caught)
    assert named == sorted([f"junk{i}" for i in range(len(JUNK))] + ["truncated"])
    assert all("\n" not in str(w.message) for w in caught)
    with pytest.warns(StoreWarning):
        assert list_runs(root, fingerprint)[0].selected == read_report(good).selected


def test_a_junk_report_is_one_error_naming_its_file(reports_with_junk):
    root, _, _ = reports_with_junk
    for folder in ["junk0", "junk1", "junk2", "junk3", "junk4", "truncated"]:
        with pytest.raises(StoreError, match=f"{folder}/report.json") as info:
            read_report(root / folder)
        assert "\n" not in str(info.value)


def test_folders_that_are_no_runs_are_left_out_quietly(run, tmp_path, recwarn):
    (tmp_path / "wine-demo").mkdir()
    (tmp_path / ".checkpoints").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert list_runs(tmp_path) == []
    assert not [w for w in recwarn if issubclass(w.category, StoreWarning)]


# run folders ---------------------------------------------------------------------------------

def test_a_named_run_never_writes_over_an_earlier_run(run, folder):
    dataset, _, _, result = run
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match=f"run_name '{folder.name}' is taken") as info:
        write(result, dataset.summary(), folder.parent, run_name=folder.name)
    assert "\n" not in str(info.value)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_default_run_folders_of_the_same_second_get_a_suffix(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.report.writer.default_run_name",
                        lambda name: f"{name}-20300101T000000")
    folders = [new_run_folder(tmp_path, None, "wine") for _ in range(3)]
    assert [f.name for f in folders] == [
        "wine-20300101T000000", "wine-20300101T000000-2", "wine-20300101T000000-3"]
    assert all(f.is_dir() and f.parent == tmp_path for f in folders)


@pytest.mark.parametrize("name", ["/tmp/x", "../x", "a/b", "..", ".", "", ".checkpoints",
                                  "a\\b", "x\0y"])
def test_a_run_name_is_a_single_folder_name(name, tmp_path):
    with pytest.raises(ConfigError, match="run_name must be a single folder name"):
        new_run_folder(tmp_path / "reports", name, "data")
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["reports"])


# what the page shows, and what it costs ----------------------------------------------------------

@pytest.mark.slow
def test_report_writing_draws_no_latent_grids_unless_asked(run, tmp_path, monkeypatch):
    import pipeline.report.figures as figures

    dataset, _, _, result = run
    drawn = []
    grid = figures.plot_latent_grid
    monkeypatch.setattr(figures, "plot_latent_grid",
                        lambda snapshot, **kw: drawn.append(snapshot.epoch) or grid(snapshot, **kw))
    plain = write(result, dataset.summary(), tmp_path, run_name="plain")
    assert drawn == [] and not (plain / "final_model" / "latent").exists()
    asked = write(result, dataset.summary(), tmp_path, run_name="asked", latent_grids=True)
    snapshots = result.final.training.snapshots
    assert drawn == [s.epoch for s in snapshots] and snapshots
    files = sorted(p.name for p in (asked / "final_model" / "latent").iterdir())
    assert files == [f"latent_epoch{s.epoch:05d}.png" for s in snapshots]
    assert f'href="final_model/latent/{files[-1]}"' in (asked / "report.html").read_text()


def test_the_channel_table_is_on_the_page_not_in_a_scrolling_box(folder):
    page = (folder / "report.html").read_text()
    assert "overflow" not in page and "max-height" not in page
    report = json.loads((folder / "report.json").read_text())
    assert len(re.findall(r'<tr class="(?:kept|dropped|cut|constant)', page)) == len(
        report["channel_fates"])


@pytest.fixture(scope="module")
def floored(run, tmp_path_factory):
    """The same data with a floor of every varying channel: the noise cannot go, and stays
    without passing."""
    dataset, _, _, _ = run
    result = run_selection(dataset, SelectionSettings.from_flat(n_trials=2, min_features=4, **FAST))
    folder, _ = write_report(result, dataset.summary(), tmp_path_factory.mktemp("floored"))
    return result, folder


def test_a_channel_kept_without_passing_does_not_look_confirmed(floored):
    result, folder = floored
    assert result.stop_reason == "min_features" and "noise" in result.unconfirmed
    page = (folder / "report.html").read_text()
    assert re.search(r'<span class="unconfirmed" title="kept without passing: [^"]*">noise \?</span>',
                     page)
    confirmed = set(result.selected) - set(result.unconfirmed)
    assert all(f"<span>{c}</span>" in page for c in confirmed)
    assert "noise (?)" in (folder / "report.md").read_text()
    report = json.loads((folder / "report.json").read_text())
    assert report["unconfirmed"] == result.unconfirmed


def test_an_unfinished_folder_is_removed_and_a_named_runs_claim_stays(tmp_path):
    from pipeline.report.claim import CLAIM_FILE
    from pipeline.report.writer import discard_unfinished

    plain = new_run_folder(tmp_path, None, "wine")
    (plain / "final_model").mkdir()
    (plain / "final_model" / "weights.pt").write_bytes(b"half")
    (plain / "report.md").write_text("half")
    discard_unfinished(plain)
    assert not plain.exists()

    named = new_run_folder(tmp_path, "nightly", "wine")
    (named / "selected_features.json").write_text("{}")
    discard_unfinished(named)
    assert [p.name for p in named.iterdir()] == [CLAIM_FILE]  # the same command takes it up

    finished = new_run_folder(tmp_path, None, "digits")
    (finished / "report.json").write_text("{}")
    discard_unfinished(finished)  # a finished run is never touched
    assert (finished / "report.json").is_file()
