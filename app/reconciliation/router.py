"""HTTP for reconciling with the national 1+X platform: upload its list, read the comparison
again (JSON, or CSV/XLSX with one sheet per group), list past ones, apply chosen rows."""

from typing import Annotated, Any

from fastapi import File, Query, UploadFile, status
from fastapi.responses import Response

from app.core.auth import CurrentPrincipal, SettingsDep, Today, writers
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import EXPORT_RESPONSES, ExportFormat, FormatQuery, export_groups
from app.core.params import DbId
from app.core.routes import Routes, domain_router
from app.imports import service as imports
from app.imports.readers import MAX_UPLOAD_BYTES
from app.imports.router import MULTIPART_OVERHEAD
from app.reconciliation import service
from app.reconciliation.models import (
    ApplyBody,
    ApplyReport,
    ReconciliationPublic,
    ReconciliationSummary,
)

reconciliations_router = domain_router("/reconciliations", "reconciliations")

YearParam = Annotated[
    int, Query(ge=2000, le=2100, description="The pilots' year whose records are compared")
]


@reconciliations_router.post(
    "",
    response_model=ReconciliationPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(400, 413, 415),
    max_body_size=MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD,
    summary="上传平台名单并对账",
    **writers(service.WRITERS),
)
def reconciliations_create(
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
    response: Response,
    year: YearParam,
    file: Annotated[
        UploadFile,
        File(description="The platform's list: .xlsx, .csv or .tsv, at most 20 MB"),
    ],
) -> ReconciliationPublic:
    """Compare the list downloaded from the national 1+X platform (kind
    `national-results`: 姓名, 证件号码, 学号, 证书名称, 等级, 考核结果, 成绩, 实操成绩,
    证书编号, 发证日期, 培训评价组织 — the usual variants recognised, a title row tolerated;
    `used_columns` says which were read) with the live registrations of the year's pilots
    here. A row is matched by certificate number (unless the row names another student than
    the number's holder: its note then says so), else student number, else a national id
    seen before, else name + certificate + level; several fitting registrations are reported
    as ambiguous (in `platform_only`, with the `candidates`), never guessed. The national id
    number is compared through a keyed hash and only ever shown masked. The answer, kept
    under its id, has four groups: `same`, `different` (with the `differences`: result,
    score, certificate_number, issue_date, national_id), `platform_only` and `local_only`
    (results or certificates here, for the certificates the list covers, that no platform
    row matched).

    The academic office compares every record; a college manager its own college's
    students; an evaluation organisation its own sessions. Others get 403. Refuses a file
    that is not a spreadsheet (415), too large (413) or without the columns (422
    `missing_columns`)."""
    session.rollback()
    content = imports.read_limited(file.file)
    reconciliation_id = service.reconcile(
        session, principal, year, file.filename or "upload", content, settings.secret_key
    )
    response.headers["Location"] = f"/api/v1/reconciliations/{reconciliation_id}"
    return service.get(session, principal, reconciliation_id)


Routes(
    reconciliations_router, ReconciliationSummary, id_name="reconciliation_id", noun="对账"
).list(
    service.RECONCILIATIONS,
    """Past reconciliations, newest first, with their counts (`year` filters). The academic
    office, auditors and admins see all; a college manager or an evaluation organisation
    those made in its own scope; others get 403.""",
)


@reconciliations_router.get(
    "/{reconciliation_id}",
    response_model=ReconciliationPublic,
    responses={**EXPORT_RESPONSES, **problem_responses(404)},
    summary="查看对账结果",
)
def reconciliations_get(
    session: SessionDep,
    principal: CurrentPrincipal,
    reconciliation_id: DbId,
    format: FormatQuery = ExportFormat.json,
) -> Any:
    """A reconciliation with its four groups and what applying its rows did. `format=xlsx`
    gives one sheet per group (一致, 不一致, 仅平台有, 仅本系统有), `csv` one table whose first
    column names the group; national ids are masked in both. Readable by the office,
    auditors and admins, and by the college manager or evaluation organisation in whose scope
    it was made; any other is answered 404."""
    result = service.get(session, principal, reconciliation_id)
    if format == ExportFormat.json:
        return result
    return export_groups(
        service.export_sheets(result),
        service.EXPORT_COLUMNS,
        format,
        f"reconciliation-{result.year}-{result.id}",
    )


@reconciliations_router.post(
    "/{reconciliation_id}/apply",
    response_model=ApplyReport,
    responses=problem_responses(404),
    summary="应用对账结果",
    **writers(service.WRITERS),
)
def reconciliations_apply(
    session: SessionDep,
    principal: CurrentPrincipal,
    today: Today,
    reconciliation_id: DbId,
    body: ApplyBody,
) -> ApplyReport:
    """Apply chosen rows (`row_ids`) or a whole `group`: each row is compared with the records
    again and its differences go through the usual audited paths — a result through the
    result entry (from the exam date on; a pass with a certificate or a paid subsidy is not
    turned into a fail), a certificate number or issue date through the issued-certificates
    upload (only for a pass, numbers unique). A refused row is reported with its reason and
    `code` (`ambiguous`, `no_registration`, `not_on_platform`, `national_id_differs`, or the
    path's own code) and the other rows still apply; a row already as on the platform is
    `unchanged`, so applying twice changes nothing. The academic office, a college manager
    (its own pilots, where the paths let it) or an evaluation organisation (its own
    certificates); auditors and others get 403; a reconciliation or row not visible is 404."""
    return service.apply(session, principal, reconciliation_id, body, today)
