"""What an exam session allows, each rule written once, in one wording, for the single endpoints
and the uploads alike (a registration or a result one at a time, or a file of them).

Each function answers the problem in words, or None when there is none; the caller refuses with
it in its own way: an endpoint with a 409 or 422 naming the registration, an upload with the
row's error. Who a pilot admits (its majors and cohorts) is :mod:`app.applications.admission`."""

from datetime import date

from app.core.i18n import _


def window_problem(exam_id: int | None, opens: date, closes: date, today: date) -> str | None:
    """Registration (and cancelling one) is open from ``opens`` to the end of ``closes``."""
    if today < opens:
        return _(
            "registration for session {id} opens on {opens}; today is {today}",
            id=exam_id,
            opens=opens,
            today=today,
        )
    if today > closes:
        return _(
            "registration for session {id} closed at the end of {closes}; today is {today}",
            id=exam_id,
            closes=closes,
            today=today,
        )
    return None


def full_problem(exam_id: int | None, taken: int, capacity: int) -> str | None:
    """A session seats at most ``capacity`` live registrations; ``taken`` are."""
    if taken >= capacity:
        return _(
            "session {id} is full: all {capacity} seats are taken", id=exam_id, capacity=capacity
        )
    return None


def headcount_problem(application_id: int | None, counted: int, headcount: int) -> str | None:
    """A pilot registers at most its declared ``headcount`` of students across its sessions;
    ``counted`` are, the student at hand not among them (one already counted takes no more)."""
    if counted >= headcount:
        return _(
            "pilot application {id}'s headcount of {headcount} students is reached across its "
            "sessions",
            id=application_id,
            headcount=headcount,
        )
    return None


def held_problem(exam_id: int | None, exam_date: date, today: date) -> str | None:
    """Absences and results are recorded from the exam date on."""
    if today < exam_date:
        return _(
            "session {id}'s exam is on {exam_date} (today is {today}); absences and results "
            "are recorded from the exam date on",
            id=exam_id,
            exam_date=exam_date,
            today=today,
        )
    return None


def certified_pass_problem(number: str | None) -> str | None:
    """A pass holding the valid certificate ``number`` is not changed to a fail."""
    if number is not None:
        return _(
            "the result has the valid certificate {number}; revoke it before changing the "
            "result to not passed",
            number=number,
        )
    return None


def paid_pass_problem(voucher: str | None) -> str | None:
    """A pass with the standing subsidy payment ``voucher`` is not changed to a fail."""
    if voucher is not None:
        return _(
            "the pass has the standing subsidy payment {voucher}; reverse the payment (红冲, "
            "POST /api/v1/expenditures/{{id}}/reverse) before changing the result to not passed",
            voucher=voucher,
        )
    return None
