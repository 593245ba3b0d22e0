"""What trainings allow, each rule written once, in one wording, for the single endpoints and
the uploads alike (a teacher training, an evaluator qualification or an enrolment one at a
time, or a file of them).

Each function answers the problem in words, or None when there is none; the caller refuses
with it in its own way: an endpoint with a 403, 409 or 422 naming what it refuses, an upload
with the row's error. Who a pilot admits (its majors and cohorts) is
:mod:`app.applications.admission`; these take its problems to name the student."""

from collections.abc import Collection, Sequence
from datetime import date

from app.core.i18n import _


def dates_problem(start: date | None, end: date | None) -> str | None:
    """A training (a teacher's or a batch) ends on or after the day it starts."""
    if start is not None and end is not None and end < start:
        return _(
            "the end date {end} is before the start date {start}; a training ends on or after "
            "it starts",
            end=end,
            start=start,
        )
    return None


def validity_problem(issued_on: date | None, valid_until: date | None) -> str | None:
    """A certificate (a trainer certificate or an evaluator qualification) is valid until a
    day no earlier than the day it was issued."""
    if issued_on is not None and valid_until is not None and valid_until < issued_on:
        return _(
            "valid until {valid_until} is before the issue date {issued_on}",
            valid_until=valid_until,
            issued_on=issued_on,
        )
    return None


def issue_date_problem(issued_on: date, start: date, today: date) -> str | None:
    """A trainer certificate is issued once its training has begun (``start``) and recorded
    once issued (by ``today``)."""
    if issued_on > today:
        return _(
            "the issue date {issued_on} is after today ({today}); a certificate is recorded "
            "once it is issued",
            issued_on=issued_on,
            today=today,
        )
    if issued_on < start:
        return _(
            "the issue date {issued_on} is before the training's start {start}",
            issued_on=issued_on,
            start=start,
        )
    return None


def trainer_number_problem(
    number: str, holder_name: str | None, holder_staff_no: str | None
) -> str | None:
    """A trainer certificate number belongs to one training across the service; the holder
    is the teacher of another training carrying ``number`` (None when none does)."""
    if holder_staff_no is None:
        return None
    return _(
        "trainer certificate number {number} is already held by {name} ({staff_no}); "
        "certificate numbers are unique",
        number=number,
        name=holder_name or holder_staff_no,
        staff_no=holder_staff_no,
    )


def own_pilot_problem(
    application_id: int | None, college_id: int | None, colleges: Collection[int]
) -> str | None:
    """A college manager of ``college_id`` runs the batches (and their enrolments) of a pilot
    with a major of their college; ``colleges`` are those of the pilot's majors."""
    if college_id not in colleges:
        return _(
            "pilot application {id} has no major of your college (id {college_id}); a college "
            "manager runs only their own college's pilots' batches and enrolments",
            id=application_id,
            college_id=college_id,
        )
    return None


def admission_problem(name: str, student_no: str, problems: Sequence[str]) -> str | None:
    """Student ``name`` (``student_no``) is enrolled only where the pilot admits them;
    ``problems`` are what keeps them out (:meth:`app.applications.admission.Admission.problems`)."""
    if not problems:
        return None
    return _(
        "student {name} ({student_no}): {problems}",
        name=name,
        student_no=student_no,
        problems="; ".join(problems),
    )


def attended_problem(attended: int, hours: int) -> str | None:
    """A student attends at most the batch's ``hours``; ``attended`` are (an enrolment's, or
    the most any enrolment of the batch has when its hours change)."""
    if attended > hours:
        return _(
            "{attended} attended hours is more than the batch's {hours} hours",
            attended=attended,
            hours=hours,
        )
    return None
