"""A list that reads its page as plain rows (``Listing.item_columns``) answers the very bytes the
ORM path answered: each of them, on the demo, against the page built from ORM entities and the
row mapper the rest of the service uses (``model_dump`` then ``model_validate``), for its JSON
pages, its read-one and its export's rows."""

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from app.applications.models import (
    ApplicationCohort,
    ApplicationFilters,
    ApplicationListed,
    ApplicationMajor,
    ApplicationMajorPublic,
    ApplicationPublic,
    ApplicationStatus,
    PilotApplication,
    PilotPlan,
)
from app.applications.service import APPLICATIONS, allowed_actions
from app.core.export import item_rows
from app.core.listing import Listing
from app.core.pagination import Page
from app.core.roles import Principal, Role
from app.demo.loader import load_demo
from app.reference.models import College, Major, StudentFilters, StudentPublic
from app.reference.service import STUDENTS, student_public
from tests.reference.factories import office


def _application_listed(db: Session, row: Any) -> ApplicationListed:
    """An application as the ORM path built it: its entity dumped, its majors (with college and
    plan, by code) and cohorts read on their own, all validated again."""
    application, certificate_name = row
    links = db.exec(
        select(Major, College, PilotPlan)
        .join(ApplicationMajor, col(ApplicationMajor.major_id) == Major.id)
        .join(College, col(College.id) == Major.college_id)
        .outerjoin(
            PilotPlan,
            (col(PilotPlan.application_id) == ApplicationMajor.application_id)
            & (col(PilotPlan.major_id) == ApplicationMajor.major_id),
        )
        .where(ApplicationMajor.application_id == application.id)
        .order_by(col(Major.code), col(Major.id))
    ).all()
    majors = [
        ApplicationMajorPublic(
            id=major.id,
            code=major.code,
            name=major.name,
            college_id=college.id,
            college_name=college.name,
            plan_id=plan.id if plan else None,
            plan_status=plan.status if plan else None,
        )
        for major, college, plan in links
    ]
    cohorts = sorted(
        db.exec(
            select(ApplicationCohort.cohort).where(
                ApplicationCohort.application_id == application.id
            )
        ).all()
    )
    filed = sum(1 for m in majors if m.plan_status in {"filed", "acknowledged"})
    return ApplicationListed.model_validate(
        {
            **application.model_dump(),
            "certificate_name": certificate_name,
            "majors": majors,
            "cohorts": cohorts,
            "allowed_actions": allowed_actions(application.status),
            "major_names": [m.name for m in majors],
            "cohort_labels": [f"{c}级" for c in cohorts],
            "plans_filed": f"{filed}/{len(majors)}",
        }
    )


def _student(_db: Session, row: Any) -> StudentPublic:
    return student_public(row)


PAGED_BY_COLUMNS: list[
    tuple[str, Listing[Any, Any], type[BaseModel], type[Any], Callable[[Session, Any], Any]]
] = [
    ("/api/v1/students", STUDENTS, StudentFilters, StudentPublic, _student),
    (
        "/api/v1/applications",
        APPLICATIONS,
        ApplicationFilters,
        ApplicationPublic,
        _application_listed,
    ),
]


def test_plain_row_pages_answer_the_orm_pages_bytes(
    client: TestClient, db: Session, engine: Engine
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    for path, listing, filters, item, row_mapper in PAGED_BY_COLUMNS:
        assert listing.item_columns, path
        statement = listing.scoped(db, _principal(), filters()).order_by(*listing.order)
        rows = db.exec(statement).all()
        assert len(rows) > 3, f"{path} has too few rows in the demo to prove anything"
        expected_items = [row_mapper(db, row) for row in rows]
        adapter = TypeAdapter(Page[item])  # type: ignore[valid-type]
        for limit in (1, 3, len(rows)):
            answer = client.get(path, params={"limit": limit}, headers=headers)
            assert answer.status_code == 200, answer.text
            expected = adapter.validate_python(
                {
                    "items": expected_items[:limit],
                    "total": len(rows),
                    "limit": limit,
                    "offset": 0,
                    "next": answer.json()["next"],
                }
            )
            assert answer.content == adapter.dump_json(expected, by_alias=True), (path, limit)
        one = listing.one(db, _principal(), rows[1][0].id)
        assert TypeAdapter(item).dump_json(one) == TypeAdapter(item).dump_json(expected_items[1]), (
            path
        )
        with Session(engine) as reading:  # an export reads by a server-side cursor
            exported = [list(r) for r in listing.export_rows(reading, _principal(), filters())]
        assert exported == list(item_rows(expected_items, listing.columns)), path
        assert exported, path


def test_the_applications_list_covers_majors_plans_and_cohorts(db: Session) -> None:
    """The demo's applications exercise what the page batches: several majors, plans filed and
    not, several cohorts (else the bytes test above would prove little)."""
    assert load_demo(db, "admin", "demo-password-123").created
    items = APPLICATIONS.page(db, _principal(), ApplicationFilters(), _all()).items
    assert any(len(a.majors) > 1 for a in items)
    assert any(len(a.cohorts) > 1 for a in items)
    assert any(m.plan_id is not None for a in items for m in a.majors)
    assert any(m.plan_id is None for a in items for m in a.majors)


def test_an_edited_application_answers_as_the_list_shows_it(
    client: TestClient, db: Session
) -> None:
    assert load_demo(db, "admin", "demo-password-123").created
    headers = office(db)
    draft = db.exec(select(PilotApplication).order_by(col(PilotApplication.id))).first()
    assert draft is not None
    draft.status = ApplicationStatus.draft  # only a draft is edited
    db.add(draft)
    db.commit()
    before = client.get(f"/api/v1/applications/{draft.id}", headers=headers)
    changed = client.patch(
        f"/api/v1/applications/{draft.id}",
        json={"contact": "王老师"},
        headers={**headers, "If-Match": before.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    listed = client.get(
        "/api/v1/applications", params={"year": draft.year, "limit": 500}, headers=headers
    ).json()["items"]
    assert changed.json() == next(a for a in listed if a["id"] == draft.id)


def _principal() -> Principal:
    return Principal(role=Role.academic_office, label="test")


def _all() -> Any:
    from app.core.pagination import MAX_LIMIT, PageParams

    return PageParams(limit=MAX_LIMIT)
