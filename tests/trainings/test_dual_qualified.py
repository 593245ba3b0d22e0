"""Teachers' 双师型 (dual-qualified) recognition: set and withdrawn by the academic office only,
uploaded through the import engine; the share per pilot and per college on a day, the figure
in the overview and the evaluation indicator (off in a scheme that does not weigh it)."""

import csv
import io
from datetime import timedelta

from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.applications.models import ApplicationStatus
from app.core.audit import AuditEvent
from app.core.roles import Role
from app.reference.models import DualBasis, Teacher
from tests.applications.factories import make_application
from tests.evaluations.factories import SCHEMES, YEAR, build_pilot, compute, indicator
from tests.exams.factories import school_today
from tests.imports.helpers import upload
from tests.reference.factories import (
    headers_for,
    make_college,
    make_major,
    make_teacher,
    manager_of,
    office,
)
from tests.trainings.factories import assign

TEACHERS = "/api/v1/teachers"
REPORT = "/api/v1/reports/dual-qualified"


def _recognise(
    db: Session, teacher: Teacher, days_ago: int = 30, lapses_in: int | None = None
) -> None:
    today = school_today()
    teacher.dual_basis = DualBasis.enterprise_experience
    teacher.dual_recognised_on = today - timedelta(days=days_ago)
    teacher.dual_valid_until = None if lapses_in is None else today + timedelta(days=lapses_in)
    db.add(teacher)
    db.commit()


def test_the_office_recognises_and_withdraws_and_nobody_else_may(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    teacher = make_teacher(db, college)
    headers = office(db)
    url = f"{TEACHERS}/{teacher.id}/dual-qualification"
    body = {"basis": "vocational_certificate", "recognised_on": "2022-09-01"}

    by_manager = client.put(url, json=body, headers={**manager_of(db, college), "If-Match": '"1"'})
    by_other_manager = client.put(
        url, json=body, headers={**manager_of(db, make_college(db)), "If-Match": '"1"'}
    )
    by_auditor = client.put(
        url, json=body, headers={**headers_for(db, Role.auditor), "If-Match": '"1"'}
    )
    backwards = client.put(
        url, json={**body, "valid_until": "2022-08-01"}, headers={**headers, "If-Match": '"1"'}
    )
    stale = client.put(url, json=body, headers={**headers, "If-Match": '"7"'})
    recognised = client.put(url, json=body, headers={**headers, "If-Match": '"1"'})
    read = client.get(f"{TEACHERS}/{teacher.id}", headers=manager_of(db, college))
    filtered = client.get(
        TEACHERS, params={"dual_basis": "vocational_certificate"}, headers=headers
    )
    exported = client.get(TEACHERS, params={"format": "csv"}, headers=headers)
    withdrawn = client.delete(url, headers={**headers, "If-Match": recognised.headers["etag"]})
    again = client.delete(url, headers={**headers, "If-Match": withdrawn.headers["etag"]})

    assert by_manager.status_code == 403
    # Refused for the role before any teacher is looked up, their college's or another's.
    assert by_other_manager.status_code == 403
    assert by_auditor.status_code == 403
    assert backwards.status_code == 422
    assert stale.status_code == 412
    assert recognised.status_code == 200, recognised.text
    assert recognised.json()["dual_qualification"] == {
        "basis": "vocational_certificate",
        "basis_name": "Vocational skill certificate",
        "recognised_on": "2022-09-01",
        "valid_until": None,
    }
    assert read.json()["dual_qualification"]["basis"] == "vocational_certificate"
    assert [t["id"] for t in filtered.json()["items"]] == [teacher.id]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][-3:] == ["Dual-qualified basis", "Dual-qualified since", "Dual-qualified until"]
    assert rows[1][-3:] == ["Vocational skill certificate", "2022-09-01", ""]
    assert withdrawn.status_code == 200 and withdrawn.json()["dual_qualification"] is None
    assert again.status_code == 409 and again.json()["code"] == "not_dual_qualified"
    actions = db.exec(
        select(AuditEvent.action).where(
            AuditEvent.entity == "teacher", AuditEvent.entity_id == str(teacher.id)
        )
    ).all()
    assert sorted(actions) == ["clear_dual_qualification", "set_dual_qualification"]


