"""What a person reads for a code: each enum's labels, declared once next to the enum.

A domain declares the labels of an enum where it defines it::

    enum_labels(ApplicationStatus, {ApplicationStatus.approved: N_("Approved"), ...})

(the English label is the catalogue's msgid, its Chinese translation what a clerk reads: 已批准).
Every export and report shows an enum value by its label (:class:`Labels`, one table per enum
and language, built once per export); JSON keeps the codes. An enum without labels is shown
by its value.
"""

from collections.abc import Mapping
from enum import Enum
from functools import cache
from typing import TypeVar

from app.core.i18n import N_, Language, _, _translations, current_language, translate

E = TypeVar("E", bound=Enum)

LABELS: dict[type[Enum], Mapping[Enum, str]] = {}
"""Every labelled enum: its members' English labels (msgids)."""

YES, NO = N_("Yes"), N_("No")


def enum_labels(enum: type[E], labels: Mapping[E, str]) -> Mapping[E, str]:
    """Declare the label (an ``N_()`` msgid) of every member of ``enum``."""
    missing = [member.name for member in enum if member not in labels]
    if missing:
        raise TypeError(f"{enum.__name__}: no label for {', '.join(missing)}")
    LABELS[enum] = labels  # type: ignore[assignment]
    return labels


def cohort_label(cohort: int) -> str:
    """A cohort (entry year) as a person reads it: 2020级, Class of 2020."""
    return _("Class of {cohort}", cohort=cohort)


def label(value: Enum, language: Language | None = None) -> str:
    """One enum value as a person reads it, in ``language`` (the current one by default)."""
    table = LABELS.get(type(value))
    if table is None:
        return str(value.value)
    return translate(table[value], language)


class Labels:
    """The labels of one export, in one language: ``labels.of(SomeEnum)`` is a dict from member
    to label, built the first time it is asked for (a dict lookup per cell after that)."""

    __slots__ = ("language", "no", "tables", "yes")

    def __init__(self, language: Language | None = None) -> None:
        self.language: Language = language or current_language()
        self.tables: dict[type[Enum], dict[Enum, str]] = {}
        self.yes = translate(YES, self.language)
        self.no = translate(NO, self.language)

    def of(self, enum: type[Enum]) -> dict[Enum, str]:
        table = self.tables.get(enum)
        if table is None:
            declared = LABELS.get(enum, {})
            table = {
                member: translate(declared[member], self.language)
                if member in declared
                else str(member.value)
                for member in enum
            }
            self.tables[enum] = table
        return table

    def text(self, msgid: str) -> str:
        return translate(msgid, self.language)


@cache
def _english() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for msgid, chinese in _translations().items():
        found.setdefault(chinese, []).append(msgid)
    return {chinese: tuple(msgids) for chinese, msgids in found.items()}


def english_of(chinese: str) -> tuple[str, ...]:
    """The English texts (msgids) the catalogue translates as ``chinese``: an importer reads
    the header an English export wrote (``Student number``) as the Chinese one (学号)."""
    return _english().get(chinese, ())
