"""Turn generated HTML into one self-contained file that makes no third-party request.

Shared outputs are opened by commanders on poor links or none, and survivor-safety rule 4 says a
shared page asks no third-party server for anything when it is opened. folium, branca and nbconvert
all write pages that load JavaScript and CSS from CDNs. This module swaps every such reference for
the pinned copy vendored under ``protection_eval/sharing/assets`` (inlined as ``<script>`` or
``<style>``, with CSS images as ``data:`` URIs) and refuses, with an :class:`OfflineError` naming
each URL, to return a page in which any external fetch remains. The only exceptions are URLs the
caller names explicitly: the tile server a mission configures.

What counts as a fetch: ``src``/``srcset``/``data``/``poster``/``background``/``action`` and
non-anchor ``href`` attributes, CSS ``url()`` and ``@import``, and any ``http(s)://`` or
protocol-relative string inside an inline script (a script can fetch whatever its strings
name). Hyperlinks (``<a href>``, also as markup inside a script string) are not fetched on
opening and are allowed.
"""

from __future__ import annotations

import base64
import html as html_lib
import mimetypes
import re
import secrets
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ASSETS",
    "OfflineError",
    "VendoredAsset",
    "find_external_requests",
    "load_asset",
    "to_offline_html",
    "to_offline_notebook_html",
]


class OfflineError(ValueError):
    """A page still references a third-party server after vendoring.

    Parameters
    ----------
    urls : list of str
        Every offending URL, in order of appearance.
    """

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        listed = "\n  ".join(urls)
        super().__init__(
            f"the page would request {len(urls)} external URL(s) when opened:\n  {listed}\n"
            "Shared HTML must open offline (DOMAIN.md rule 4). Vendor the asset under "
            "src/protection_eval/sharing/assets and register it in "
            "protection_eval.sharing.offline.ASSETS, stop using the feature that needs it, or, "
            "for a mission's own tile server only, pass its URL template in allowed_urls."
        )


@dataclass(frozen=True)
class VendoredAsset:
    """A pinned JavaScript or CSS file shipped inside the package.

    Attributes
    ----------
    name : str
        Short key, e.g. ``"leaflet"``.
    path : str
        Path relative to ``protection_eval/sharing/assets``.
    kind : {"js", "css"}
        How it is inlined.
    urls : tuple of str
        CDN URLs (scheme optional) this file stands in for.
    """

    name: str
    path: str
    kind: Literal["js", "css"]
    urls: tuple[str, ...]


ASSETS: tuple[VendoredAsset, ...] = (
    VendoredAsset(
        "leaflet",
        "leaflet/leaflet.js",
        "js",
        (
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
            "https://unpkg.com/leaflet@1.9.3/dist/leaflet.js",
        ),
    ),
    VendoredAsset(
        "leaflet_css",
        "leaflet/leaflet.css",
        "css",
        (
            "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css",
            "https://unpkg.com/leaflet@1.9.3/dist/leaflet.css",
        ),
    ),
    VendoredAsset(
        "jquery",
        "jquery/jquery.min.js",
        "js",
        (
            "https://code.jquery.com/jquery-3.7.1.min.js",
            "https://cdn.jsdelivr.net/npm/jquery@3.7.1/dist/jquery.min.js",
        ),
    ),
)

# Namespace identifiers appear as strings in scripts (createElementNS) but are never fetched.
_NAMESPACE_URIS = (
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/1999/xhtml",
    "http://www.w3.org/1998/Math/MathML",
    "http://www.w3.org/XML/1998/namespace",
)

