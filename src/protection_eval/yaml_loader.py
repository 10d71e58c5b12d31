"""The one YAML loader of the project: safe, and strict about what would silently change meaning.

Every YAML file the project reads (mission configurations, the strategy inventory, the targets,
the presets) goes through :func:`load_yaml`. It builds only plain YAML types (a
:class:`yaml.SafeLoader`), and refuses, naming the line:

- a key given twice in one mapping: PyYAML keeps the last, so a second ``sharing:`` block would
  silently replace the first (and with it the suppression threshold);
- a merge key (``<<``): merged keys replace or are replaced without a word, and two merges in
  one mapping gave the second one's value before this loader; write the keys out instead;
- a key that is not a plain scalar (``? [a, b]``, ``? {a: 1}``): no configuration key is a list
  or a mapping, and an unhashable key would otherwise end in a traceback;
- a document that aliases expand beyond :data:`MAX_EXPANDED_NODES` values (an "alias bomb":
  a few lines whose anchors, repeated, stand for billions of values once written out).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAX_EXPANDED_NODES", "DuplicateKeyError", "YamlStructureError", "load_yaml"]

#: Most values a YAML document may stand for once its aliases are written out.
MAX_EXPANDED_NODES = 1_000_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlStructureError(yaml.constructor.ConstructorError):
    """A YAML document whose structure the project refuses; ``problem`` names the line."""


class DuplicateKeyError(YamlStructureError):
    """A YAML mapping that gives the same key twice."""


class _StrictConstructor:
    """Refuses repeated keys, merge keys and keys that are not scalars (a loader's mix-in)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                raise YamlStructureError(
                    None, None,
                    f"the merge key '<<' on line {line} is not accepted: write the keys out in "
                    "full (merged keys would silently replace one another)",
                    key_node.start_mark,
                )
            if not isinstance(key_node, yaml.ScalarNode):
                kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
                raise YamlStructureError(
                    None, None,
                    f"the key on line {line} is a {kind} ('? ...' syntax); every key must be a "
                    "plain name such as 'sources'",
                    key_node.start_mark,
                )
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise DuplicateKeyError(
                    None, None,
                    f"the key {key!r} on line {line} was already given on line {seen[key]}; "
                    "keep one of them (a repeated key would silently replace the first)",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _StrictLoader(_StrictConstructor, yaml.SafeLoader):
    """A safe loader, strict as :class:`_StrictConstructor`: the one that words the errors."""


#: The same loader over libyaml's parser when PyYAML was built with it (the same safe
#: constructor and resolver, so the same document): about ten times faster on the strategy
#: catalogue, which every notebook's mission loading reads. Its errors name no line's text,
#: so a document it refuses is read again by :class:`_StrictLoader` for the message.
_FastLoader: type | None = (
    type("_FastLoader", (_StrictConstructor, yaml.CSafeLoader), {})
    if getattr(yaml, "__with_libyaml__", False) else None
)


def _expanded_size_within(document: Any, limit: int) -> bool:
    """Whether the document, its aliases written out, holds at most ``limit`` values.

    Shared objects are counted each time they are reached, as a writer would write them; the
    walk stops as soon as the count passes the limit, so it costs at most ``limit`` steps.
    """
    count, stack = 0, [document]
    while stack:
        value = stack.pop()
        count += 1
        if count > limit:
            return False
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return True


def load_yaml(text: str) -> object:
    """Parse YAML safely and strictly (see the module's docstring for what is refused).

    Parameters
    ----------
    text : str
        The YAML document.

    Returns
    -------
    object
        The parsed document, plain YAML types only.

    Raises
    ------
    yaml.YAMLError
        When the text is not YAML; :class:`YamlStructureError` (a ``yaml.YAMLError``) when it
        repeats a key in one mapping (:class:`DuplicateKeyError`), uses a merge key or a key
        that is not a scalar, or expands beyond :data:`MAX_EXPANDED_NODES` values. Its
        ``problem`` names the line.
    """
    document = _parse(text)
    if not _expanded_size_within(document, MAX_EXPANDED_NODES):
        raise YamlStructureError(
            None, None,
            f"its aliases (*name) expand to more than {MAX_EXPANDED_NODES:,} values; write the "
            "repeated parts out, or use fewer aliases",
            None,
        )
    return document


def _parse(text: str) -> object:
    """Parse with libyaml when it is there; any refusal is worded by the pure-Python parser."""
    if _FastLoader is not None:
        try:
            return yaml.load(text, Loader=_FastLoader)  # a CSafeLoader: plain types only
        except yaml.YAMLError:
            pass
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: plain types only
