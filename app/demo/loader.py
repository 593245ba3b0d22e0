"""Load the demo data into an empty database and say how to log in."""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from app.accounts import service as accounts
from app.accounts.models import User, UserCreate
from app.core.roles import Role

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class DemoContext:
    """What the steps share: the demo password and the logins they created."""

    password: str
    logins: list[tuple[str, Role, str]] = field(default_factory=list)

    def add_user(
        self, session: Session, username: str, role: Role, full_name: str, **scope: int
    ) -> User:
        data = UserCreate.model_validate(
            {
                "username": username,
                "password": self.password,
                "role": role,
                "full_name": full_name,
                **scope,
            }
        )
        user = accounts.create_user(session, None, data)
        self.logins.append((username, role, full_name))
        return user


def _platform_users(session: Session, ctx: DemoContext) -> None:
    ctx.add_user(session, "office", Role.academic_office, "教务处 王老师")
    ctx.add_user(session, "auditor", Role.auditor, "试点工作领导小组 审计")


DemoStep = Callable[[Session, DemoContext], None]
STEPS: list[DemoStep] = [_platform_users]


@dataclass
class DemoResult:
    created: bool
    admin_username: str
    password: str | None
    logins: list[tuple[str, Role, str]]


def load_demo(session: Session, admin_username: str, password: str) -> DemoResult:
    """Create the admin and run every demo step, unless the database already has users."""
    if session.exec(select(User.id).limit(1)).first() is not None:
        return DemoResult(created=False, admin_username=admin_username, password=None, logins=[])
    ctx = DemoContext(password=password)
    ctx.add_user(session, admin_username, Role.admin, "Administrator")
    for step in STEPS:
        step(session, ctx)
    return DemoResult(
        created=True, admin_username=admin_username, password=password, logins=ctx.logins
    )


def credentials_file(database_url: str) -> Path:
    """Where ``make run`` keeps the demo password, beside the SQLite file (mode 600)."""
    base = Path("data")
    if database_url.startswith("sqlite:///"):
        base = Path(database_url.removeprefix("sqlite:///")).parent
    return base / "demo-login.txt"


def remember_password(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)
