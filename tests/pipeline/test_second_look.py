"""The second look: once every channel passes, the dropped channels come back beside the kept
ones a chunk at a time, each looked at once, and a channel lost in the wide first rounds is found."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.report.store import Checkpoint
from pipeline.rounds.loop import MIN_LOOK
from pipeline.rounds.record import PASSING
from pipeline.selector import VAECSelector

pytestmark = pytest.mark.slow
SEED = 3


def nonlinear_among_null_clusters(seed: int, n_rows: int = 600) -> pd.DataFrame:
    """Two linear channels ``a`` and ``b``, a channel ``c`` with no linear effect (a product with
    ``a`` and ``|c|``), six clusters of five correlated null channels and ten lone nulls."""
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n_rows))
    frame = pd.DataFrame({"a": a, "b": b, "c": c})
    for k in range(6):
        base = rng.normal(size=n_rows)
        for j in range(5):
            frame[f"null{k}_{j}"] = base + 0.7 * rng.normal(size=n_rows)
    for j in range(10):
        frame[f"noise{j}"] = rng.normal(size=n_rows)
    logit = 1.5 * a - 1.5 * b + 1.5 * a * c + 2.0 * (np.abs(c) - np.sqrt(2 / np.pi))
    frame["label"] = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, pd.Series]:
    frame = nonlinear_among_null_clusters(SEED)
    return frame.drop(columns="label"), frame["label"]


@pytest.fixture(scope="module")
def looked(table) -> VAECSelector:
    X, y = table
    return VAECSelector(random_state=SEED, n_jobs=1, fit_final_model=False, second_look=True).fit(X, y)


def kept(selector: VAECSelector, X: pd.DataFrame) -> list[str]:
    return list(X.columns[selector.get_support()])


def test_a_channel_without_a_linear_effect_lost_among_null_clusters_is_found_by_the_second_look(
        table, looked):
    X, y = table
    plain = VAECSelector(random_state=SEED, n_jobs=1, fit_final_model=False).fit(X, y)
    assert kept(plain, X) == ["a", "b"]
    assert kept(looked, X) == ["a", "b", "c"]
    assert looked.stop_reason_ == "all_pass"


def test_every_dropped_channel_is_looked_at_once_in_chunks_as_large_as_the_kept_set(table, looked):
    X, _ = table
    rounds = looked.rounds_
    looks = [r for r in rounds if r.look_again]
    assert len(looks) >= 2
    first = looks[0]
    # the first look comes when every channel passed: nothing dropped, the loop not stopped
    assert first.dropped == [] and first.stop_reason is None
    dropped_before = set(X.columns) - set(first.kept)
    assert dropped_before <= set().union(*(r.look_again for r in looks))
    seen = [c for r in looks for c in r.look_again]
    assert len(seen) == len(set(seen))  # none twice
    for record in looks[:-1]:
        assert len(record.look_again) == max(len(record.kept), MIN_LOOK)
        following = rounds[record.index]  # the next round trains on the kept and the chunk
        assert set(following.kept) == set(record.kept) | set(record.look_again)
    assert not rounds[-1].look_again and rounds[-1].stop_reason == "all_pass"


def test_while_a_chunk_is_looked_at_what_passed_before_stays_and_a_failing_channel_goes_at_once(looked):
    rounds = looked.rounds_
    last = None
    for record in rounds:
        if last is not None:
            new = [c for c in record.kept if c not in set(last.kept)]
            assert record.dropped == [c for c in new if record.decision[c] not in PASSING]
        if record.look_again:
            last = record
    assert last is not None


def test_second_look_rounds_come_back_from_a_checkpoint_and_rank_every_channel_once(
        table, looked, tmp_path):
    X, _ = table
    checkpoint = Checkpoint.of(tmp_path, "fingerprint", "0123456789abcdef")
    checkpoint.save(looked.rounds_)
    back = checkpoint.load(list(X.columns))  # validated: every round continues the one before it
    assert json.dumps([r.to_dict() for r in back]) == json.dumps([r.to_dict() for r in looked.rounds_])
    ranks = looked.ranking_
    assert sorted(ranks[looked.get_support()]) == [1, 1, 1]
    dropped_ranks = sorted(ranks[~looked.get_support()])
    assert dropped_ranks == list(range(2, 2 + len(dropped_ranks)))
    frame = looked.channels_frame_.set_index("column")
    assert frame.loc["c", "status"] == "kept" and pd.isna(frame.loc["c", "round_dropped"])


def test_a_round_that_looks_again_says_so_in_the_log_line_and_the_round_table(looked):
    from pipeline.report.tables import round_table

    first = next(r for r in looked.rounds_ if r.look_again)
    n_back = len(first.kept) + len(first.look_again)
    assert f"→ {n_back} kept (looking again at {len(first.look_again)} dropped earlier)" in \
        first.summary(n_back)
    table = round_table(looked.result_)
    column = table.columns.index
    row = table.rows[first.index - 1]
    assert row[column("stop")] == f"looks again at {len(first.look_again)}"
    # what a round kept is what the next one trained on
    for this, following in zip(table.rows, table.rows[1:], strict=False):
        assert this[column("kept")] == following[column("trained on")]


def test_a_chunk_is_tested_at_its_share_of_the_fdr_over_every_channel_looked_at(looked):
    from pipeline.rounds.loop import PruningRun

    result = looked.result_
    rounds = result.rounds
    first = next(i for i, r in enumerate(rounds) if r.look_again)
    looked_at = len(result.split.feature_names) - len(rounds[first].kept)
    before = PruningRun(result.split, result.config, rounds=rounds[:first])
    assert before.decision_config.fdr == result.config.fdr
    run = PruningRun(result.split, result.config, rounds=rounds[:first + 1])  # the first chunk is on
    chunk = len(rounds[first].look_again)
    assert run.decision_config.fdr == pytest.approx(result.config.fdr * chunk / looked_at)
