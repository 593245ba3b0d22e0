"""The roles of DOMAIN.md and the principal (a user or an API key) a request acts as."""

from dataclasses import dataclass
from enum import StrEnum

from app.core.i18n import N_, _
from app.core.labels import enum_labels, label


class Role(StrEnum):
    admin = "admin"
    academic_office = "academic_office"
    college_manager = "college_manager"
    teacher = "teacher"
    student = "student"
    evaluation_org = "evaluation_org"
    auditor = "auditor"


ROLE_LABELS = enum_labels(
    Role,
    {
        Role.admin: N_("Administrator"),
        Role.academic_office: N_("Academic office"),
        Role.college_manager: N_("College manager"),
        Role.teacher: N_("Teacher"),
        Role.student: N_("Student"),
        Role.evaluation_org: N_("Evaluation organisation"),
        Role.auditor: N_("Auditor"),
    },
)

READ_ALL: frozenset[Role] = frozenset({Role.admin, Role.academic_office, Role.auditor})
"""Read every row of every domain, unscoped."""

READ_ALL_OR_COLLEGE: frozenset[Role] = READ_ALL | {Role.college_manager}
"""Read a domain's reports: ``READ_ALL`` everything, a college manager their own college's."""

OFFICE: frozenset[Role] = frozenset({Role.academic_office})
"""Write a domain's rows that belong to no one college (the default writers of an upload)."""

OFFICE_OR_COLLEGE: frozenset[Role] = frozenset({Role.academic_office, Role.college_manager})
"""Write a college's rows: the academic office any college's, a college manager their own."""

UPLOADERS: frozenset[Role] = OFFICE_OR_COLLEGE | {Role.evaluation_org}
"""Upload a file: the office any kind, a college manager their college's rows, an evaluation
organisation its sessions' results and certificates (each kind names its own writers)."""

SCOPE_FIELD_BY_ROLE: dict[Role, str] = {
    Role.college_manager: "college_id",
    Role.teacher: "teacher_id",
    Role.student: "student_id",
    Role.evaluation_org: "evaluation_org_id",
}
"""The one scope field each scoped role must carry; the other roles carry none."""

SCOPE_FIELDS = ("college_id", "teacher_id", "student_id", "evaluation_org_id")


def scope_problems(role: Role, scope: dict[str, int | None]) -> list[dict[str, str]]:
    """What is wrong with ``scope`` for ``role``: the required field missing, another one set."""
    required = SCOPE_FIELD_BY_ROLE.get(role)
    problems = []
    for field in SCOPE_FIELDS:
        value = scope.get(field)
        if field == required and value is None:
            problems.append(
                {
                    "field": f"body.{field}",
                    "message": _("required for role {role}", role=label(role)),
                }
            )
        elif field != required and value is not None:
            allowed = _("only {field}", field=required) if required else _("no scope field")
            problems.append(
                {
                    "field": f"body.{field}",
                    "message": _(
                        "not allowed for role {role} (it takes {allowed})",
                        role=label(role),
                        allowed=allowed,
                    ),
                }
            )
    return problems


@dataclass(frozen=True)
class Principal:
    """Who is acting: a logged-in user or an API key, with its role and scope."""

    role: Role
    label: str
    user_id: int | None = None
    api_key_id: int | None = None
    college_id: int | None = None
    teacher_id: int | None = None
    student_id: int | None = None
    evaluation_org_id: int | None = None

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles
