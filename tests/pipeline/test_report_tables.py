"""The report's tables: built once from the result objects, rendered by one renderer into the same
rows in Markdown, HTML and plain text; the wording of fates, stops and the guard."""

from __future__ import annotations

import html
import re

import pytest

from pipeline.report.store import ReportFile
from pipeline.report.tables import (
    NEGATIVE_R2,
    Table,
    channel_table,
    kept_after,
    kept_without_passing,
    round_table,
)
from pipeline.report.writer import notes
from pipeline.result import PruningResult, ranking_from_rounds
from pipeline.rounds.record import PruningRound
from pipeline.settings import SelectionSettings


def _round(index, fates, dropped=(), stop=None, **fields) -> PruningRound:
    kept, r2 = list(fates), fields.pop("r2", {})
    return PruningRound(
        index, kept, {c: r2.get(c, 0.5) for c in kept}, {c: 0.0 for c in kept},
        list(dropped), 0.9, 0.01, {"accuracy": 0.91, "f1": 0.9}, 1.5, stop, decision=dict(fates),
        evidence={c: 3.0 if fates[c] in ("relevant", "redundant") else 0.5 for c in kept},
        importance_mean={c: 0.1 for c in kept}, shared_mean={c: 0.2 for c in kept}, **fields)


def notes_of(result: PruningResult) -> str:
    (line,) = notes(result)
    return line


def result_of(rounds: list[PruningRound], kept: list[str], restored=()) -> PruningResult:
    """A result as the loop leaves it (no data or final model needed for the tables)."""
    names = list(rounds[0].kept)
    return PruningResult(config=SelectionSettings(), rounds=rounds, selected=kept,
                         stop_reason=rounds[-1].stop_reason, ranking=ranking_from_rounds(
                             names, rounds, kept), constant_columns=[], split=None, final=None,
                         restored=list(restored))


# round 1 rejects d; round 2 cannot drop the uncertain c: min_features is 3
FLOOR = result_of([
    _round(1, {"a": "relevant", "b": "redundant", "c": "uncertain", "d": "rejected"}, ["d"],
           rejected=["d"], stands_for={"b": ["a"]}, r2={"c": -0.3}),
    _round(2, {"a": "relevant", "b": "redundant", "c": "uncertain"}, [], "min_features",
           stands_for={"b": ["a"]}, spared=["c"], r2={"c": -0.25}),
], ["a", "b", "c"])


def text_rows(text: str, table: Table) -> list[list[str]]:
    """The cells of an aligned text table, cut at the columns' widths."""
    lines = text.splitlines()[: 1 + len(table.rows)]
    widths = [max(len(row[i]) for row in [table.columns, *table.rows])
              for i in range(len(table.columns))]
    starts = [sum(widths[:i]) + 2 * i for i in range(len(widths))]
    return [[line[s:s + w].strip() for s, w in zip(starts, widths, strict=True)] for line in lines]


def test_one_renderer_gives_the_same_rows_in_markdown_html_and_text():
    table = channel_table(FLOOR)
    expected = [table.columns, *table.rows]
    markdown = table.render("markdown").splitlines()
    assert markdown[1] == "|" + "---|" * len(table.columns)
    assert [line[2:-2].split(" | ") for line in [markdown[0], *markdown[2:2 + len(table.rows)]]] \
        == expected
    page = table.render("html")
    cells = [[html.unescape(c) for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", row)]
             for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page)]
    assert cells == expected
    assert text_rows(table.render("text"), table) == expected
    # the notes go under the table everywhere
    assert html.escape(table.notes[0]) in page
    assert table.render("markdown").endswith(table.notes[0])
    assert table.render("text").endswith(table.notes[0])


def test_a_stored_table_comes_back_as_it_was_and_a_ragged_one_is_refused():
    table = channel_table(FLOOR)
    assert Table.model_validate(table.model_dump()) == table
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        Table(columns=["a", "b"], rows=[["1"]])


def test_a_channel_kept_only_by_the_floor_is_not_shown_as_confirmed():
    assert FLOOR.unconfirmed == ["c"]
    assert kept_without_passing(FLOOR) == {"c": "dropping it would go under min_features"}
    table = channel_table(FLOOR)
    rows = {row[1]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert rows["c"]["decision"] == "uncertain; kept without passing: dropping it would go under min_features"
    assert rows["b"]["decision"] == "redundant (stands in for a)"
    assert table.classes[table.rows.index(next(r for r in table.rows if r[1] == "c"))] == \
        "kept unconfirmed"
    assert rows["d"]["status"] == "dropped" and rows["d"]["left in round"] == "1"


def test_a_kept_channel_with_a_negative_r2_gets_a_note_and_importance_is_in_nats():
    table = channel_table(FLOOR)
    rows = {row[1]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert rows["c"]["R²"] == f"-0.250 {NEGATIVE_R2}" and rows["a"]["R²"] == "0.500"
    assert rows["d"]["R²"] == "0.500"  # dropped channels need no note
    assert table.notes == [next(n for n in table.notes if n.startswith(NEGATIVE_R2))]
    assert "(c)" in table.notes[0]
    # the test's scale (signed square root, 0.1) back in the charts' nats per row
    assert float(rows["a"]["importance (nats per row)"]) == pytest.approx(0.01)


def test_the_round_table_says_what_each_round_trained_on_dropped_and_kept():
    table = round_table(FLOOR)
    assert table.columns == ["round", "trained on", "dropped", "kept", "val F1", "val acc",
                             "seconds", "stop"]
    assert table.rows == [["1", "4", "d (rejected)", "3", "0.900", "0.910", "1.5", ""],
                          ["2", "3", "—", "3", "0.900", "0.910", "1.5", "min_features"]]


def test_the_guard_brings_back_what_the_result_says_and_the_stop_note_names_it():
    first = _round(1, {"a": "relevant", "b": "relevant", "c": "uncertain", "d": "rejected"},
                   ["c", "d"], rejected=["d"])
    guard = {"mean_rise": 0.02, "compared_with": 1, "rows_worth": 6.0, "rows": 40, "t": 3.1,
             "p": 0.002, "fired": True}
    second = _round(2, {"a": "relevant", "b": "relevant"}, [], "accuracy_guard", guard=guard)
    result = result_of([first, second], ["a", "b", "c"], restored=["c"])
    assert result.unconfirmed == ["c"]
    assert kept_after(result) == [2, 3]
    assert kept_without_passing(result) == {"c": "brought back by the accuracy guard"}
    note = notes_of(result)
    assert note.startswith("Stopped after 2 rounds: the accuracy guard ended the loop in round 2")
    assert "so the 1 channel(s) round 1 dropped without confidence came back (c)." in note
    assert notes_of(FLOOR) == ("Stopped after 2 rounds: the floor of min_features channels was "
                                "reached.")


def test_one_round_is_one_round():
    single = result_of([_round(1, {"a": "relevant", "b": "relevant"}, [], "all_pass")], ["a", "b"])
    assert notes_of(single) == "Stopped after 1 round: every channel left passed."


def test_a_report_file_keeps_its_tables_typed():
    table = channel_table(FLOOR)
    report = ReportFile.model_validate_json(ReportFile(
        schema_version=1, created="x", data={"name": "d"}, rounds=[], stop_reason="all_pass",
        selected=["a"], tables={"channels": table}).model_dump_json())
    assert report.tables["channels"] == table
