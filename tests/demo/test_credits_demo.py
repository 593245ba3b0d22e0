"""The demo loads the sample conversion rules and shows the demo student's credit bank: one
conversion approved, one pending, one more course still open to claim."""

from sqlmodel import Session, col, select

from app.core.roles import Principal, Role
from app.credits import ledger as credit_ledger
from app.credits import requests
from app.credits.models import ConversionRequest, ConversionRule, RequestStatus
from app.demo.loader import load_demo
from app.reference.models import Student


def test_demo_student_has_an_approved_and_a_pending_conversion(db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created

    assert len(db.exec(select(ConversionRule)).all()) == 32
    student = db.exec(select(Student).order_by(col(Student.student_no))).first()
    assert student is not None and student.id is not None
    statuses = sorted(
        r.status.value
        for r in db.exec(
            select(ConversionRequest).where(ConversionRequest.student_id == student.id)
        ).all()
    )
    assert statuses == [RequestStatus.approved.value, RequestStatus.submitted.value]
    me = Principal(role=Role.student, label="student", student_id=student.id)
    ledger = credit_ledger.ledger(db, me, student.id)
    assert str(ledger.totals.credits) == "4.0"
    options = requests.conversion_options(db, me, student.id)
    assert [o.course_code for o in options.items] == ["C5102032"]
