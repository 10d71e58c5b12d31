"""The languages of shared pages: gettext catalogues, and numbers, shares and months per locale.

Every sentence a commander reads in the brief (and in its map legend and caveats) is an English
message looked up in a gettext catalogue, ``sharing/locale/<language>/LC_MESSAGES/
protection_eval.po``. The catalogues are compiled when first used, with Babel, so a translator
adds a language by adding one ``.po`` file (copy ``locale/protection_eval.pot``, translate each
``msgstr``) and nothing else: :func:`protection_eval.config.available_languages` finds it, and a
message without a translation falls back to English rather than to nothing. Numbers, percentages
and month names come from Babel's locale data (CLDR), and the writing direction too, so Arabic
pages are right-to-left.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext
import io
import math
from dataclasses import dataclass

from babel import Locale
from babel.dates import format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

from protection_eval import config

__all__ = ["DOMAIN", "Language", "get_language"]

#: The gettext domain (file name of every catalogue).
DOMAIN = "protection_eval"


@dataclass(frozen=True)
class Language:
    """One language of the shared pages: its messages and its ways of writing numbers.

    Attributes
    ----------
    code : str
        ``en``, ``fr``, ``ar``, ``es``, ``pt`` or any language with a catalogue.
    translations : gettext.NullTranslations
        The compiled catalogue (English messages pass through unchanged).
    locale : babel.Locale
        Babel's locale data for numbers, percentages, months and direction.
    """

    code: str
    translations: gettext.NullTranslations
    locale: Locale

    @property
    def direction(self) -> str:
        """``"rtl"`` for right-to-left scripts (Arabic), else ``"ltr"``."""
        return "rtl" if self.locale.character_order == "right-to-left" else "ltr"

    def gettext(self, message: str) -> str:
        """Return ``message`` in this language (English when the catalogue lacks it)."""
        return self.translations.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        """Return ``message`` of ``context`` (``msgctxt``) in this language, else English.

        The interactive map's words are messages of the context ``map``
        (:mod:`protection_eval.sharing.map_text`), kept apart from the brief's sentences so that
        each can change without touching the other's translations.
        """
        return self.translations.pgettext(context, message)

    def number(self, value: float, *, decimals: int = 0) -> str:
        """Write a number the way this language does (``1 234`` in French)."""
        return format_decimal(round(float(value), decimals), locale=self.locale,
                              format=None if decimals else "#,##0")

    def percent(self, share: float) -> str:
        """Write a share (0.38) as a whole percentage (``38 %`` in French)."""
        if share is None or not math.isfinite(float(share)):
            return ""
        return format_percent(round(float(share), 2), locale=self.locale)

    def month(self, label: str) -> str:
        """Write a ``YYYY-MM`` month as its name and year (``janvier 2023``)."""
        year, month = (int(part) for part in str(label).split("-")[:2])
        return format_skeleton("yMMMM", dt.date(year, month, 1), locale=self.locale)


def _compile(code: str) -> gettext.NullTranslations:
    """Compile a ``.po`` catalogue in memory (fuzzy entries are left out, as gettext does)."""
    path = config.LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=code, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@functools.cache
def get_language(code: str = "en") -> Language:
    """Return a language of the shared pages.

    Parameters
    ----------
    code : str
        A language code from the mission's ``sharing.language``.

    Returns
    -------
    Language
        Messages, number formats and direction.

    Raises
    ------
    ValueError
        When no catalogue exists for ``code`` (the message lists those that do).
    """
    available = config.available_languages()
    if code not in available:
        raise ValueError(
            f"no catalogue for language {code!r}; available: {', '.join(available)} (add "
            f"sharing/locale/{code}/LC_MESSAGES/{DOMAIN}.po to add it)"
        )
    return Language(code, _compile(code), Locale.parse(code))
