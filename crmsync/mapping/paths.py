"""Source field paths: parse ``to_BusinessPartnerAddress[0].CityName``, read it from a nested
payload, and build nested payloads from path/value pairs.

A path is dot-separated segments, each a name optionally followed by ``[index]``. Reading is
forgiving (a missing part gives ``None``; an OData v2 collection wrapped as ``{"results": [...]}``
is unwrapped) because payloads differ in what they leave out; building always writes plain
dicts and lists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_SEGMENT = re.compile(r"^(?P<name>[^.\[\]]+)(?:\[(?P<index>\d+)\])?$")


@dataclass(frozen=True)
class Segment:
    """One step of a path: a key, then optionally a list index."""

    name: str
    index: int | None = None


@dataclass(frozen=True)
class SourcePath:
    """A parsed source field path."""

    text: str
    segments: tuple[Segment, ...]

    @property
    def root(self) -> str:
        """The first segment's name (the top-level field or navigation property)."""
        return self.segments[0].name

    @property
    def plain(self) -> str:
        """The path without indexes (``to_BusinessPartnerAddress.CityName``), for describe() lookups."""
        return ".".join(s.name for s in self.segments)

    def get(self, payload: Mapping[str, Any]) -> Any:
        """The value at this path, ``None`` when any part is missing."""
        current: Any = payload
        for segment in self.segments:
            if not isinstance(current, Mapping):
                return None
            current = current.get(segment.name)
            if segment.index is not None:
                current = _as_list(current)
                if current is None or segment.index >= len(current):
                    return None
                current = current[segment.index]
        return current

    def set(self, payload: dict[str, Any], value: Any, create_items: bool = True) -> None:
        """Write ``value`` at this path, creating the dicts and lists on the way.

        With ``create_items=False`` nothing is written when a list item on the way is missing.
        """
        current: Any = payload
        last = len(self.segments) - 1
        for position, segment in enumerate(self.segments):
            leaf = position == last
            if segment.index is None:
                if leaf:
                    current[segment.name] = value
                    return
                current = current.setdefault(segment.name, {})
                continue
            if not create_items:
                existing = current.get(segment.name)
                if not isinstance(existing, list) or segment.index >= len(existing):
                    return
                if not leaf and existing[segment.index] is None:
                    return
            items = current.setdefault(segment.name, [])
            while len(items) <= segment.index:
                # Slots before the index stay None when the mapping does not fill them; a
                # dict slot is created only when something is written into it.
                items.append(None)
            if leaf:
                items[segment.index] = value
                return
            if items[segment.index] is None:
                items[segment.index] = {}
            current = items[segment.index]


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    # OData v2 wraps expanded collections: {"results": [...]}.
    if isinstance(value, Mapping) and isinstance(value.get("results"), list):
        results: list[Any] = value["results"]
        return results
    return None


def parse_path(text: str) -> SourcePath:
    """Parse a source path; ValueError with the reason when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a source path must be a non-empty string")
    if text != text.strip():
        raise ValueError(f"source path {text!r} has leading or trailing spaces")
    segments: list[Segment] = []
    for part in text.split("."):
        match = _SEGMENT.match(part)
        if match is None:
            raise ValueError(
                f"source path {text!r}: segment {part!r} is not NAME or NAME[INDEX] "
                "(e.g. to_BusinessPartnerAddress[0].CityName)"
            )
        index = match.group("index")
        segments.append(Segment(match.group("name"), int(index) if index is not None else None))
    return SourcePath(text, tuple(segments))


def build_payload(pairs: list[tuple[SourcePath, Any]]) -> dict[str, Any]:
    """A nested payload holding each value at its path.

    ``None`` (clear the field) never creates a list item: an empty e-mail slot must not turn
    into an e-mail entity with a null address. It is written into items that hold values.
    """
    payload: dict[str, Any] = {}
    for path, value in pairs:
        if value is not None:
            path.set(payload, value)
    for path, value in pairs:
        if value is None:
            path.set(payload, None, create_items=False)
    return payload


__all__ = ["Segment", "SourcePath", "build_payload", "parse_path"]
