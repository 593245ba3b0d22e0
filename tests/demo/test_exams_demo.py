"""The demo has a held exam session with results and certificates, and an open one."""

from sqlmodel import Session, col, select

from app.demo.loader import load_demo
from app.exams.models import ExamRegistration, ExamResult, ExamSession, IssuedCertificate


def test_demo_has_a_held_session_with_results_and_certificates(db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created

    assert len(db.exec(select(ExamSession)).all()) == 2
    assert len(db.exec(select(ExamRegistration)).all()) == 8
    assert len(db.exec(select(ExamResult).where(col(ExamResult.passed).is_(True))).all()) == 6
    assert len(db.exec(select(IssuedCertificate)).all()) == 6