def test_the_share_per_pilot_and_college_on_a_day_and_in_the_overview(
    client: TestClient, db: Session
) -> None:
    college, other = make_college(db, "一学院"), make_college(db, "二学院")
    pilot = make_application(
        db, majors=[make_major(db, college)], status=ApplicationStatus.approved
    )
    dual, lapsed, future, plain = (make_teacher(db, college) for _ in range(4))
    elsewhere = make_teacher(db, other)
    _recognise(db, dual)
    _recognise(db, lapsed, days_ago=400, lapses_in=-1)
    _recognise(db, future, days_ago=-10)
    _recognise(db, elsewhere)
    assign(db, pilot, dual, lapsed, future, plain)
    headers = office(db)

    today = client.get(REPORT, headers=headers).json()
    earlier = client.get(
        REPORT, params={"as_of": str(school_today() - timedelta(days=100))}, headers=headers
    ).json()
    later = client.get(
        REPORT, params={"as_of": str(school_today() + timedelta(days=20))}, headers=headers
    ).json()
    overview = client.get("/api/v1/reports/overview", headers=headers).json()
    manager_view = client.get(REPORT, headers=manager_of(db, other)).json()
    exported = client.get(REPORT, params={"format": "csv"}, headers=headers)
    teacher_view = client.get(REPORT, headers=headers_for(db, Role.teacher))

    row = today["pilots"][0]
    assert (row["teachers"], row["dual_qualified"], row["share_percent"]) == (4, 1, 25.0)
    assert row["majors"] and row["application_id"] == pilot.id
    assert earlier["pilots"][0]["dual_qualified"] == 1  # the lapsed one, still valid then
    assert later["pilots"][0]["dual_qualified"] == 2  # the future one, recognised by then
    colleges = {c["college_name"]: c["share_percent"] for c in today["colleges"]}
    assert colleges == {"一学院": 25.0, "二学院": 100.0}
    assert today["overall"] == {"teachers": 5, "dual_qualified": 2, "share_percent": 40.0}
    assert today["pilot_teachers"]["share_percent"] == 25.0
    assert overview["dual_qualified"]["share_percent"] == 40.0
    assert overview["dual_qualified_pilot_teachers"]["share_percent"] == 25.0
    assert [c["college_name"] for c in manager_view["colleges"]] == ["二学院"]
    assert manager_view["pilots"] == []
    assert "Dual-qualified share" in exported.content.decode("utf-8-sig")
    assert teacher_view.status_code == 403


def test_the_indicator_is_off_in_a_scheme_that_does_not_weigh_it_and_counts_when_weighed(
    client: TestClient, db: Session
) -> None:
    built = build_pilot(db)
    teachers = [make_teacher(db, built.college) for _ in range(3)]
    _recognise(db, teachers[0], days_ago=3000)  # recognised before the evaluated year ends
    assign(db, built.pilot, *teachers)
    headers = office(db)

    defaults = client.get(f"{SCHEMES}/{YEAR}", headers=headers).json()
    off = compute(client, headers).json()["evaluations"][0]
    weights = {w["key"]: w["weight"] for w in defaults["weights"]}
    weights.update({"dual_qualified_share": 10, "conversions_approved": 0, "plans_on_time": 0})
    put = client.put(
        f"{SCHEMES}/{YEAR}",
        json={
            "weights": weights,
            "committee_weight": 20,
            "thresholds": {"excellent": "90", "good": "75", "qualified": "60"},
        },
        headers=headers,
    )
    on = compute(client, headers).json()["evaluations"][0]

    assert weights["dual_qualified_share"] == 10
    assert {w["key"]: w["weight"] for w in defaults["weights"]}["dual_qualified_share"] == 0
    figure = indicator(off, "dual_qualified_share")
    assert figure["value"] == "25.0"  # 1 of the 4 assigned (the pilot's certified trainer too)
    assert (figure["weight"], figure["counted"]) == (0, False)
    assert put.status_code == 200, put.text
    assert indicator(on, "dual_qualified_share")["counted"] is True


def test_recognitions_upload_for_existing_teachers_only_and_office_only(
    client: TestClient, db: Session
) -> None:
    college = make_college(db)
    teacher = make_teacher(db, college)
    content = (
        f"工号,认定依据,认定日期,有效期至\n{teacher.staff_no},企业实践经历,2022-09-01,2027-08-31\n"
    )
    headers = office(db)

    first = upload(client, headers, "dual-qualifications", "d.csv", content.encode())
    second = upload(client, headers, "dual-qualifications", "d.csv", content.encode())
    unknown = upload(
        client,
        headers,
        "dual-qualifications",
        "u.csv",
        "工号,认定依据,认定日期\nNOBODY,企业实践经历,2022-09-01\n".encode(),
    )
    by_manager = upload(
        client, manager_of(db, college), "dual-qualifications", "d.csv", content.encode()
    )

    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["updated"]) == (0, 1)
    assert second.json()["unchanged"] == 1
    assert unknown.status_code == 422
    assert by_manager.status_code == 403
    db.refresh(teacher)
    assert teacher.dual_basis == DualBasis.enterprise_experience
    assert str(teacher.dual_valid_until) == "2027-08-31"
