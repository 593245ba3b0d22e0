"""Which students a pilot admits: those of one of its majors and of one of its cohorts (a pilot
application declares both; a student outside them may not train or sit its exam).

One rule, in its two forms, for every path that puts a student in a pilot or shows them one: a
training enrolment and an exam registration, one at a time or by upload (:class:`Admission`,
read for one pilot or for all of them at once), and what a student may read (:func:`admitting`,
the same rule as SQL)."""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.applications.models import ApplicationCohort, ApplicationMajor, PilotApplication
from app.core.i18n import _
from app.reference.models import Major, Student


@dataclass
class Admission:
    """A pilot's majors (id → name), the colleges they belong to, and its cohorts."""

    majors: dict[int, str] = field(default_factory=dict)
    colleges: set[int] = field(default_factory=set)
    cohorts: set[int] = field(default_factory=set)

    def problems(
        self, major_id: int, cohort: int, major_name: Callable[[int], str | None]
    ) -> list[str]:
        """What keeps a student of ``major_id`` and ``cohort`` out of the pilot, in words;
        empty when the pilot admits them. ``major_name`` names the student's major (asked only
        when it is not one of the pilot's)."""
        problems = []
        if major_id not in self.majors:
            problems.append(
                _(
                    "major {major} is not among the pilot's majors ({majors})",
                    major=major_name(major_id) or major_id,
                    majors="、".join(sorted(self.majors.values())),
                )
            )
        if cohort not in self.cohorts:
            problems.append(
                _(
                    "cohort {cohort}级 is not among the pilot's cohorts ({cohorts})",
                    cohort=cohort,
                    cohorts="、".join(f"{c}级" for c in sorted(self.cohorts)),
                )
            )
        return problems


def admissions(
    session: Session, application_ids: Iterable[int] | None = None
) -> defaultdict[int, Admission]:
    """The admission of each pilot of ``application_ids`` (every pilot when None), in two
    statements however many; a pilot without majors or cohorts admits nobody."""
    found: defaultdict[int, Admission] = defaultdict(Admission)
    majors = sa.select(  # type: ignore[call-overload]
        ApplicationMajor.application_id, Major.id, Major.name, Major.college_id
    ).join(Major, col(Major.id) == ApplicationMajor.major_id)
    cohorts = sa.select(ApplicationCohort.application_id, ApplicationCohort.cohort)  # type: ignore[call-overload]
    if application_ids is not None:
        ids = list(application_ids)
        majors = majors.where(col(ApplicationMajor.application_id).in_(ids))
        cohorts = cohorts.where(col(ApplicationCohort.application_id).in_(ids))
    for app_id, major_id, name, college_id in session.execute(majors):
        found[app_id].majors[major_id] = name
        found[app_id].colleges.add(college_id)
    for app_id, cohort in session.execute(cohorts):
        found[app_id].cohorts.add(cohort)
    return found


def admission(session: Session, application_id: int) -> Admission:
    """The admission of pilot ``application_id``."""
    return admissions(session, [application_id])[application_id]


def major_name(session: Session) -> Callable[[int], str | None]:
    """A major's name by id, read when asked (for :meth:`Admission.problems`)."""

    def name(major_id: int) -> str | None:
        major = session.get(Major, major_id)
        return major.name if major is not None else None

    return name


def admitting(student_id: int) -> Any:
    """The pilot applications that admit student ``student_id``, as a condition on
    ``PilotApplication`` (the student's major among its majors, their cohort among its
    cohorts)."""
    return sa.and_(
        col(PilotApplication.id).in_(
            select(ApplicationMajor.application_id).where(
                col(ApplicationMajor.major_id).in_(
                    select(Student.major_id).where(Student.id == student_id)
                )
            )
        ),
        col(PilotApplication.id).in_(
            select(ApplicationCohort.application_id).where(
                col(ApplicationCohort.cohort).in_(
                    select(Student.cohort).where(Student.id == student_id)
                )
            )
        ),
    )
