"""The optional reporting columns of incidents: report date, place type, survivor group, channel,
and the cross-source matches kept for capture-recapture."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from protection_eval.runs.missions import load_mission

HEADER = "incident_id,Date,Reported,longitude,latitude,Type of SV,source,Place,Group,Age\n"
ROWS = [
    # accepted: reported two days later, at a water point, a girl, through the mission
    "R1,2022-03-05T10:00:00,2022-03-07,30.05,5.05,Viol,hr,Water Point,Girl,14",
    # accepted: reported the same day (date-only report on the incident's day)
    "R2,2022-04-01T18:00:00,2022-04-01,30.15,5.05,Viol,ngo,Home,Woman,30",
    # quarantined: reported the day before it occurred
    "R3,2022-05-10T09:00:00,2022-05-09,30.05,5.06,Viol,hr,Home,Woman,22",
    # quarantined: a place type neither the model nor the configuration knows
    "R4,2022-05-11T09:00:00,2022-05-12,30.05,5.07,Viol,hr,Cattle camp,Woman,22",
    # quarantined: a survivor group outside the coarse vocabulary
    "R5,2022-05-12T09:00:00,2022-05-13,30.05,5.08,Viol,hr,Home,Teenager,16",
    # R1 again from two other sources: quarantined as likely duplicates, kept as matches
    "R6,2022-03-05T10:00:00,2022-03-09,30.05,5.05,Viol,ngo,Water Point,Girl,14",
    "R7,2022-03-05T10:00:00,2022-03-20,30.05,5.05,Viol,police,Water Point,Girl,14",
    # accepted: no report date, no place type, no group (the columns are optional per row)
    "R8,2022-06-01T10:00:00,,30.06,5.05,Viol,clinic,,,",
    # quarantined: a report date in the future
    "R9,2022-06-02T10:00:00,2099-01-01,30.06,5.06,Viol,hr,Home,Woman,40",
]


@pytest.fixture
def reporting_mission(bad_mission):
    folder = bad_mission.parent
    (folder / "reporting.csv").write_text(HEADER + "\n".join(ROWS) + "\n", encoding="utf-8")
    config = yaml.safe_load(bad_mission.read_text())
    config["sources"]["incidents"] = {
        "path": "reporting.csv",
        "columns": {"Type of SV": "gbv_type", "Date": "occurred_at", "Reported": "reported_at",
                    "Place": "location_type", "Group": "survivor_group"},
        "labels": {"gbv_type": {"Viol": "rape"},
                   "location_type": {"Water Point": "water_point", "Home": "home"},
                   "survivor_group": {"Girl": "girl", "Woman": "woman"}},
        "channels": {"hr": "mission", "police": "partner", "ngo": "partner"},
    }
    bad_mission.write_text(yaml.safe_dump(config, allow_unicode=True))
    return load_mission(bad_mission)


def test_reporting_columns_are_mapped_and_bad_values_quarantined(reporting_mission):
    inc = reporting_mission.incidents.set_index("incident_id")
    assert sorted(inc.index) == ["R1", "R2", "R8"]
    assert inc.loc["R1", "location_type"] == "water_point"
    assert inc.loc["R1", "survivor_group"] == "girl"
    assert inc.loc["R2", "location_type"] == "home"
    assert str(inc.loc["R1", "reported_at"].date()) == "2022-03-06"  # local midnight in UTC
    assert pd.isna(inc.loc["R8", "reported_at"])
    report = reporting_mission.validation.tables["incidents"]
    assert report.reasons == {"reported_before_occurred": 1, "label_unmapped": 2,
                              "likely_duplicate": 2, "date_in_future": 1}
    assert report.rows_read == report.rows_accepted + report.rows_rejected == 9
    rejected = reporting_mission.validation.rejected["incidents"].set_index("incident_id")
    assert rejected.loc["R3", "reason"] == "reported_before_occurred"
    assert "is before occurred_at" in rejected.loc["R3", "detail"]
    assert rejected.loc["R4", "column"] == "location_type"
    assert rejected.loc["R5", "column"] == "survivor_group"
    assert rejected.loc["R9", "column"] == "reported_at"


def test_channel_comes_from_the_configuration_and_unlisted_sources_are_named(reporting_mission):
    inc = reporting_mission.incidents.set_index("incident_id")
    assert inc.loc["R1", "channel"] == "mission"
    assert inc.loc["R2", "channel"] == "partner"
    assert inc["channel"].isna()["R8"]  # "clinic" has no channel in the configuration
    notes = reporting_mission.validation.tables["incidents"].notes
    assert any("['clinic'] have no channel" in n for n in notes)


def test_cross_source_matches_are_kept_on_the_first_report(reporting_mission):
    inc = reporting_mission.incidents.set_index("incident_id")
    # The two repeats left the table; the first report says who else had it.
    assert inc.loc["R1", "matched_sources"] == "ngo; police"
    assert inc["matched_sources"].isna()[["R2", "R8"]].all()


def test_ages_never_enter_the_table(reporting_mission):
    assert "Age" not in reporting_mission.incidents.columns
    assert "Age" in reporting_mission.validation.tables["incidents"].dropped_columns


def test_channels_belong_to_incidents_and_name_mission_or_partner(bad_mission):
    from protection_eval.config import ConfigError, load_mission_config

    config = yaml.safe_load(bad_mission.read_text())
    config["sources"]["patrols"]["channels"] = {"hr": "mission"}
    bad_mission.write_text(yaml.safe_dump(config, allow_unicode=True))
    with pytest.raises(ConfigError, match="only incidents have reporting channels"):
        load_mission_config(bad_mission)
    del config["sources"]["patrols"]["channels"]
    config["sources"]["incidents"]["channels"] = {"hr": "ngo"}
    bad_mission.write_text(yaml.safe_dump(config, allow_unicode=True))
    with pytest.raises(ConfigError, match="mission"):
        load_mission_config(bad_mission)
