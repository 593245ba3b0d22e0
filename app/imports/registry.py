"""Every import kind, declared by its own domain and registered here by name."""

from app.core.errors import NotFound
from app.imports.engine import ImportKind

KINDS: dict[str, ImportKind] = {}


def register(kind: ImportKind) -> ImportKind:
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> ImportKind:
    kind = KINDS.get(name)
    if kind is None:
        raise NotFound(
            f"No import kind {name!r}; known kinds: {', '.join(sorted(KINDS))}",
            known_kinds=sorted(KINDS),
        )
    return kind
