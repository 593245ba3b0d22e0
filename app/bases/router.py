"""HTTP for training bases (实训基地). Every list also exports as CSV or XLSX (``format``)."""

from app.bases import models, service
from app.core.auth import Today
from app.core.roles import OFFICE_OR_COLLEGE
from app.core.routes import Routes, domain_router

router = domain_router("/training-bases", "training-bases")

bases = Routes(
    router,
    models.BasePublic,
    id_name="base_id",
    read=service.BASES.one,
    noun="实训基地",
    writers=OFFICE_OR_COLLEGE,
)
bases.list(
    service.BASES,
    """Training bases by name, with their partner enterprises, the certificates and pilots they
    serve, their stations and whether they are a registered exam site; every role reads every
    base (a school facility the exam timetable names). `q` matches the name or a partner's.""",
    item=models.BasePublic,
)
bases.create(
    models.BaseCreate,
    service.create_base,
    """Create a base (academic office; a college manager for their own college only, 403
    otherwise). The name is unique (409); certificates and pilots must exist and be readable
    by the caller (422).""",
)
bases.get(
    """One base with its partners, certificates and pilots; its version as the ETag; every
    role reads it. 404 when it does not exist."""
)
bases.update(
    models.BaseUpdate,
    service.update_base,
    """Change a base (`If-Match`); `partners`, `certificate_ids` and `application_ids` replace
    their lists. `stations` never drops below the capacity of an exam session held at the base
    that is not over yet (409 `stations_below_session_capacity` naming the sessions), and a base
    with such a session stays an exam site (409 `exam_site_has_sessions`). The
    office changes any base; a college manager their own college's (403 otherwise).""",
    extra={"today": Today},
)
bases.delete(
    service.delete_base,
    """Delete a base no exam session or expenditure names (409 `still_referenced`
    otherwise); the office, or the college manager of its college.""",
)
