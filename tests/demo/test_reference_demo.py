"""The demo loads the reference data through the import engine."""

from sqlmodel import Session, col, func, select

from app.accounts.models import User
from app.core.roles import Role
from app.demo.loader import load_demo
from app.imports.models import ImportBatch
from app.reference.models import College, Major, Student


def test_demo_loads_sample_majors_students_and_scoped_logins(db: Session) -> None:
    result = load_demo(db, "admin", "demo-password-123")
    assert result.created
    assert db.exec(select(func.count()).select_from(College)).one() == 8
    assert db.exec(select(func.count()).select_from(Major)).one() == 37
    assert db.exec(select(func.count()).select_from(Student)).one() == 30
    reference_batches = select(func.count()).where(
        col(ImportBatch.kind).notin_(["applications", "issued-certificates", "credit-rules"])
    )
    assert db.exec(reference_batches).one() == 6
    manager = db.exec(select(User).where(User.username == "college")).one()
    college = db.get(College, manager.college_id)
    assert manager.role == Role.college_manager
    assert college is not None
    assert college.name == "计算机与软件学院"
    logins = {username for username, _, _ in result.logins}
    assert {"college", "teacher", "student"} <= logins
