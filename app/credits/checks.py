"""What a conversion rule allows, each rule written once, in one wording, for the single
endpoints (POST and PATCH /api/v1/credit-rules) and the ``credit-rules`` upload alike.

Each function takes plain values and answers the problem in words, or None when there is none;
the caller refuses with it in its own way: an endpoint with its 409 or 422 (and ``code``) naming
the rule, an upload with the row's error. (The conversion rules resource itself is
:mod:`app.credits.rules`.)"""

from collections.abc import Collection
from datetime import date

from app.core.i18n import _

IN_PLACE_WHEN_USED = frozenset({"effective_to", "notes"})
"""What a used rule may change in place; any other change opens a new version."""


def period_text(start: date | None, end: date | None) -> str:
    """A period as the messages write it, an open bound as …."""
    return f"{start or '…'} – {end or '…'}"


def period_problem(start: date | None, end: date | None) -> str | None:
    """A rule is in force from ``start`` to the end of ``end`` (None: open), so it does not end
    before it starts."""
    if start is not None and end is not None and start > end:
        return _("the rule would end on {end}, before it starts on {start}", end=end, start=start)
    return None


def overlap_problem(
    other_id: int | None,
    other_start: date | None,
    other_end: date | None,
    start: date | None,
    end: date | None,
) -> str | None:
    """One rule maps a certificate to a course on any day: ``start``–``end`` does not meet the
    period of the other rule ``other_id`` for the same certificate and course (a version's
    predecessor among them). An empty bound is open."""
    starts_in_time = other_start is None or end is None or other_start <= end
    ends_in_time = other_end is None or start is None or start <= other_end
    if starts_in_time and ends_in_time:
        return _(
            "conversion rule {id} already maps this certificate to this course for {period}, "
            "which overlaps {new_period}",
            id=other_id,
            period=period_text(other_start, other_end),
            new_period=period_text(start, end),
        )
    return None


def used_change_problem(rule_id: int | None, used: bool, changed: Collection[str]) -> str | None:
    """A rule a conversion request ``used`` changes in place only its end date and notes; a
    change of any other of its ``changed`` fields (its majors too) opens a new version of it."""
    versioned = sorted(set(changed) - IN_PLACE_WHEN_USED)
    if used and versioned:
        return _(
            "conversion rule {id} was used by conversion requests, so a change of {fields} "
            "closes it and opens a new version",
            id=rule_id,
            fields=", ".join(versioned),
        )
    return None


def superseded_problem(rule_id: int | None, successor: int | None) -> str | None:
    """A rule that a new version replaced keeps its terms: the change goes to ``successor``."""
    if successor is None:
        return None
    return _(
        "Conversion rule {rule_id} was replaced by version {successor}; change that one",
        rule_id=rule_id,
        successor=successor,
    )
