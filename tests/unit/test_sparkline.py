"""The text plots of asset metadata."""

from stockula_pipelines.lib.sparkline import BLOCKS, MAX_POINTS, markdown_table, sparkline


def test_sparkline_scales_between_min_and_max_and_keeps_gaps():
    assert sparkline([1, 2, 3, None, 8]) == "▁▂▃ █"
    assert sparkline([5, 5, 5]) == BLOCKS[0] * 3
    assert sparkline([]) == "" and sparkline([None, float("nan")]) == ""


def test_long_series_are_thinned_to_the_width_keeping_the_last_point():
    line = sparkline(list(range(1000)))
    assert len(line) == MAX_POINTS and line[0] == BLOCKS[0] and line[-1] == BLOCKS[-1]


def test_markdown_table_shows_each_series_first_to_last():
    table = markdown_table(("symbol", "close"), [("AAA", [10.0, 12.5, 11.0])])
    assert table.splitlines()[:2] == ["| symbol | close |", "|---|---|"]
    assert table.splitlines()[2] == "| AAA | `▁█▄` 10 → 11 |"
