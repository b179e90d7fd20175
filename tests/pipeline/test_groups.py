"""The channels of one column (or of a user's group) are scored, kept and dropped as a unit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from pipeline.data.dataset import load_dataset
from pipeline.data.split import split_dataset
from pipeline.rounds.fate import group_fates, whole_groups
from pipeline.rounds.shadows import round_inputs
from pipeline.selector import VAECSelector
from pipeline.settings import SelectionSettings


def test_a_group_takes_its_best_channels_fate():
    decision = {"c=a": "relevant", "c=b": "rejected", "d[day]": "uncertain", "d[month]": "rejected",
                "n": "rejected", "m": "rejected", "m[missing]": "rejected"}
    evidence = {"c=a": 5.0, "c=b": -1.0, "d[day]": 0.5, "d[month]": -2.0, "n": -1.0, "m": -3.0,
                "m[missing]": -0.5}
    groups = [["c=a", "c=b"], ["d[day]", "d[month]"], ["m", "m[missing]"]]
    rejected, uncertain = group_fates(decision, evidence, groups)
    assert decision["c=b"] == "relevant" and "c=b" not in rejected
    assert set(uncertain) == {"d[day]", "d[month]"}
    assert set(rejected) == {"n", "m", "m[missing]"}
    assert evidence["d[month]"] == 0.5 and evidence["m"] == -0.5


def test_uncertain_groups_and_channels_are_ordered_worst_first_by_the_groups_evidence():
    # the drop cap takes the front of the uncertain list: the column c (its best level at 2.9)
    # goes before y (3.1) and after x (0.4), whatever the order the channels came in
    decision = {"c=a": "uncertain", "c=b": "rejected", "x": "uncertain", "y": "uncertain",
                "z": "rejected", "g=a": "rejected", "g=b": "rejected"}
    evidence = {"c=a": 2.9, "c=b": -1.5, "x": 0.4, "y": 3.1, "z": -0.5, "g=a": -2.0, "g=b": -1.0}
    groups = [["c=a", "c=b"], ["g=a", "g=b"]]
    rejected, uncertain = group_fates(decision, evidence, groups)
    assert uncertain == ["x", "c=a", "c=b", "y"]
    assert rejected == ["g=a", "g=b", "z"]


def test_drops_take_whole_groups_and_never_cross_the_floor():
    groups = [["c=a", "c=b", "c=c"]]
    kept = ["x", "y", "c=a", "c=b", "c=c"]
    assert whole_groups(["c=b", "x"], groups, kept, floor=1) == ["c=a", "c=b", "c=c", "x"]
    # dropping the group would leave one channel under a floor of two: it stays, whole
    assert whole_groups(["x", "c=a"], groups, kept, floor=2) == ["x"]


def grouped_table(n_rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"color": rng.choice(["red", "green", "blue"], size=n_rows),
                          "a": rng.normal(size=n_rows), "b": rng.normal(size=n_rows),
                          "c": rng.normal(size=n_rows)})
    frame["label"] = (frame["color"] == "red").astype(int)
    return frame


def test_a_columns_channels_are_one_ablation_unit_and_their_shadows_move_together():
    dataset = load_dataset(grouped_table(), "label", groups=[["a", "b"]])
    split = split_dataset(dataset, test_size=0.0)
    channels = list(split.feature_names)
    assert channels == ["color=blue", "color=green", "color=red", "a", "b", "c"]
    inputs = round_inputs(split, channels, SelectionSettings(test_size=0.0), round_index=1)
    # the group is held at its mean as one unit (however weakly its channels correlate)
    assert [0, 1, 2] in inputs.clusters and [3, 4] in inputs.clusters
    shadows = inputs.cluster_shadows
    assert [0, 1, 2] in shadows.sources
    # a shadow of the column is its rows permuted together: still one level per row
    start = sum(len(s) for s in shadows.sources[:shadows.sources.index([0, 1, 2])])
    block = shadows.train[:, start:start + 3]
    levels = np.unique(np.round(block, 4), axis=0)
    assert len(levels) == 3


def test_a_column_leaves_whole_and_a_user_group_is_kept_together():
    frame = grouped_table(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        selector = VAECSelector(epochs=60, n_trials=2, latent_dim=2, encoder_widths=(16,),
                                head_widths=(8,), fit_final_model=False,
                                groups=[["a", "b"]]).fit(frame.drop(columns="label"),
                                                         frame["label"])
    assert "color" in selector.get_feature_names_out()
    for record in selector.rounds_:
        for group in record.groups:
            assert set(group) <= set(record.dropped) or not set(group) & set(record.dropped)
    support = dict(zip(selector.feature_names_in_, selector.support_, strict=True))
    assert support["a"] == support["b"]
