"""What a run leaves on disk: the resume key, checkpoints (reused only for the same data and
settings, set aside when they cannot be used), and reading report.json back."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from pipeline.data import dataset
from pipeline.data.dataset import frame_hash, load_dataset
from pipeline.report import store
from pipeline.report.store import (
    Checkpoint,
    StoreError,
    StoreWarning,
    list_runs,
    read_report,
    resume_key,
    run_fingerprint,
)
from pipeline.rounds.record import PruningRound
from pipeline.settings import SelectionSettings
from pipeline.stability.result import ResampleSelection

CHANNELS = ["a", "b", "c", "d", "e"]
KEY = "0123456789abcdef"


def _round(index: int, kept: list[str], dropped: list[str], stop: str | None = None) -> PruningRound:
    scores = {c: (0.1 if c in dropped else 0.9) for c in kept}
    return PruningRound(index, kept, scores, {c: 0.0 for c in kept}, dropped,
                        0.9, 0.9, {"f1": 0.9}, 1.0, stop)


ROUNDS = [_round(1, CHANNELS, ["e"]), _round(2, CHANNELS[:4], ["d"])]


def table(n_rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Copies of one factor that decides the label, and noise."""
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=n_rows)
    frame = pd.DataFrame({f"s{i}": factor + 0.15 * rng.normal(size=n_rows) for i in range(2)})
    frame[["noise0", "noise1"]] = rng.normal(size=(n_rows, 2))
    frame["label"] = (factor > 0).astype(int)
    return frame


def test_rounds_come_back_as_they_were_saved(tmp_path):
    checkpoint = Checkpoint.of(tmp_path, "fingerprint", KEY)
    assert checkpoint.path == tmp_path / ".checkpoints" / "fingerprint.json"
    checkpoint.save(ROUNDS)
    saved = json.loads(checkpoint.path.read_text())
    assert saved["schema_version"] == store.CHECKPOINT_SCHEMA and saved["key"] == KEY
    assert checkpoint.load(CHANNELS) == ROUNDS
    assert Checkpoint(tmp_path / "none.json", KEY).load(CHANNELS) == []
    checkpoint.clear()
    assert not checkpoint.path.exists()


def _text(rounds: list, **changes) -> str:
    """A checkpoint of ``rounds`` (records, or what a damaged file holds instead)."""
    records = [r.to_dict() if isinstance(r, PruningRound) else r for r in rounds]
    return json.dumps({"schema_version": 1, "key": KEY, "rounds": records, **changes})


def _with(record: PruningRound, **fields) -> dict:
    return {**record.to_dict(), **fields}


# each unusable checkpoint, and the words its one line must hold
UNUSABLE = {
    "garbage": ("not json at all", "Invalid JSON"),
    "truncated": (_text(ROUNDS)[:100], "Invalid JSON"),
    "a list": ("[]", "object"),
    "no rounds": (json.dumps({"schema_version": 1, "key": KEY}), "rounds: Field required"),
    "no schema": (json.dumps({"key": KEY, "rounds": [r.to_dict() for r in ROUNDS]}),
                  "schema_version: Field required"),
    "another schema": (_text(ROUNDS, schema_version=2), "schema_version: Input should be 1"),
    "other data": (_text(ROUNDS, key="fedcba9876543210"), "key: written for other data or settings"),
    "a malformed round": (_text([{"index": 1}]), "rounds.0.kept: Field required"),
    "a score that is text": (_text([_with(ROUNDS[0], val_score="oops")]),
                             "rounds.0.val_score: Input should be a valid number"),
    "a number written as text": (_text([_with(ROUNDS[0], val_score="0.9")]),
                                 "rounds.0.val_score"),
    "rounds that do not continue": (_text([ROUNDS[1]]), "round 1 does not continue"),
    "a stop before the last round": (_text([_round(1, CHANNELS, ["e"], "all_pass"), ROUNDS[1]]),
                                     "round 1 stopped the loop but later rounds follow"),
}


@pytest.mark.parametrize(("content", "words"), UNUSABLE.values(), ids=UNUSABLE.keys())
def test_an_unusable_checkpoint_is_set_aside_with_one_line_naming_it_and_the_field(
        content, words, tmp_path):
    checkpoint = Checkpoint.of(tmp_path, "fingerprint", KEY)
    path = checkpoint.path
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.warns(StoreWarning) as caught:
        assert checkpoint.load(CHANNELS) == []
    assert len(caught) == 1
    message = str(caught[0].message)
    assert str(path) in message and "fingerprint.json.corrupt" in message and "\n" not in message
    assert words in message
    assert not path.exists()
    assert (path.parent / "fingerprint.json.corrupt").read_text() == content


RESAMPLES = [ResampleSelection(i, 100 + i, 40, 10, ["a", "b"], {"a": 1, "b": 1, "c": 2}, "all_pass",
                               2, 0.5) for i in range(2)]


