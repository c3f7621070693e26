"""Re-submitting quarantined rows, without a database: row data back into frames, original windows."""

from datetime import UTC, datetime

import pytest

from stockula_pipelines.lib.ingest.resubmit import original_window, rows_to_frame
from stockula_pipelines.partitions import partition_window

WINDOW = (datetime(2024, 3, 8, 5, tzinfo=UTC), datetime(2024, 3, 9, 5, tzinfo=UTC))


def test_quarantined_row_data_round_trips_to_a_frame():
    frame = rows_to_frame("price_history", [{
        "time": "2024-03-08T05:00:00+00:00", "symbol": "AAPL", "interval": "1d", "date": "2024-03-08",
        "open_price": 10, "high_price": 11.5, "low_price": 9.5, "close_price": 11.0, "volume": 1000,
        "source": "synthetic",
    }])
    row = frame.row(0, named=True)
    assert row["time"] == WINDOW[0] and row["volume"] == 1000 and row["open_price"] == 10.0
    assert str(frame.schema["time"]) == "Datetime(time_unit='us', time_zone='UTC')"


@pytest.mark.parametrize("label", ["2024-07-05", "2024-11-29", "2024-07", "2025-07-07-10:30", "2024-11-29-12:30",
                                   "2024-07-01...2024-07-09", "2024-01...2024-03"])
def test_the_original_window_is_the_partitions_own(label: str):
    # resubmit() stays free of Dagster with a calendar-only window; it must be the partitions' window.
    first, _, last = label.partition("...")
    expected = (partition_window(first)[0], partition_window(last or first)[1])
    assert original_window(label) == expected
    assert original_window(label, partition_window) == expected


def test_an_unreadable_partition_key_validates_without_a_window():
    assert original_window(None) is None and original_window("") is None
    assert original_window("not-a-key") is None