_ATTR = r"""([^\s"'>/=]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)"""
_ATTR_RE = re.compile(_ATTR)
_BLOCK_RE = re.compile(r"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<([a-zA-Z][\w:-]*)(\s[^>]*)?>")
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_CSS_COMMENT_RE = re.compile(r"/\*.*?\*/", re.DOTALL)
_CSS_URL_RE = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""", re.IGNORECASE)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(?:url\()?\s*["']?([^"');\s]+)""", re.IGNORECASE)
_SCRIPT_URL_RE = re.compile(
    r"""https?:(?:\\?/){2}[^\s"'`<>()\\]+|(?<=["'`])//[\w.-]+\.[a-z]{2,}[^\s"'`<>()]*"""
)
# A hyperlink written inside a script string (a tile attribution, Leaflet's own credit), with
# "<" possibly escaped as \u003c and quotes as \": shown as a link, never fetched on opening.
_ANCHOR_IN_STRING_RE = re.compile(r"""(?:<|\\u003c)a\s(?:[^<>]*?\s)?href=\\?["']$""")
_FETCH_ATTRS = {
    "src",
    "srcset",
    "data",
    "poster",
    "background",
    "action",
    "formaction",
    "href",
    "xlink:href",
    "manifest",
    "ping",
}
_ANCHOR_TAGS = {"a", "area"}
_MERMAID_LOADER_RE = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*?jp-Mermaid.*?</script>", re.DOTALL
)
_ASSETS_DIR = Path(__file__).parent / "assets"
_PLACEHOLDER = "<!--protection-eval-vendored:{token}:{name}-->"


def _attrs(text: str) -> dict[str, str]:
    return {k.lower(): v.strip("\"'") for k, v in _ATTR_RE.findall(text)}


def _is_external(url: str) -> bool:
    url = url.strip().lower()
    return url.startswith(("http://", "https://", "//"))


def _strip_scheme(url: str) -> str:
    return re.sub(r"^(?:https?:)?//", "", url.strip())


def _is_allowed(url: str, allowed_urls: Iterable[str]) -> bool:
    bare = _strip_scheme(url.replace("\\/", "/"))
    if any(bare == _strip_scheme(ns) for ns in _NAMESPACE_URIS):
        return True
    return any(bare.startswith(_strip_scheme(a)) for a in allowed_urls if a)


@cache
def _asset_by_url() -> dict[str, VendoredAsset]:
    return {_strip_scheme(u): a for a in ASSETS for u in a.urls}


def _asset_file(relative: str) -> bytes:
    return (_ASSETS_DIR / relative).read_bytes()


def _data_uri(relative: str) -> str:
    mime = mimetypes.guess_type(relative)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(_asset_file(relative)).decode('ascii')}"


