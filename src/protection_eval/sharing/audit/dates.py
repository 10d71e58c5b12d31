"""Dates and times of day written in French, Spanish, Portuguese and Arabic.

The missions where the audit is used work in these languages, and a shared brief, a map label
or a hand-made table can carry ``12 mars 2024``, ``le 3/4 à 22h``, ``5 de abril de 2023``,
``às 14h30``, ``a las 22:00``, ``١٢ آذار ٢٠٢٤`` or ``١٠ مساءً``. Each is a day-level date
(``fine_date``) or a time of day (``time_of_day``), which shared outputs never carry
(DOMAIN.md rule 1).

Months are the unit of shared time, so a month name alone passes: ``mars 2024``,
``abril de 2023``, ``آذار 2024``, ``janv. 2024`` are month labels. What makes a date is a day of
the month next to a month (``12 mars``, with or without the year) or a day and month in figures
introduced as a date (``le 3/4``); what makes a time is an hour with minutes (``14h30``), an
hour after a word that introduces a time (``à 22h``, ``a las 10 de la noche``, ``às 22 horas``,
``الساعة 10``), or an hour followed by a part of the day (``10 مساءً``).

Arabic-Indic (``٠``-``٩``) and Persian (``۰``-``۹``) digits are read as the digits they are:
:func:`to_ascii_digits` maps them one to one, so that every numeric rule of
:func:`protection_eval.sharing.audit.rules.find_dates_and_times` applies to them too, and the
values reported are the text as written.

Not detected (see ``docs/privacy.md``): days written in words (``le douze mars``,
``الثاني عشر من آذار``), weekdays alone, the Persian (Solar Hijri) and Hijri calendars'
month names, and parts of the day in French, Spanish or Portuguese without an hour (``le soir``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "find_localised_dates_and_times",
    "has_non_ascii_digits",
    "to_ascii_digits",
]

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def to_ascii_digits(text: str) -> str:
    """Return ``text`` with Arabic-Indic and Persian digits as ASCII digits, one for one.

    The result has the same length as ``text``, so a match in it is the same span of ``text``.
    """
    return text.translate(_DIGITS)


def has_non_ascii_digits(text: str) -> bool:
    """Whether ``text`` holds an Arabic-Indic or Persian digit."""
    return to_ascii_digits(text) != text


# -- month names ------------------------------------------------------------------------------

# Full names and usual abbreviations. An abbreviation without its dot that is also a common
# word elsewhere (Portuguese "out", "set", Spanish "mar") is only a month with a year after it.
_FRENCH_MONTHS = (
    r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|"
    r"d[ée]cembre|janv\.|f[ée]vr?\.|avr\.|juil\.|sept\.|oct\.|nov\.|d[ée]c\."
)
_SPANISH_MONTHS = (
    r"enero|febrero|marzo|abril|mayo|junio|julio|agosto|se?ptiembre|octubre|noviembre|"
    r"diciembre|ene\.|feb\.|abr\.|ago\.|sept?\.|dic\."
)
_PORTUGUESE_MONTHS = (
    r"janeiro|fevereiro|mar[çc]o|abril|maio|junho|julho|agosto|setembro|outubro|novembro|"
    r"dezembro|fev\.|abr\.|ago\.|set\.|out\.|dez\."
)
# Short forms that stand for a month only when a year follows them.
_SHORT_MONTHS = (
    r"jan|janv|f[ée]v|fevr?|feb|mar|avr|abr|mai|juil|ago|ao[uû]|sept?|out|dic|d[ée][cz]|ene"
)
_LATIN_MONTHS = f"(?:{_FRENCH_MONTHS}|{_SPANISH_MONTHS}|{_PORTUGUESE_MONTHS})"

# Levantine and Iraqi (Syriac) names, Egyptian and Gulf names, Maghreb names (Morocco, Algeria,
# Tunisia): every spelling in use in the missions' countries.
_ARABIC_MONTHS = "|".join(
    sorted(
        (
            "كانون الثاني|كانون الأول|كانون الاول|شباط|آذار|اذار|أذار|نيسان|أيار|ايار|حزيران|"
            "تموز|آب|اب|أيلول|ايلول|تشرين الأول|تشرين الاول|تشرين الثاني|"
            "يناير|فبراير|مارس|أبريل|ابريل|إبريل|مايو|يونيو|يونيه|يوليو|يوليه|أغسطس|اغسطس|"
            "سبتمبر|أكتوبر|اكتوبر|نوفمبر|ديسمبر|"
            "ماي|يوليوز|غشت|شتنبر|نونبر|دجنبر|جانفي|فيفري|أفريل|افريل|جوان|جويلية|أوت|اوت"
        ).split("|"),
        key=len,
        reverse=True,
    )
)

_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_HOUR = r"(?:[01]?\d|2[0-3])"
_YEAR = r"(?:19|20)\d{2}"
# One space (or a no-break space) only: two cells of a table, stripped of their tags, are
# separated by two spaces or a line break, and a count beside a month label is not a date.
_SP = r"[ \u00a0\u202f]"
# Letters of the Arabic script, for word edges that \b does not give for them.
_AR = r"\u0600-\u06ff\u0750-\u077f"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # 12 mars 2024, 1er avril, 5 de abril de 2023, 1º de maio, 12 mars (no year: still a day).
    (
        "fine_date",
        re.compile(
            rf"(?<![\w.,/-]){_DAY}(?:er|e|º|ª|o|\.º)?{_SP}(?:de{_SP})?{_LATIN_MONTHS}"
            rf"(?![\w])(?:,?{_SP}(?:de{_SP})?{_YEAR})?",
            re.IGNORECASE,
        ),
    ),
    # 05-abr-2023, 5 out 2023, 3 sept 2024: a short month name with a year after it.
    (
        "fine_date",
        re.compile(
            rf"(?<![\w.,/-]){_DAY}[{_SP[1:-1]}\-/.](?:{_SHORT_MONTHS})\.?[{_SP[1:-1]}\-/.]{_YEAR}"
            r"(?!\d)",
            re.IGNORECASE,
        ),
    ),
    # 5-abr-23, 05/out/23, 3.sept.24: a short month name between a day and a two-digit year,
    # with the same separator on both sides.
    (
        "fine_date",
        re.compile(
            rf"(?<![\w.,/-]){_DAY}([\-/.])(?:{_SHORT_MONTHS}|{_LATIN_MONTHS})\.?\1\d{{2}}"
            r"(?![\d/.\-]*\d)",
            re.IGNORECASE,
        ),
    ),
    # abril 5 de 2023, marzo 12, 2024 (month first, day next, year required).
    (
        "fine_date",
        re.compile(
            rf"(?<![\w]){_LATIN_MONTHS}{_SP}{_DAY}(?:,|{_SP}de)?{_SP}{_YEAR}(?!\d)",
            re.IGNORECASE,
        ),
    ),
    # le 3/4, el 5/4, o dia 5/4, du 3.4, au 12-04: a day and month in figures, without a year.
    (
        "fine_date",
        re.compile(
            rf"(?<![\w])(?:le|el|du|au|del|dès|depuis|(?:(?:o|no|desde{_SP}o){_SP})?dia){_SP}"
            rf"{_DAY}[/.\-](?:0?[1-9]|1[0-2])(?![\d/.\-]*\d)",
            re.IGNORECASE,
        ),
    ),
    # ١٢ آذار ٢٠٢٤, 3 مارس, في 12 كانون الثاني.
    (
        "fine_date",
        re.compile(rf"(?<![\d.,/-]){_DAY}{_SP}?(?:{_ARABIC_MONTHS})(?![{_AR}])"),
    ),
    # 14h30, 14 h 30, 9h05: an hour with its minutes, French, Portuguese and Spanish style.
    (
        "time_of_day",
        re.compile(rf"(?<![\w.,:]){_HOUR}{_SP}?h{_SP}?[0-5]\d(?![\d:])(?:min\b)?", re.IGNORECASE),
    ),
    # 22h, 13h: an afternoon or evening hour written as a clock time (6h may be a duration).
    ("time_of_day", re.compile(r"(?<![\w.,:])(?:1[3-9]|2[0-3])h(?![\w:])", re.IGNORECASE)),
    # à 22h, vers 10 heures, às 22 horas, pelas 9h, hacia las 23 hrs, a partir das 18h.
    (
        "time_of_day",
        re.compile(
            rf"(?<![\w])(?:à|às|vers|dès|hacia{_SP}las|a{_SP}las|a{_SP}la|pelas|"
            rf"por{_SP}volta{_SP}das|a{_SP}partir{_SP}d[aeo]s?|desde{_SP}las|"
            rf"depuis|jusqu'à|hasta{_SP}las|até{_SP}[àa]s){_SP}{_HOUR}{_SP}?"
            r"(?:h(?![a-z])|heures?|horas?|hrs?\b|hs\b)",
            re.IGNORECASE,
        ),
    ),
    # a las 10, a la 1 de la madrugada, às 9: Spanish and Portuguese hours need no unit.
    (
        "time_of_day",
        re.compile(
            rf"(?<![\w])(?:a{_SP}las|a{_SP}la|hacia{_SP}las|às|pelas){_SP}{_HOUR}"
            rf"(?=\s*(?:[,.;:)!?]|$|de{_SP}la{_SP}(?:mañana|tarde|noche|madrugada)|"
            rf"da{_SP}(?:manhã|tarde|noite|madrugada)|en{_SP}punto|em{_SP}ponto))",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
    # 10 du soir, 10 de la noche, 10 da manhã: an hour with a part of the day after it.
    (
        "time_of_day",
        re.compile(
            rf"(?<![\w.,:]){_HOUR}{_SP}?(?:h|heures?|horas?)?{_SP}"
            rf"(?:du{_SP}(?:matin|soir)|de{_SP}l'apr[èe]s-midi|de{_SP}la{_SP}"
            rf"(?:mañana|tarde|noche|madrugada)|da{_SP}(?:manhã|tarde|noite|madrugada))",
            re.IGNORECASE,
        ),
    ),
    # الساعة 10, الساعة العاشرة: "the hour" followed by a figure or an hour in words.
    (
        "time_of_day",
        re.compile(
            rf"(?<![{_AR}])(?:ال|بال|في{_SP}ال)?ساعة{_SP}(?:\d{{1,2}}(?::[0-5]\d)?|"
            r"الواحدة|الثانية|الثالثة|الرابعة|الخامسة|السادسة|السابعة|الثامنة|التاسعة|"
            r"العاشرة|الحادية عشرة|الثانية عشرة)(?![\d])"
        ),
    ),
    # ١٠ مساءً, 9 صباحًا, 10:30 م: an hour with morning or evening after it ("م" and "ص"
    # alone only after minutes: "20 م" is twenty metres).
    (
        "time_of_day",
        re.compile(
            rf"(?<![\d.,:]){_HOUR}(?:(?::[0-5]\d)?{_SP}?(?:مساءً|مساءا|مساء|صباحًا|صباحاً|"
            rf"صباحا|صباح|ظهرًا|ظهرا|ليلًا|ليلا)|:[0-5]\d{_SP}?[صم])(?![{_AR}])"
        ),
    ),
    # مساءً, صباحًا written alone: "in the evening", "in the morning" as when something happened.
    ("time_of_day", re.compile(rf"(?<![{_AR}])(?:مساءً|مساءا|صباحًا|صباحاً|صباحا)(?![{_AR}])")),
]


def _localised(text: str) -> list[tuple[str, str]]:
    ascii_text = to_ascii_digits(text)
    found: list[tuple[str, str]] = []
    covered: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(ascii_text):
            start, end = match.span()
            # A shorter rule's match inside a longer one of the same text says nothing new.
            if any(s <= start and end <= e for s, e in covered):
                continue
            covered.append((start, end))
            found.append((kind, text[start:end]))
    return found


def find_localised_dates_and_times(
    text: str, numeric: Callable[[str], list[tuple[str, str]]] | None = None
) -> list[tuple[str, str]]:
    """Find French, Spanish, Portuguese and Arabic dates and times of day in ``text``.

    Parameters
    ----------
    text : str
        Any visible or data text.
    numeric : callable, optional
        The language-neutral finder (``2024-03-12``, ``12/03/2024``, ``22:00``). When ``text``
        holds Arabic-Indic or Persian digits, it is also run on the text with ASCII digits, so
        ``١٢/٠٣/٢٠٢٤`` and ``٢٢:٠٠`` are caught; its values are given back as written.

    Returns
    -------
    list of (str, str)
        ``("fine_date" | "time_of_day", value as written)``.
    """
    found = _localised(text)
    ascii_text = to_ascii_digits(text)
    if numeric is not None and ascii_text != text:
        for kind, value in numeric(ascii_text):
            start = ascii_text.find(value)
            written = text[start : start + len(value)] if start >= 0 else value
            if (kind, written) not in found:
                found.append((kind, written))
    return found
