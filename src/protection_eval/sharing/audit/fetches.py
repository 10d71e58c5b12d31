r"""What a page would fetch when opened, read from its source the way Chromium parses URLs.

:func:`protection_eval.sharing.offline.find_external_requests` finds the usual forms
(``src="https://..."``, CSS ``url(https://...)``). A hand-made page can write the same request
in forms a browser still follows: ``http:host/x`` and ``http:\\host`` (a special scheme needs
no slashes, and a backslash is a slash), a tab or a line break inside the scheme (the URL parser
drops them), CSS escapes (``url(\68 ttp://...)``), ``@import`` in any form, a meta refresh,
``<base href>``, SVG's ``<image href>`` and ``<use href>``. :func:`find_page_fetches` reads
them. It is a static check beside the real one, the page opened in Chromium with the network
cut (:mod:`protection_eval.sharing.audit.browser`), which also sees URLs a script builds.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["find_page_fetches", "leaves_the_file"]

# Schemes the URL standard calls special: no slashes needed, a backslash is a slash.
_NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")
_SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):", re.IGNORECASE)
_STRIPPED = re.compile(r"[\t\n\r]")
# Attributes that fetch on opening, by tag ("*" for any tag).
_FETCHING = {
    "src": "*", "srcset": "*", "data": "object", "poster": "video", "background": "*",
    "manifest": "html", "href": ("link", "image", "use", "feimage", "base", "script"),
    "xlink:href": ("image", "use", "feimage", "script"), "imagesrcset": "link",
}
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})[ \t\n\r\f]?|\\(.)", re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(["']?)(.*?)\1\s*\)""", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"""@import\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_CSS_IMAGE_SET = re.compile(r"""image-set\(\s*(["'])(.*?)\1""", re.IGNORECASE | re.DOTALL)
_REFRESH = re.compile(r"""^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(["']?)(.*?)\1\s*$""",
                      re.IGNORECASE | re.DOTALL)


def leaves_the_file(url: str) -> bool:
    r"""Whether a URL, as Chromium parses it, points to a server rather than to the file.

    Network schemes with any slashes or none (``http:host/x``, ``http:\\host``), a scheme
    split by a tab or a line break, and scheme-relative URLs (``//host/x``, which from a file
    is a network share) leave; ``data:``, ``blob:``, ``about:``, ``javascript:``, ``#...``,
    relative paths and ``file:`` URLs without a host stay.
    """
    value = _STRIPPED.sub("", url).strip(" \f\v\x00")
    if value[:2] in ("//", "\\\\", "/\\", "\\/"):
        return True
    scheme = _SCHEME.match(value)
    if scheme is None:
        return False
    name = scheme.group(1).lower()
    if name in _NETWORK_SCHEMES:
        return True
    if name == "file":
        rest = value[scheme.end():].replace("\\", "/")
        return rest.startswith("//") and not rest.startswith("///") and len(rest) > 2
    return False


def _css_unescape(css: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code < 0x110000 else "\ufffd"
        return "" if match.group(2) == "\n" else match.group(2)

    return _CSS_ESCAPE.sub(one, css)


def _css_fetches(css: str) -> list[str]:
    text = _css_unescape(_CSS_COMMENT.sub("", css))
    found = [m.group(2) for m in _CSS_URL.finditer(text)]
    found += [m.group(2) for m in _CSS_IMPORT.finditer(text)]
    found += [m.group(2) for m in _CSS_IMAGE_SET.finditer(text)]
    return found


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): value or "" for name, value in attrs}
        for name, value in values.items():
            tags = _FETCHING.get(name)
            if tags is not None and (tags == "*" or tag in tags):
                parts = value.split(",") if "srcset" in name else [value]
                self.urls += [p.strip().split(" ")[0] if "srcset" in name else p for p in parts]
            elif name == "style":
                self.urls += _css_fetches(value)
        if tag == "meta" and values.get("http-equiv", "").strip().lower() == "refresh":
            match = _REFRESH.match(values.get("content", ""))
            if match:
                self.urls.append(match.group(2))
        self._style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._style = False

    def handle_endtag(self, tag: str) -> None:
        self._style = False

    def handle_data(self, data: str) -> None:
        if self._style:
            self.urls += _css_fetches(data)


def find_page_fetches(page: str) -> list[str]:
    """Return the URLs a page (HTML or SVG) fetches on opening that leave the file.

    Parameters
    ----------
    page : str
        The page's source.

    Returns
    -------
    list of str
        Each URL as written (escapes of CSS decoded), once, in order.
    """
    parser = _Fetches()
    parser.feed(page)
    parser.close()
    out: list[str] = []
    for url in parser.urls:
        if leaves_the_file(url) and url not in out:
            out.append(url)
    return out
