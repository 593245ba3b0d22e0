"""Every import kind, declared by its own domain and registered here by name."""

from app.core.errors import NotFound
from app.core.i18n import _
from app.imports.engine import ImportKind

KINDS: dict[str, ImportKind] = {}


def register(kind: ImportKind) -> ImportKind:
    KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> ImportKind:
    kind = KINDS.get(name)
    if kind is None:
        raise NotFound(
            _(
                "No import kind {name}; known kinds: {kinds}",
                name=repr(name),
                kinds=", ".join(sorted(KINDS)),
            ),
            known_kinds=sorted(KINDS),
        )
    return kind
