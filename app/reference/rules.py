"""What the reference data allows, each rule written once, in one wording, for the single
endpoints and the uploads alike (a certificate's name, a certificate level named one at a time
or in a file, a teacher's 双师型 recognition set one at a time or uploaded).

Each function answers the problem in words, or None when there is none; the caller refuses with
it in its own way: an endpoint with a 422 (or a validator's error), an upload with the row's
error. The functions read no rows: the caller passes what it has already read."""

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from app.core.i18n import _
from app.core.labels import label

if TYPE_CHECKING:  # app.reference.models checks its input with these rules
    from app.reference.models import Level


def level_problem(name: str, offered: Sequence["Level"], level: "Level") -> str | None:
    """A certificate (``name``) is piloted, trained or converted only at a level it offers."""
    if level not in offered:
        return _(
            "the certificate {name} is offered at {offered}, not at {level}",
            name=name,
            offered="、".join(label(lv) for lv in offered),
            level=label(level),
        )
    return None


def certificate_name_problem(normalised: str) -> str | None:
    """A certificate's name says which certificate it is: something is left of it once
    normalised (``normalise_certificate_name``: not only 1+X, 证书 or spaces)."""
    if not normalised:
        return _("a certificate name, such as Web前端开发")
    return None


def dual_period_problem(recognised_on: date, valid_until: date | None) -> str | None:
    """A teacher's 双师型 recognition holds until ``valid_until`` (None: no end), which is not
    before the day it was recognised."""
    if valid_until is not None and valid_until < recognised_on:
        return _(
            "valid until {until} is before the day it was recognised ({recognised})",
            until=valid_until,
            recognised=recognised_on,
        )
    return None
