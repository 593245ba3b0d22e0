"""The one message catalogue: every human-facing text, Chinese by default, English on request.

Messages are written in English in the code, as gettext ``msgid``\\s, and translated through the
catalogue ``app/locale/zh_CN/LC_MESSAGES/messages.po`` (Babel's tools read and write it). English
needs no catalogue: the ``msgid`` is the English text.

- ``_("Student {number} not found", number=n)`` translates into the language of the request
  being served (or the configured default outside a request), then fills in the ``{names}``.
- ``N_("Not found")`` only marks a text for the catalogue where it is defined (a class attribute,
  a module constant); whoever shows it later passes it through :func:`translate`.
- ``M_("No registration fits by {by}", by=b)`` is a message kept to be shown later, in the
  language of whoever reads it then: a stored note is saved as its msgid and parameters (JSON),
  not as the text of the language it was written in, and :func:`shown` translates it per reader.

The language of a request follows ``Accept-Language`` (``zh``/``zh-CN``/``zh-Hans`` → Chinese,
``en*`` → English, q-values honoured); without one, ``ONEX_DEFAULT_LANGUAGE`` (``zh-CN`` unless
set).
Codes, field names, enum values and ids never change with the language.

``python -m app i18n check`` fails on a message without a translation or a catalogue entry that
no code uses any more; ``python -m app i18n update`` brings the catalogue in step with the code
(new messages are added untranslated, unused ones dropped), for a translator to fill in.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")
CATALOGUE_LANGUAGE: Language = "zh-CN"
"""The language the catalogue translates into; the other (English) is the code's own text."""

LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"
CATALOGUE = LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"

_default: Language | None = None
language_var: ContextVar[Language | None] = ContextVar("language", default=None)
"""The language of the request being served; None outside a request (the default applies)."""


def set_default_language(language: Language) -> None:
    """The language used where no request chose one (set from the settings at start-up)."""
    global _default
    _default = language


def _configured_default() -> Language:
    """ONEX_DEFAULT_LANGUAGE, for a process that made no app (the command line); zh-CN when
    the settings cannot be read."""
    global _default
    if _default is None:
        try:
            from app.core.config import get_settings

            _default = get_settings().default_language
        except Exception:  # invalid settings are reported by whoever needs them
            return "zh-CN"
    return _default


def current_language() -> Language:
    return language_var.get() or _configured_default()


@cache
def _translations() -> dict[str, str]:
    from babel.messages.pofile import read_po

    with CATALOGUE.open("rb") as handle:
        catalog = read_po(handle)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and isinstance(message.id, str) and message.string
    }


def translate(msgid: str, language: Language | None = None) -> str:
    """``msgid`` in ``language`` (the current one by default); the msgid itself if untranslated."""
    if (language or current_language()) == "en":
        return msgid
    return _translations().get(msgid, msgid)


class Worded(str):
    """A text :func:`_` put into words, which also knows what it said: its ``msgid`` and
    ``params``. Where code keeps another domain's text for later readers (:func:`as_written`),
    it keeps the message instead, so that each reader reads it in their own language."""

    msgid: str
    params: dict[str, Any]


def _(msgid: str, /, **params: Any) -> str:
    """Translate ``msgid`` into the current language, then fill in its ``{names}``."""
    text = translate(msgid)
    worded = Worded(text.format(**params) if params else text)
    worded.msgid = msgid
    worded.params = params
    return worded


def N_(msgid: str, /) -> str:  # noqa: N802 - gettext's conventional name
    """Mark ``msgid`` for the catalogue without translating it here."""
    return msgid


Message = dict[str, Any]
"""A message kept for later (:func:`M_`): ``{"msgid": …, "params": {…}}``; a parameter may be a
message itself. ``{"text": …}`` is a text kept as it was written (a note stored before notes were
kept as messages, or a detail another domain already put into words); ``{"all": [...]}`` several
messages shown as one (:func:`all_of`); ``{"texts": {language: …}}`` a text put into words in
each language at once (:func:`in_each_language`), where code built it as text."""

T = TypeVar("T")


def M_(msgid: str, /, **params: Any) -> Message:  # noqa: N802 - named like _ and N_
    """``msgid`` and its ``{names}``, put into words later by :func:`shown`, per reader."""
    return {"msgid": msgid, "params": params}


def all_of(messages: list[Message]) -> Message:
    """Several messages shown as one, joined with "; " ("；" in Chinese): what one step after
    another did."""
    return {"all": messages}


def in_each_language(
    make: Callable[[], T], languages: Iterable[Language] = LANGUAGES
) -> dict[Language, T]:
    """``make()`` once in each language the service speaks (or in ``languages``): for texts
    that code builds in the language of the request (an upload's row errors) and that are kept
    for other readers."""
    made: dict[Language, T] = {}
    for language in languages:
        token = language_var.set(language)
        try:
            made[language] = make()
        finally:
            language_var.reset(token)
    return made


def as_written(text: str) -> Message:
    """A text already in words (another domain's refusal), kept for later readers: the message
    :func:`_` worded it from, so each reader reads it in their own language; the text as it is
    when it was not worded by ``_`` (or its msgid formats a placeholder in a way a kept
    parameter might not repeat)."""
    return _kept(text) or {"text": text}


_JSON_TYPES = (str, int, float, bool, type(None))
_FIELDS = string.Formatter()


def _kept(value: Any) -> Message | None:
    """The message ``value`` was worded from, as a stored message (JSON) keeps it: a parameter
    worded by ``_`` as its own message, one of JSON's types as it is, any other (a date, an
    amount) as the text it was filled in as. None when ``value`` was not worded by ``_``, or
    its msgid gives a placeholder a format or a conversion (``{amount:.2f}``), which that
    text might not take again."""
    if not isinstance(value, Worded):
        return None
    if any(spec or conversion for *_rest, spec, conversion in _FIELDS.parse(value.msgid)):
        return None
    params: dict[str, Any] = {}
    for name, param in value.params.items():
        if isinstance(param, Worded):
            params[name] = _kept(param) or format(param)
        elif type(param) in _JSON_TYPES:
            params[name] = param
        else:
            params[name] = format(param)
    return {"msgid": value.msgid, "params": params}


def shown(message: Message | None) -> str | None:
    """``message`` in the current language, its parameters (messages too) translated first."""
    if message is None:
        return None
    if "texts" in message:
        texts: dict[str, str] = message["texts"]
        return texts.get(current_language()) or next(iter(texts.values()), "")
    if "all" in message:
        return _("; ").join(shown(part) or "" for part in message["all"])
    if "msgid" not in message:
        return str(message.get("text", ""))
    params = {
        name: shown(value) if isinstance(value, dict) else value
        for name, value in message.get("params", {}).items()
    }
    msgid: str = message["msgid"]
    return _(msgid, **params)


_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$"
)


def _ranges(header: str) -> Iterator[tuple[float, int, str]]:
    for position, part in enumerate(header.split(",")[:32]):
        match = _RANGE.match(part)
        if not match:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
        if quality > 0:
            yield -quality, position, match.group(1).lower()


def negotiate(header: str | None, default: Language) -> Language:
    """The language an ``Accept-Language`` header asks for among ours, else ``default``."""
    if not header:
        return default
    for _quality, _position, tag in sorted(_ranges(header)):
        if tag == "*":
            return default
        if tag.split("-")[0] == "zh":
            return "zh-CN"
        if tag.split("-")[0] == "en":
            return "en"
    return default
