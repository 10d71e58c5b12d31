import pandas as pd
import pytest

from protection_eval.ingest.parsing import parse_numbers, parse_times
from protection_eval.labels import LabelMapper, normalise_text


def times(*cells, fmt=None, tz="Africa/Juba"):
    return parse_times(pd.Series(cells), timezone=tz, date_format=fmt)


def test_naive_time_is_mission_local_and_stored_in_utc():
    parsed = times("2022-03-05T10:00:00")
    assert parsed.values[0] == pd.Timestamp("2022-03-05T08:00:00Z")  # Juba is UTC+2
    assert parsed.precision[0] == "time"


def test_offset_time_keeps_its_offset():
    assert times("2022-03-05T10:00:00+00:00").values[0] == pd.Timestamp("2022-03-05T10:00Z")


def test_date_only_keeps_day_precision_at_local_midnight():
    parsed = times("2022-03-05")
    assert parsed.precision[0] == "day"
    assert parsed.values[0] == pd.Timestamp("2022-03-04T22:00Z")


def test_day_month_ambiguity_is_quarantined_not_guessed():
    parsed = times("03/09/2021")
    assert pd.isna(parsed.values[0])
    assert parsed.reason[0] == "date_ambiguous"
    assert "date_format" in parsed.detail[0]


def test_declared_format_reads_day_first_and_two_digit_years():
    parsed = times("03/09/21", fmt="%d/%m/%y")
    assert parsed.values[0] == pd.Timestamp("2021-09-02T22:00Z")


def test_declared_format_still_accepts_iso_in_a_mixed_column():
    parsed = times("03/09/2021", "2021-09-04", fmt="%d/%m/%Y")
    assert list(parsed.reason.isna()) == [True, True]


def test_excel_serial_needs_declaring():
    assert times("44562").reason[0] == "date_unparseable"
    assert "Excel" in times("44562").detail[0]
    assert times("44562", fmt="excel").values[0] == pd.Timestamp("2021-12-31T22:00Z")


@pytest.mark.parametrize("cell", ["2022-02-30", "yesterday", "2022-13-01T10:00"])
def test_impossible_dates_are_unparseable(cell):
    assert times(cell).reason[0] == "date_unparseable"


def test_decimal_comma_needs_declaring():
    parsed = parse_numbers(pd.Series(["4,85", "4.85", ""]))
    assert pd.isna(parsed.values[0]) and "decimal comma" in parsed.detail[0]
    assert parsed.reason[0] == "invalid_number"
    assert parsed.values[1] == 4.85 and pd.isna(parsed.values[2]) and pd.isna(parsed.detail[2])
    parsed = parse_numbers(pd.Series(["4,85", "1.234,5"]), decimal=",")
    assert list(parsed.values) == [4.85, 1234.5]


def test_multi_valued_cell_takes_the_most_severe_type():
    mapper = LabelMapper("gbv_type", {"Viol": "rape"}, multi_valued=True)
    assert mapper.map("psychological_abuse, Viol").label == "rape"
    assert mapper.map("Physical_Assault; forced_marriage").label == "physical_assault"


def test_unmapped_part_of_a_multi_valued_cell_is_never_guessed():
    mapper = LabelMapper("gbv_type", {"Viol": "rape"}, multi_valued=True)
    outcome = mapper.map("ForcedToWitnessSexualViolence, Viol")
    assert outcome.label is None
    assert outcome.unmapped == ("ForcedToWitnessSexualViolence",)


def test_nfd_and_bom_text_is_normalised_to_nfc():
    assert normalise_text("\ufeffBe\u0301linyang ") == "B\u00e9linyang"
