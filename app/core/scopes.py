"""Which rows a caller reads: a list's statement limited to the caller's scope, declared once per
list as a column (or clause) for each scoped role.

The office, auditors and admins (``READ_ALL``) read every row. A scoped role reads the rows whose
column holds its own scope id (a college manager's college, a teacher's or student's own id, an
evaluation organisation's id: ``SCOPE_FIELD_BY_ROLE``). Any other role is refused 403, naming the
roles that read the list. An id the caller lacks compares as -1, which no row holds."""

from collections.abc import Callable
from types import FunctionType
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from app.core.errors import Forbidden
from app.core.i18n import _, translate
from app.core.labels import label
from app.core.roles import READ_ALL, SCOPE_FIELD_BY_ROLE, Principal, Role


def limit_to_scope(statement: Any, principal: Principal, what: str, **scopes: Any) -> Any:
    """``statement`` limited to the rows of ``what`` (an ``N_`` msgid: "exam registrations")
    that ``principal`` reads.

    ``scopes`` maps a scoped role's name to the column that holds the caller's own id
    (``college_manager=Major.college_id``), or to a function of that id giving the clause
    (``evaluation_org=lambda own: ...``, often :func:`through`): that role reads only those
    rows, the ``READ_ALL`` roles every row, and any other role is refused."""
    role = principal.role
    scope = scopes.get(role.value)
    if scope is not None:
        own = getattr(principal, SCOPE_FIELD_BY_ROLE[role]) or -1
        return statement.where(scope(own) if isinstance(scope, FunctionType) else scope == own)
    if role in READ_ALL:
        return statement
    readers = READ_ALL | {Role(name) for name in scopes}
    raise Forbidden(
        _("Role {role} may not read {what}", role=label(role), what=translate(what)),
        allowed_roles=sorted(r.value for r in readers),
    )


def through(column: Any, picked: Any, owner: Any) -> Callable[[Any], Any]:
    """A scope reached through another table: the rows whose ``column`` is one of the
    ``picked`` values of the rows ``owner`` ties to the caller's id. A college manager's issued
    certificates: ``through(Student.major_id, Major.id, Major.college_id)``."""

    def clause(own: Any) -> Any:
        return col(column).in_(sa.select(picked).where(owner == own))

    return clause