@cache
def load_asset(name: str) -> str:
    """Return a vendored asset's text, ready to inline.

    CSS ``url()`` references to files beside the stylesheet become ``data:`` URIs; script text has
    ``</script`` escaped so it cannot close its inline tag.

    Parameters
    ----------
    name : str
        The asset's key in :data:`ASSETS`.

    Returns
    -------
    str
        The file's content.

    Raises
    ------
    KeyError
        If no asset has that name.
    """
    asset = next((a for a in ASSETS if a.name == name), None)
    if asset is None:
        raise KeyError(f"no vendored asset named {name!r}; known: {[a.name for a in ASSETS]}")
    # A source-map comment would make developer tools look for a file that is not shipped.
    text = re.sub(
        r"^[/][/*]# sourceMappingURL=.*$", "", _asset_file(asset.path).decode("utf-8"), flags=re.M
    )
    if asset.kind == "js":
        return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
    folder = asset.path.rsplit("/", 1)[0]

    def inline(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith(("data:", "#")) or _is_external(target):
            return match.group(0)
        return f'url("{_data_uri(f"{folder}/{target}")}")'

    return _CSS_URL_RE.sub(inline, text)


def _decode_data_uri(uri: str) -> str:
    header, _, payload = uri.partition(",")
    if header.endswith(";base64"):
        return base64.b64decode(payload).decode("utf-8", errors="replace")
    return urllib.parse.unquote(payload)


def _is_vendored_copy(attributes: str, body: str) -> bool:
    """Whether a block is, byte for byte, a vendored asset this module inlined."""
    path = _attrs(attributes).get("data-vendored")
    asset = next((a for a in ASSETS if a.path == path), None)
    return asset is not None and body == f"\n{load_asset(asset.name)}\n"


def find_external_requests(html: str, allowed_urls: Iterable[str] = ()) -> list[str]:
    """List the URLs a page would fetch from other servers when opened.

    Parameters
    ----------
    html : str
        A complete HTML page.
    allowed_urls : iterable of str
        URL prefixes that may stay (a mission's configured tile server).

    Returns
    -------
    list of str
        Offending URLs in order of appearance, without duplicates; empty when the page is
        self-contained.
    """
    allowed = tuple(allowed_urls)
    found: list[str] = []

    def note(url: str) -> None:
        url = url.strip()
        if _is_external(url.replace("\\/", "/")) and not _is_allowed(url, allowed):
            if url not in found:
                found.append(url)

    def css(text: str) -> None:
        text = _CSS_COMMENT_RE.sub("", text)
        for _, url in _CSS_URL_RE.findall(text):
            note(url)
        for url in _CSS_IMPORT_RE.findall(text):
            note(url)

    def tags(text: str) -> None:
        for tag in _TAG_RE.finditer(_COMMENT_RE.sub("", text)):
            name = tag.group(1).lower()
            for key, value in _attrs(tag.group(2) or "").items():
                value = html_lib.unescape(value)
                if key == "style":
                    css(value)
                elif key == "srcdoc":
                    for url in find_external_requests(value, allowed):
                        note(url)
                elif key == "src" and value.startswith("data:text/html"):
                    for url in find_external_requests(_decode_data_uri(value), allowed):
                        note(url)
                elif key == "srcset":
                    for part in value.split(","):
                        note(part.strip().split(" ")[0])
                elif key in _FETCH_ATTRS and not (key == "href" and name in _ANCHOR_TAGS):
                    note(value)

    rest: list[str] = []
    position = 0
    for block in _BLOCK_RE.finditer(html):
        rest.append(html[position : block.start()])
        position = block.end()
        kind, attributes, body = block.group(1).lower(), block.group(2), block.group(3)
        if _is_vendored_copy(attributes, body):
            continue
        tags(f"<{kind}{attributes}>")
        if kind == "style":
            css(body)
        else:
            for match in _SCRIPT_URL_RE.finditer(body):
                if not _ANCHOR_IN_STRING_RE.search(
                    body, max(0, match.start() - 300), match.start()
                ):
                    note(match.group(0))
    rest.append(html[position:])
    tags("".join(rest))
    return found


def _inline_srcdoc(match: re.Match[str], allowed: tuple[str, ...], drop: tuple[str, ...]) -> str:
    inner = to_offline_html(html_lib.unescape(match.group(2)), allowed_urls=allowed, drop_urls=drop)
    return f"{match.group(1)}{html_lib.escape(inner, quote=True)}{match.group(3)}"


def to_offline_html(
    html: str, *, allowed_urls: Iterable[str] = (), drop_urls: Iterable[str] = ()
) -> str:
    """Make a page self-contained: inline vendored assets and refuse any remaining fetch.

    ``<script src>`` and ``<link rel="stylesheet">`` tags whose URL is a registered CDN copy of a
    vendored asset (:data:`ASSETS`) are replaced by the asset's text; tags whose URL starts with
    one of ``drop_urls`` are removed; ``<iframe srcdoc>`` pages (folium in a notebook) are
    processed recursively.

    Parameters
    ----------
    html : str
        A complete HTML page, e.g. ``folium.Map.get_root().render()`` or nbconvert output.
    allowed_urls : iterable of str
        URL prefixes that may remain: only a tile server the mission config names.
    drop_urls : iterable of str
        URL prefixes of scripts or stylesheets to remove because the page does not need them
        (nbconvert's require.js and MathJax, for instance).

    Returns
    -------
    str
        The same page with no third-party request.

    Raises
    ------
    OfflineError
        Naming every URL that would still be fetched.
    """
    allowed, drop = tuple(allowed_urls), tuple(_strip_scheme(u) for u in drop_urls)
    # A fresh token for each page: text of the page (data) that looks like a placeholder is
    # never taken for one.
    token = secrets.token_hex(8)
    by_url = _asset_by_url()
    used: dict[str, VendoredAsset] = {}

    def swap(url: str, kind: str, original: str) -> str:
        bare = _strip_scheme(html_lib.unescape(url))
        if not _is_external(html_lib.unescape(url)):
            return original
        if drop and bare.startswith(drop):
            return ""
        asset = by_url.get(bare)
        if asset is None or asset.kind != kind:
            return original
        used[asset.name] = asset
        return _PLACEHOLDER.format(token=token, name=asset.name)

    def script(match: re.Match[str]) -> str:
        src = _attrs(match.group(1)).get("src")
        return match.group(0) if src is None else swap(src, "js", match.group(0))

    def link(match: re.Match[str]) -> str:
        attributes = _attrs(match.group(1))
        if "stylesheet" not in attributes.get("rel", "").lower() or "href" not in attributes:
            return match.group(0)
        return swap(attributes["href"], "css", match.group(0))

    page = re.sub(
        r"(<iframe\b[^>]*\bsrcdoc=\")([^\"]*)(\")",
        lambda m: _inline_srcdoc(m, allowed, tuple(drop_urls)),
        html,
        flags=re.IGNORECASE,
    )
    page = re.sub(r"<script\b([^>]*)>\s*</script\s*>", script, page, flags=re.IGNORECASE)
    page = re.sub(r"<link\b([^>]*?)/?>", link, page, flags=re.IGNORECASE)
    remaining = find_external_requests(page, allowed)
    if remaining:
        raise OfflineError(remaining)

    def fill(match: re.Match[str]) -> str:
        asset = used[match.group(1)]
        tag = "script" if asset.kind == "js" else "style"
        return f'<{tag} data-vendored="{asset.path}">\n{load_asset(asset.name)}\n</{tag}>'

    return re.sub(_PLACEHOLDER.format(token=token, name=r"(\w+)"), fill, page)


def to_offline_notebook_html(
    notebook: object, *, exclude_input: bool = False, allowed_urls: Iterable[str] = ()
) -> str:
    """Render an executed notebook to one self-contained HTML page.

    Uses nbconvert's ``lab`` template. Its page loads require.js (only needed by ipywidgets) and
    MathJax from cdnjs: both are removed, so LaTeX in Markdown shows as source text. Its Mermaid
    loader (a module script that imports mermaid from cdnjs when a diagram is present) is removed
    too, so a Mermaid diagram shows as its source. Folium maps in outputs are made offline too.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        The executed notebook.
    exclude_input : bool
        Hide code cells (for a brief built from a notebook).
    allowed_urls : iterable of str
        URL prefixes that may remain: only the tile server the mission config names, which a
        map displayed in the notebook uses.

    Returns
    -------
    str
        The page.

    Raises
    ------
    OfflineError
        If an output still references an external server (a widget, a plot library's CDN).
    """
    with _EXPORTERS_LOCK:
        exporter = _notebook_exporter(exclude_input)
        body, _ = exporter.from_notebook_node(notebook)
    body = _MERMAID_LOADER_RE.sub("", body)
    return to_offline_html(
        body,
        allowed_urls=allowed_urls,
        drop_urls=(exporter.require_js_url, exporter.mathjax_url, exporter.jquery_url),
    )


#: Held while an exporter renders: one exporter is not meant to render two notebooks at once
#: (notebooks running side by side export their pages from their own threads).
_EXPORTERS_LOCK = threading.Lock()


@cache
def _notebook_exporter(exclude_input: bool) -> Any:
    """Return this process's nbconvert ``lab`` exporter, made once for each ``exclude_input``.

    Making one loads and compiles the template and reads its style sheets (about a third of
    rendering a run's pages); rendering keeps nothing of one notebook for the next.
    """
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", exclude_input=exclude_input)
