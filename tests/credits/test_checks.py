"""Each rule of a conversion rule is written once (:mod:`app.credits.checks`): its boundaries,
and the same words whether a rule is written one at a time or by the ``credit-rules`` upload."""

from datetime import date

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app.credits.checks import (
    overlap_problem,
    period_problem,
    used_change_problem,
)
from app.credits.models import ConversionRule
from tests.credits.factories import issue_certificate, make_rule
from tests.imports.helpers import upload
from tests.reference.factories import (
    make_certificate,
    make_course,
    make_major,
    make_student,
    office,
)

DAY = date(2023, 9, 1)


def test_a_period_may_be_one_day_but_not_end_before_it_starts() -> None:
    assert period_problem(DAY, DAY) is None
    assert period_problem(None, DAY) is None and period_problem(DAY, None) is None
    assert period_problem(DAY, date(2023, 8, 31)) == (
        "the rule would end on 2023-08-31, before it starts on 2023-09-01"
    )


@pytest.mark.parametrize(
    ("start", "end", "overlaps"),
    [
        (date(2023, 9, 1), None, False),  # the day after the other ends
        (date(2023, 8, 31), None, True),  # the other's last day
        (None, date(2022, 12, 31), False),  # the day before the other starts
        (None, date(2023, 1, 1), True),  # the other's first day
        (None, None, True),
    ],
)
def test_two_rules_meet_when_they_share_a_day(
    start: date | None, end: date | None, overlaps: bool
) -> None:
    problem = overlap_problem(3, date(2023, 1, 1), date(2023, 8, 31), start, end)
    assert (problem is not None) == overlaps
    if overlaps:
        assert problem is not None and problem.startswith(
            "conversion rule 3 already maps this certificate to this course for "
            "2023-01-01 – 2023-08-31, which overlaps"
        )


def test_an_open_period_meets_every_other() -> None:
    assert overlap_problem(3, None, None, DAY, DAY) is not None
    assert overlap_problem(3, None, date(2023, 8, 31), DAY, None) is None


def test_a_used_rule_changes_only_its_end_and_notes_in_place() -> None:
    assert used_change_problem(5, False, ["credits", "major_ids"]) is None
    assert used_change_problem(5, True, ["effective_to", "notes"]) is None
    assert used_change_problem(5, True, []) is None
    assert used_change_problem(5, True, ["notes", "major_ids", "credits"]) == (
        "conversion rule 5 was used by conversion requests, so a change of credits, major_ids "
        "closes it and opens a new version"
    )


HEADER = "证书名称\t最低级别\t课程代码\t课程名称\t学分\t转换方式\t适用专业\t生效日期\n"


def test_an_overlap_is_refused_in_the_same_words_alone_and_by_upload(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    certificate, course, major = make_certificate(db), make_course(db), make_major(db)
    earlier = make_rule(db, certificate, [major], course=course, effective_to=date(2023, 8, 31))
    later = make_rule(db, certificate, [major], course=course, effective_from=DAY)

    alone = client.patch(
        f"/api/v1/credit-rules/{later.id}", json={"effective_from": "2023-01-01"}, headers=headers
    )
    cells = f"{certificate.name}\t中级\t{course.code}\t{course.name}\t4\t替换\t{major.code}"
    row = cells + "\t2023-01-01\n"
    uploaded = upload(client, headers, "credit-rules", "r.tsv", (HEADER + row).encode())

    expected = overlap_problem(earlier.id, None, date(2023, 8, 31), date(2023, 1, 1), None)
    assert expected is not None
    assert alone.status_code == 409 and alone.json()["code"] == "duplicate"
    assert alone.json()["detail"] == (
        f"Cannot save the conversion rule: {expected}; change that rule (a used one gets a "
        "new version) or close it first"
    )
    assert uploaded.status_code == 422
    assert [(e["column"], e["reason"]) for e in uploaded.json()["errors"]] == [
        ("生效日期", expected)
    ]
    db.expire_all()
    assert db.get(ConversionRule, later.id).effective_from == DAY  # type: ignore[union-attr]


def test_an_upload_changes_a_used_rule_as_patch_does_in_place(
    client: TestClient, db: Session
) -> None:
    headers = office(db)
    major = make_major(db)
    certificate, course = make_certificate(db), make_course(db)
    rule = make_rule(db, certificate, [major], course=course, effective_from=date(2022, 1, 1))
    student = make_student(db, major)
    issued = issue_certificate(db, student, certificate)
    filed = client.post(
        "/api/v1/conversion-requests",
        json={"student_id": student.id, "issued_certificate_id": issued.id, "rule_id": rule.id},
        headers=headers,
    )
    assert filed.status_code == 201, filed.text
    header = HEADER.rstrip("\n") + "\t失效日期\t备注\n"
    cells = (
        f"{certificate.name}\t中级\t{course.code}\t{course.name}\t{{credits}}\t替换\t{major.code}"
    )

    closed = upload(
        client,
        headers,
        "credit-rules",
        "r.tsv",
        (header + cells.format(credits=4) + "\t2022-01-01\t2026-08-31\t停用\n").encode(),
    )
    changed = upload(
        client,
        headers,
        "credit-rules",
        "r.tsv",
        (header + cells.format(credits=3) + "\t2022-01-01\t2026-08-31\t停用\n").encode(),
    )

    assert closed.status_code == 200, closed.text
    assert closed.json()["updated"] == 1
    assert changed.status_code == 422
    (error,) = changed.json()["errors"]
    problem = used_change_problem(rule.id, True, ["credits"])
    assert problem is not None and error["reason"].startswith(problem)
    assert f"PATCH /api/v1/credit-rules/{rule.id}" in error["reason"]
    db.expire_all()
    rules = db.exec(select(ConversionRule)).all()
    assert [(r.id, r.effective_to, r.notes) for r in rules] == [
        (rule.id, date(2026, 8, 31), "停用")
    ]
