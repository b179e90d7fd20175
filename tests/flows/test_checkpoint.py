"""Resume checkpoints: rounds are reused only for the same data and settings, and a checkpoint
that cannot be used is set aside (never deleted) so the run starts fresh."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flows.checkpoint import (
    CheckpointWarning,
    checkpoint_path,
    load_resamples,
    load_rounds,
    save_resamples,
    save_rounds,
)
from pipeline.data.dataset import load_dataset
from pipeline.report.runs import resume_key, run_fingerprint
from pipeline.rounds.record import PruningRound
from pipeline.settings import SelectionSettings
from pipeline.stability.result import ResampleSelection

from .conftest import structured_table

CHANNELS = ["a", "b", "c", "d", "e"]
KEY = "0123456789abcdef"


def _round(index: int, kept: list[str], dropped: list[str], stop: str | None = None) -> PruningRound:
    scores = {c: (0.1 if c in dropped else 0.9) for c in kept}
    return PruningRound(index, kept, scores, {c: 0.0 for c in kept}, dropped,
                        0.9, 0.9, 0.01, 1.0, stop)


ROUNDS = [_round(1, CHANNELS, ["e"]), _round(2, CHANNELS[:4], ["d"])]


def test_rounds_come_back_as_they_were_saved(tmp_path):
    path = checkpoint_path(tmp_path, "fingerprint")
    save_rounds(path, KEY, ROUNDS)
    saved = json.loads(path.read_text())
    assert saved["schema_version"] == 1 and saved["key"] == KEY
    assert load_rounds(path, KEY, CHANNELS) == ROUNDS
    assert load_rounds(tmp_path / "none.json", KEY, CHANNELS) == []


def _text(rounds: list[PruningRound], **changes) -> str:
    payload = {"schema_version": 1, "key": KEY, "rounds": [r.to_dict() for r in rounds]}
    return json.dumps({**payload, **changes})


UNUSABLE = {
    "garbage": "not json at all",
    "truncated": _text(ROUNDS)[:100],
    "a list": "[]",
    "no schema": json.dumps({"rounds": [r.to_dict() for r in ROUNDS]}),
    "another schema": _text(ROUNDS, schema_version=2),
    "other data": _text(ROUNDS, key="fedcba9876543210"),
    "a malformed round": json.dumps({"schema_version": 1, "key": KEY, "rounds": [{"index": 1}]}),
    "rounds that do not continue": _text([ROUNDS[1]]),
    "a stop before the last round": _text([_round(1, CHANNELS, ["e"], "all_pass"), ROUNDS[1]]),
}


@pytest.mark.parametrize("content", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_an_unusable_checkpoint_is_set_aside_with_one_warning(content, tmp_path):
    path = checkpoint_path(tmp_path, "fingerprint")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.warns(CheckpointWarning) as caught:
        assert load_rounds(path, KEY, CHANNELS) == []
    assert len(caught) == 1
    message = str(caught[0].message)
    assert str(path) in message and "fingerprint.json.corrupt" in message and "\n" not in message
    assert not path.exists()
    assert (path.parent / "fingerprint.json.corrupt").read_text() == content


RESAMPLES = [ResampleSelection(i, 100 + i, 40, 10, ["a", "b"], {"a": 1, "b": 1, "c": 2}, "all_pass",
                                2, 0.5) for i in range(2)]


def test_resamples_come_back_and_a_resample_checkpoint_of_other_data_is_set_aside(tmp_path):
    path = checkpoint_path(tmp_path, "fingerprint")
    save_resamples(path, KEY, RESAMPLES)
    assert load_resamples(path, KEY) == RESAMPLES
    with pytest.warns(CheckpointWarning, match="other data"):
        assert load_resamples(path, "fedcba9876543210") == []
    assert not path.exists() and (path.parent / "fingerprint.json.corrupt").exists()
    path.write_text(json.dumps({"schema_version": 1, "key": KEY, "resamples": [{"index": 0}]}))
    with pytest.warns(CheckpointWarning, match="malformed"):
        assert load_resamples(path, KEY) == []


def test_an_earlier_corrupt_checkpoint_is_kept(tmp_path):
    path = checkpoint_path(tmp_path, "fingerprint")
    path.parent.mkdir(parents=True)
    for content in ("first", "second"):
        path.write_text(content)
        with pytest.warns(CheckpointWarning):
            load_rounds(path, KEY, CHANNELS)
    assert (path.parent / "fingerprint.json.corrupt").read_text() == "first"
    assert (path.parent / "fingerprint.json.corrupt.2").read_text() == "second"


def test_a_checkpoint_that_cannot_be_written_costs_the_resume_not_the_run(tmp_path):
    (tmp_path / ".checkpoints").write_text("a file where the folder should be")
    with pytest.warns(CheckpointWarning, match="cannot write the checkpoint"):
        save_rounds(checkpoint_path(tmp_path, "fingerprint"), KEY, ROUNDS)


def test_the_resume_key_covers_the_values_not_just_the_shape():
    table = structured_table()
    changed = table.copy()
    # same shape, columns and class counts; other values (noise0 now carries the factor)
    changed["noise0"], changed["s0"] = table["s0"].to_numpy(), table["noise0"].to_numpy()
    config = SelectionSettings()
    before, after = (load_dataset(t, "label").summary() for t in (table, changed))
    assert {k: v for k, v in before.items() if k != "content_hash"} == \
        {k: v for k, v in after.items() if k != "content_hash"}
    # the same job: the runs are compared with each other; but rounds are never shared
    assert run_fingerprint(before, config) == run_fingerprint(after, config)
    assert resume_key(before, config) != resume_key(after, config)
    assert resume_key(before, config) == resume_key(load_dataset(table.copy(), "label").summary(), config)
    assert resume_key(before, config) != resume_key(before, SelectionSettings(threshold=0.7))


def test_the_content_hash_does_not_depend_on_the_chunk_size(monkeypatch):
    from pipeline.data import dataset as data

    frame = structured_table(n_rows=1000)
    whole = data.frame_hash(frame)
    monkeypatch.setattr(data, "HASH_CHUNK_ROWS", 7)
    assert data.frame_hash(frame) == whole
    frame.loc[999, "noise1"] = np.nextafter(frame.loc[999, "noise1"], np.inf)
    assert data.frame_hash(frame) != whole
