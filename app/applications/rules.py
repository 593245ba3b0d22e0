"""What a pilot application allows, each rule written once, in one wording, for the single
endpoints and the upload of the 一览表 alike.

Each function answers the problem in words, or None when there is none; the caller refuses with
it in its own way: an endpoint with a 409 or 422 naming what it refused, an upload with the
row's error. Two more rules of an application are written once elsewhere and read the same way:
a plausible cohort for its year (:func:`app.applications.models.cohort_problem`, which the
schemas' module keeps) and a level its certificate offers
(:func:`app.reference.rules.level_problem`); who a pilot admits is
:mod:`app.applications.admission`."""

from app.applications.models import ApplicationStatus
from app.core.i18n import _, translate
from app.core.labels import label


def draft_problem(application_id: int | None, status: ApplicationStatus, action: str) -> str | None:
    """Only a draft application is changed or deleted (``action``, marked with ``N_``: changed
    or deleted); a submitted or decided one stays as it is."""
    if status != ApplicationStatus.draft:
        return _(
            "pilot application {id} is {status}; only a draft application can be {action}",
            id=application_id,
            status=label(status),
            action=translate(action),
        )
    return None


def approved_problem(application_id: int | None, status: ApplicationStatus) -> str | None:
    """A pilot runs its trainings and exams only while approved: batches are opened, students
    enrolled and registered for its exams only then."""
    if status != ApplicationStatus.approved:
        return _(
            "pilot application {id} is {status}, not approved",
            id=application_id,
            status=label(status),
        )
    return None