def test_resamples_come_back_and_a_resample_checkpoint_of_other_data_is_set_aside(tmp_path):
    checkpoint = Checkpoint.of(tmp_path, "fingerprint", KEY)
    path = checkpoint.path
    checkpoint.save(RESAMPLES, "resamples")
    assert checkpoint.load() == RESAMPLES
    with pytest.warns(StoreWarning, match="other data"):
        assert Checkpoint(path, "fedcba9876543210").load() == []
    assert not path.exists() and (path.parent / "fingerprint.json.corrupt").exists()
    path.write_text(json.dumps({"schema_version": 1, "key": KEY, "resamples": [{"index": 0}]}))
    with pytest.warns(StoreWarning, match=r"resamples\.0\.seed: Field required"):
        assert checkpoint.load() == []


def test_an_earlier_corrupt_checkpoint_is_kept(tmp_path):
    checkpoint = Checkpoint.of(tmp_path, "fingerprint", KEY)
    path = checkpoint.path
    path.parent.mkdir(parents=True)
    for content in ("first", "second"):
        path.write_text(content)
        with pytest.warns(StoreWarning):
            checkpoint.load(CHANNELS)
    assert (path.parent / "fingerprint.json.corrupt").read_text() == "first"
    assert (path.parent / "fingerprint.json.corrupt.2").read_text() == "second"


def test_a_checkpoint_that_cannot_be_written_costs_the_resume_not_the_run(tmp_path):
    (tmp_path / ".checkpoints").write_text("a file where the folder should be")
    with pytest.warns(StoreWarning, match="cannot write the checkpoint"):
        Checkpoint.of(tmp_path, "fingerprint", KEY).save(ROUNDS)


def test_the_resume_key_covers_the_values_not_just_the_shape():
    before_table = table()
    changed = before_table.copy()
    # same shape, columns and class counts; other values (noise0 now carries the factor)
    changed["noise0"], changed["s0"] = before_table["s0"].to_numpy(), before_table["noise0"].to_numpy()
    config = SelectionSettings()
    before, after = (load_dataset(t, "label").summary() for t in (before_table, changed))
    assert {k: v for k, v in before.items() if k != "content_hash"} == \
        {k: v for k, v in after.items() if k != "content_hash"}
    # the same job: the runs are compared with each other; but rounds are never shared
    assert run_fingerprint(before, config) == run_fingerprint(after, config)
    assert resume_key(before, config) != resume_key(after, config)
    again = load_dataset(before_table.copy(), "label").summary()
    assert resume_key(before, config) == resume_key(again, config)
    assert resume_key(before, config) != resume_key(before, SelectionSettings(threshold=0.7))


def test_the_content_hash_does_not_depend_on_the_chunk_size(monkeypatch):
    frame = table(n_rows=1000)
    whole = frame_hash(frame)
    assert load_dataset(frame, "label").content_hash == whole  # the data's own hash is this one
    monkeypatch.setattr(dataset, "HASH_CHUNK_ROWS", 7)
    assert frame_hash(frame) == whole
    frame.loc[999, "noise1"] = np.nextafter(frame.loc[999, "noise1"], np.inf)
    assert frame_hash(frame) != whole


# report.json read back --------------------------------------------------------------------------

REPORT = {"schema_version": 1, "created": "2030-01-01T00:00:00+00:00", "fingerprint": "f",
          "data": {"name": "wine"}, "rounds": [], "stop_reason": "all_pass", "selected": ["a"],
          "stability": None}


def _report(root, name: str, **changes) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "report.json").write_text(json.dumps({**REPORT, **changes}))


@pytest.mark.parametrize(("changes", "field"), [
    ({"stability": "yes"}, "stability"),
    ({"stability": [1, 2]}, "stability"),
    ({"stability": {"n_resamples": "3"}}, "stability.n_resamples"),
    ({"selected": ["a", 2]}, "selected.1"),
    ({"data": {"rows": 3}}, "data.name"),
    ({"tables": {"rounds": {"columns": ["a", "b"], "rows": [["1"]]}}}, "tables.rounds"),
])
def test_an_invalid_report_is_skipped_with_one_warning_naming_it_and_the_field(
        changes, field, tmp_path):
    _report(tmp_path, "good")
    _report(tmp_path, "bad", **changes)
    with pytest.warns(StoreWarning) as caught:
        assert [run.folder.name for run in list_runs(tmp_path)] == ["good"]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"{tmp_path / 'bad' / 'report.json'}: {field}" in message and "\n" not in message
    with pytest.raises(StoreError, match=f"bad/report.json: {field}"):
        read_report(tmp_path / "bad")


def test_a_report_over_the_size_cap_is_skipped_without_being_read(tmp_path, monkeypatch):
    _report(tmp_path, "good")
    (tmp_path / "huge").mkdir()
    with open(tmp_path / "huge" / "report.json", "wb") as huge:
        huge.truncate(store.MAX_REPORT_BYTES + 1)  # sparse: nothing is written
    read = store.Path.read_bytes

    def only_small(path):
        assert os.path.getsize(path) <= store.MAX_REPORT_BYTES, f"{path} was read"
        return read(path)

    monkeypatch.setattr(store.Path, "read_bytes", only_small)
    with pytest.warns(StoreWarning, match=r"huge/report.json: 64.0 MB, more than the 64 MB"):
        assert [run.folder.name for run in list_runs(tmp_path)] == ["good"]
