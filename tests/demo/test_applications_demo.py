"""The demo imports the 2022 table as approved and files two work plans."""

from sqlmodel import Session, func, select

from app.applications.models import ApplicationStatus, PilotApplication, PilotPlan, PlanStatus
from app.demo.loader import load_demo


def test_demo_has_the_2022_pilots_approved_and_two_filed_plans(db: Session) -> None:
    assert load_demo(db, "admin", "demo-password-123").created

    statuses = db.exec(select(PilotApplication.status)).all()
    headcount = db.exec(select(func.sum(PilotApplication.headcount))).one()
    plans = db.exec(select(PilotPlan.status)).all()

    assert len(statuses) == 32
    assert set(statuses) == {ApplicationStatus.approved}
    assert headcount == 3300
    assert plans == [PlanStatus.filed, PlanStatus.filed]
