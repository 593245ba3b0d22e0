"""Keeping the message catalogue in step with the code (``python -m app i18n check|update``).

The messages are what Babel's extractor finds in ``app/`` as the first argument of ``_(...)`` or
``N_(...)``; the catalogue is :data:`app.core.i18n.CATALOGUE`. ``check`` lists the messages
without a Chinese translation and the entries no code uses; ``update`` adds the new messages
(untranslated) and drops the unused ones, keeping every translation that is still wanted.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from app.core.i18n import CATALOGUE

APP_DIR = Path(__file__).resolve().parents[1]
KEYWORDS = {"_": None, "N_": None, "M_": None}
_FIXED_DATE = datetime(2026, 12, 1, tzinfo=UTC)
"""The header's dates stay put, so that updating the catalogue changes only its messages."""


def extract() -> dict[str, list[tuple[str, int]]]:
    """Every message the code marks, with where it stands (file relative to app/, line)."""
    from babel.messages.extract import extract_from_dir

    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(APP_DIR), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        if isinstance(message, str) and message:
            found[message].append((filename, lineno))
    return dict(found)


@dataclass
class Check:
    untranslated: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.untranslated and not self.unused


def _read(path: Path = CATALOGUE) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string or "") for m in catalog if m.id and isinstance(m.id, str)}


def check(path: Path = CATALOGUE) -> Check:
    wanted = extract()
    have = _read(path)
    return Check(
        untranslated=sorted(m for m in wanted if not have.get(m)),
        unused=sorted(m for m in have if m not in wanted),
    )


def update(
    path: Path = CATALOGUE, translations: dict[str, str] | None = None
) -> tuple[int, int, int]:
    """Rewrite the catalogue: (messages in it, of them untranslated, entries dropped).

    ``translations`` (msgid → Chinese) are written in for the messages the code uses, over what
    the catalogue had."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    wanted = extract()
    have = _read(path) if path.exists() else {}
    have.update({k: v for k, v in (translations or {}).items() if v})
    catalog = Catalog(
        locale="zh_CN",
        project="onex",
        version="1",
        creation_date=_FIXED_DATE,
        revision_date=_FIXED_DATE,
        header_comment="# The 1+X pilot service's messages in Chinese (zh-CN).\n"
        "# Kept by `python -m app i18n update`; translate every empty msgstr.",
    )
    for message in sorted(wanted):
        catalog.add(message, have.get(message, ""))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=100, no_location=True, sort_output=True)
    untranslated = sum(1 for m in wanted if not have.get(m))
    dropped = sum(1 for m in have if m not in wanted and m not in (translations or {}))
    return len(wanted), untranslated, dropped
