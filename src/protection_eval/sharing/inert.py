"""Render folium maps so that no data value is ever compiled as a Jinja template.

branca, folium's base, renders a map element's macros (``header``, ``html``, ``script``) with the
element's attributes as template *variables*, which is safe. It then wraps each rendered text in
``branca.element.Element(text)`` (``MacroElement.render``), and that constructor compiles the
text as a new Jinja template, rendered again when the page is assembled. Every value the first
pass wrote (an area name or code in the embedded GeoJSON, a tile attribution, a tooltip label)
is template source the second time: ``{{7*7}}`` in an area name is published as ``49``, ``{#``
stops the page, and a crafted name runs code as the user who runs the mission.

This module keeps folium's own templates and its output, and takes the second pass away:

- :func:`make_inert` gives every :class:`branca.element.MacroElement` of a map a subclass of its
  own class whose rendering puts each macro's output into an :class:`InertHtml`, an element that
  returns its text as it is and compiles nothing. The element's own preparation (folium's
  ``render`` overrides: style maps, ``addTo`` calls, marker icons) still runs first, because the
  inert class comes just before ``MacroElement`` in the class's method order. Elements that
  folium adds while a map renders are made inert before they render.
- :class:`InertHtml` is also how a page carries any other markup built from data (title, legend).
- :func:`render_inert` renders a map's page, and refuses (``TypeError``), before the page is
  assembled, a tree that still holds an element compiled from text with template syntax in it,
  or a macro element whose rendering did not go through the inert path.

The guarantee is structural: on the inert path, data only ever reaches a template as the value
of a variable, and a variable's value is never parsed. Translated labels and any other text a
map shows travel the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from branca.element import Element, Figure, MacroElement
from folium.map import Class

__all__ = ["InertHtml", "JINJA_SYNTAX", "make_inert", "render_inert"]

#: What starts a Jinja expression, statement or comment; text without them compiles to itself.
JINJA_SYNTAX: tuple[str, ...] = ("{{", "{%", "{#")
_MACROS = ("header", "html", "script")
_RENDERED = "_pe_rendered_inert"


class InertHtml(Element):
    """A piece of a page that renders as its text, with nothing compiled or evaluated.

    Parameters
    ----------
    text : str
        Markup as it should appear in the page; escape data in it for where it goes (HTML text,
        an attribute) before building it.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "InertHtml"
        self.text = str(text)

    def render(self, **kwargs: Any) -> str:
        """Return the text as given."""
        return self.text


class _InertMacroElement(MacroElement):
    """The last step of every inert macro element's rendering (see :func:`make_inert`)."""

    def render(self, **kwargs: Any) -> None:
        figure = self.get_root()
        if not isinstance(figure, Figure):
            raise TypeError(f"{type(self).__name__} renders only inside a folium Figure")
        module = self._template.module
        for part in _MACROS:
            macro = getattr(module, part, None)
            if macro is not None:
                text = str(macro(self, kwargs))
                getattr(figure, part).add_child(InertHtml(text), name=self.get_name())
        setattr(self, _RENDERED, True)
        for child in list(self._children.values()):
            _render_child(child, kwargs)


@functools.cache
def _inert_class(cls: type[MacroElement]) -> type[MacroElement]:
    """Return ``cls`` with :class:`_InertMacroElement` placed just before ``MacroElement``."""
    if issubclass(cls, _InertMacroElement):
        return cls
    return type(cls.__name__, (cls, _InertMacroElement),
                {"__module__": __name__, "__doc__": cls.__doc__})


def _walk(element: Element) -> Iterator[Element]:
    yield element
    if isinstance(element, Figure):
        for part in _MACROS:
            yield from _walk(getattr(element, part))
    for child in list(element._children.values()):
        yield from _walk(child)


def make_inert(element: Element) -> Element:
    """Make every macro element under ``element`` render without compiling its output.

    Each :class:`branca.element.MacroElement` in the tree (the map, its layers, tooltips,
    markers, controls) takes a subclass of its own class whose rendering keeps every macro's
    output as text (:class:`InertHtml`). Its behaviour and its output are otherwise folium's.

    Parameters
    ----------
    element : branca.element.Element
        A map, a figure or any element of one.

    Returns
    -------
    branca.element.Element
        ``element`` itself, now inert, so that folium's own entry points (``_repr_html_``,
        ``save``) render it without compiling data too.
    """
    for item in _walk(element):
        if isinstance(item, MacroElement):
            item.__class__ = _inert_class(type(item))
    return element


def _check_compiled(element: Element) -> None:
    """Refuse a tree holding anything that would evaluate text as a template when rendered."""
    for item in _walk(element):
        source = item._template_str
        if source is not None and any(mark in source for mark in JINJA_SYNTAX):
            raise TypeError(
                f"{type(item).__name__} {item.get_name()} was compiled from text with template "
                "syntax in it; a page built from data must carry text as InertHtml, never as "
                "branca.element.Element(text)"
            )
        if isinstance(item, Class) and item.includes:
            raise TypeError(f"{type(item).__name__} has class includes, which folium renders "
                            "by compiling their output; leave them out of shared maps")


def _render_child(child: Element, kwargs: dict[str, Any]) -> None:
    """Render a child as ``MacroElement.render`` does, keeping every macro element inert."""
    if not isinstance(child, MacroElement):
        _check_compiled(child)
        child.render(**kwargs)
        return
    make_inert(child)
    child.__dict__.pop(_RENDERED, None)
    child.render(**kwargs)
    if not child.__dict__.get(_RENDERED):
        raise TypeError(
            f"{type(child).__name__} renders its own way instead of through its macros, so its "
            "output cannot be kept from being compiled; it cannot be used on a shared map"
        )


def render_inert(element: Element) -> str:
    """Render the page of the figure ``element`` belongs to, compiling no data as a template.

    Parameters
    ----------
    element : branca.element.Element
        A folium map (or any element of its figure).

    Returns
    -------
    str
        The page, as ``element.get_root().render()`` would give it for text without template
        syntax.

    Raises
    ------
    TypeError
        If the figure holds an element compiled from text with template syntax, a macro element
        that renders outside its macros, or folium class includes.
    """
    figure = element.get_root()
    if not isinstance(figure, Figure):
        raise TypeError(f"{type(element).__name__} is not part of a folium Figure")
    make_inert(figure)
    _check_compiled(figure)
    for child in list(figure._children.values()):
        _render_child(child, {})
    _check_compiled(figure)
    return figure._template.render(this=figure, kwargs={})
