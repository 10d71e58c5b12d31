"""Dates and times of day in French, Spanish, Portuguese and Arabic: caught; month labels pass."""

from __future__ import annotations

import json

import pytest

from protection_eval.sharing.audit.dates import to_ascii_digits
from protection_eval.sharing.audit.folder import audit_shared_folder
from protection_eval.sharing.audit.rules import find_dates_and_times

CAUGHT = {
    "french": [
        ("12 mars 2024", "fine_date"),
        ("le 3/4 à 22h", "fine_date"),
        ("le 3/4 à 22h", "time_of_day"),
        ("1er avril", "fine_date"),
        ("samedi 12 juillet", "fine_date"),
        ("2 déc. 2023", "fine_date"),
        ("03 sept 2024", "fine_date"),
        ("vers 23 heures", "time_of_day"),
        ("signalé à 14h30", "time_of_day"),
        ("14 h 30", "time_of_day"),
        ("22h", "time_of_day"),
        ("à 9 h", "time_of_day"),
        ("10 heures du soir", "time_of_day"),
        ("du 12/04", "fine_date"),
    ],
    "spanish": [
        ("5 de abril de 2023", "fine_date"),
        ("15 de agosto", "fine_date"),
        ("1º de mayo", "fine_date"),
        ("marzo 12, 2024", "fine_date"),
        ("05-abr-2023", "fine_date"),
        ("a las 22:00", "time_of_day"),
        ("a las 10 de la noche", "time_of_day"),
        ("a la 1 de la madrugada", "time_of_day"),
        ("hacia las 23 horas", "time_of_day"),
        ("el 5/4", "fine_date"),
    ],
    "portuguese": [
        ("5 de abril de 2023", "fine_date"),
        ("12 de dezembro", "fine_date"),
        ("5 out. 2023", "fine_date"),
        ("5 out 2023", "fine_date"),
        ("às 14h30", "time_of_day"),
        ("às 22 horas", "time_of_day"),
        ("pelas 9h", "time_of_day"),
        ("10 da noite", "time_of_day"),
        ("o dia 5/4", "fine_date"),
    ],
    "arabic": [
        ("١٢ آذار ٢٠٢٤", "fine_date"),
        ("12 آذار 2024", "fine_date"),
        ("في 12 كانون الثاني 2024", "fine_date"),
        ("3 شباط", "fine_date"),
        ("٣ مارس", "fine_date"),
        ("٥ أبريل ٢٠٢٣", "fine_date"),
        ("15 يوليوز", "fine_date"),
        ("7 جانفي 2024", "fine_date"),
        ("۱۲ آذار ۱۴۰۲", "fine_date"),
        ("٢٠٢٤-٠٣-١٢", "fine_date"),
        ("١٢/٠٣/٢٠٢٤", "fine_date"),
        ("٢٢:٣٠", "time_of_day"),
        ("١٠ مساءً", "time_of_day"),
        ("9 صباحًا", "time_of_day"),
        ("10:30 م", "time_of_day"),
        ("الساعة 10", "time_of_day"),
        ("الساعة العاشرة", "time_of_day"),
        ("وقع الحادث مساءً", "time_of_day"),
    ],
}

PASSING = {
    "french": ["mars 2024", "janv. 2024", "décembre 2023", "Rapports en mars 2024",
               "dans 12 zones en mars 2024", "fenêtre de 72 h", "dans un rayon de 6 h",
               "24h/24", "Incidents 34, mars 2024", "3/4 des patrouilles"],
    "spanish": ["marzo de 2024", "abril de 2023", "ene. 2024", "a las 10 zonas",
                "2022-01 a 2023-12"],
    "portuguese": ["dezembro de 2023", "setembro 2023", "set 2023", "5 out of 10 areas",
                   "as 10 areas", "abril de 2023"],
    "arabic": ["آذار 2024", "آذار ٢٠٢٤", "كانون الثاني 2024", "مارس ٢٠٢٤", "أيار ۲۰۲۳",
               "على مدار الساعة", "خلال 72 ساعة", "نصف قطر 20 م", "دوريات المساء"],
}


@pytest.mark.parametrize(
    ("language", "text", "kind"),
    [(lang, text, kind) for lang, cases in CAUGHT.items() for text, kind in cases],
)
def test_a_date_or_time_of_day_is_caught(language, text, kind):
    found = find_dates_and_times(text)
    assert kind in {k for k, _ in found}, (language, text, found)
    # Values are reported as written (Arabic-Indic digits kept), and are parts of the text.
    assert all(value in text for _, value in found)


@pytest.mark.parametrize(
    ("language", "text"), [(lang, text) for lang, texts in PASSING.items() for text in texts]
)
def test_a_month_label_or_an_ordinary_phrase_passes(language, text):
    assert find_dates_and_times(text) == [], (language, text)


@pytest.mark.parametrize("locale", ["fr", "es", "pt", "ar", "ar_SY", "ar_IQ", "ar_EG", "ar_MA",
                                    "ar_DZ", "fr_CD", "pt_MZ", "es_CO"])
def test_babel_month_labels_pass_and_babel_full_dates_are_caught(locale):
    babel_dates = pytest.importorskip("babel.dates", reason="babel is not installed")
    import datetime as dt

    for month in range(1, 13):
        day = dt.date(2024, month, 12)
        label = babel_dates.format_skeleton("yMMMM", day, locale=locale)
        assert find_dates_and_times(label) == [], (locale, label)
        short = babel_dates.format_skeleton("yMMM", day, locale=locale)
        assert find_dates_and_times(short) == [], (locale, short)
        full = babel_dates.format_date(day, "long", locale=locale)
        assert "fine_date" in {k for k, _ in find_dates_and_times(full)}, (locale, full)


def test_digits_are_mapped_one_for_one():
    assert to_ascii_digits("٠١٢٣٤٥٦٧٨٩ ۰۱۲۳۴۵۶۷۸۹") == "0123456789 0123456789"


def test_a_shared_folder_in_french_and_arabic_is_audited_for_dates(tmp_path):
    (tmp_path / "brief.html").write_text(
        "<html><body><h1>Note</h1><p>Patrouille signalée le 3/4 à 22h.</p>"
        "<p>Rapports de mars 2024</p></body></html>", encoding="utf-8")
    (tmp_path / "areas.json").write_text(
        json.dumps({"الشهر": "آذار ٢٠٢٤", "ملاحظة": "١٢ آذار ٢٠٢٤ ١٠ مساءً"},
                   ensure_ascii=False), encoding="utf-8")
    result = audit_shared_folder(tmp_path)
    found = {(f.file, f.kind, f.what) for f in result.findings}
    assert found == {
        ("brief.html", "fine_date", "le 3/4"),
        ("brief.html", "time_of_day", "22h"),
        ("brief.html", "time_of_day", "à 22h"),
        ("areas.json", "fine_date", "١٢ آذار"),
        ("areas.json", "time_of_day", "١٠ مساءً"),
    }


def test_month_labels_in_every_language_pass_the_folder_audit(tmp_path):
    labels = [text for texts in PASSING.values() for text in texts if "ساعة" not in text]
    rows = "".join(f"<li>{text}</li>\n" for text in labels)
    (tmp_path / "brief.html").write_text(f"<html><body><ul>\n{rows}</ul></body></html>",
                                         encoding="utf-8")
    result = audit_shared_folder(tmp_path)
    assert not [f for f in result.findings if f.kind in {"fine_date", "time_of_day"}], \
        result.summary()
