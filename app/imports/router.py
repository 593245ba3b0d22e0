"""HTTP for bulk uploads: upload a file of one kind, get its template, list past batches."""

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from app.core.auth import CurrentPrincipal, writers
from app.core.db import SessionDep
from app.core.errors import UnprocessableEntity, problem_responses, validation_message
from app.core.export import XLSX_MEDIA_TYPE
from app.core.i18n import _
from app.core.roles import UPLOADERS
from app.core.routes import Routes
from app.imports import service
from app.imports.models import ImportBatchPublic, ImportReport
from app.imports.readers import MAX_UPLOAD_BYTES
from app.imports.registry import KINDS, get_kind

router = APIRouter(
    prefix="/imports", tags=["imports"], responses=problem_responses(400, 401, 403, 422)
)

KindPath = Annotated[
    str,
    Path(
        max_length=50,
        pattern=r"^[a-z][a-z-]*$",
        description="colleges, majors, courses, teachers, students, evaluation-orgs, certificates, "
        "applications, exam-registrations, exam-results, issued-certificates, expenditures, "
        "national-results (read only: checked with dry_run, compared by POST /reconciliations)",
    ),
]
MULTIPART_OVERHEAD = 64 * 1024


@router.post(
    "/{kind}",
    response_model=ImportReport,
    responses=problem_responses(404, 409, 413, 415),
    max_body_size=MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD,
    summary="上传导入文件",
    **writers(UPLOADERS),
)
def imports_upload(
    session: SessionDep,
    principal: CurrentPrincipal,
    kind: KindPath,
    file: Annotated[UploadFile, File(description=".xlsx, .csv or .tsv, at most 20 MB")],
    request: Request,
    dry_run: Annotated[bool, Query(description="Check and report only; write nothing")] = False,
) -> ImportReport:
    """Upload a spreadsheet of `kind`. Columns are matched by their Chinese or English header
    in any order (a title row above the header is fine); rows are matched by natural key and
    created, updated or left unchanged. The answer is a report with every bad row's number,
    column, value and reason. If any row is bad nothing is written (a real upload then
    answers 422 with the same report); a dry run only reports.

    Kinds with options take them as further query parameters: `applications` takes `year`
    (2000–2100, unless the file has a 年度 column) and `status` (`draft`, the default,
    `submitted` or `approved`, for a year already decided)."""
    import_kind = get_kind(kind)
    options = _options(import_kind.options, request)
    # End the transaction the credential check opened: on SQLite it holds the write lock,
    # which the upload needs only from when it reads the stored rows, not while it parses.
    session.rollback()
    content = service.read_limited(file.file)
    report = service.upload(
        session,
        principal,
        import_kind,
        file.filename or "upload",
        content,
        dry_run=dry_run,
        options=options,
    )
    if not report.written and not dry_run:
        raise UnprocessableEntity(
            _(
                "{errors_total} problem(s) in {file_name}; nothing was written. Fix the "
                "rows named in `errors` and upload again",
                errors_total=report.errors_total,
                file_name=report.file_name,
            ),
            code="import_rejected",
            errors=[e.model_dump() for e in report.errors],
            **report.model_dump(exclude={"errors"}),
        )
    return report


def _option_schema(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema from a pydantic field's: refs inlined, ``null`` dropped."""
    default = {"default": schema["default"]} if schema.get("default") is not None else {}
    if "$ref" in schema:
        return {**defs[schema["$ref"].rsplit("/", 1)[-1]], **default}
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        return {**branches[0], **default}
    return {k: v for k, v in schema.items() if k not in {"title", "description"}}


def document_kind_options(imports: APIRouter) -> None:
    """Show every kind's own query parameters on the upload route of the OpenAPI schema."""
    parameters: dict[str, dict[str, Any]] = {}
    for name, kind in sorted(KINDS.items()):
        if kind.options is None:
            continue
        schema = kind.options.model_json_schema()
        defs = schema.get("$defs", {})
        for field, spec in schema["properties"].items():
            entry = parameters.setdefault(
                field,
                {
                    "name": field,
                    "in": "query",
                    "required": False,
                    "schema": _option_schema(spec, defs),
                    "description": "",
                },
            )
            entry["description"] += f"For `{name}` uploads: {spec.get('description', '')}. "
    for route in imports.routes:
        if isinstance(route, APIRoute) and route.name == "imports_upload" and parameters:
            route.openapi_extra = {
                **(route.openapi_extra or {}),
                "parameters": list(parameters.values()),
            }


def _options(model: type[BaseModel] | None, request: Request) -> BaseModel | None:
    """The kind's own query parameters (e.g. ``year`` for applications), checked (422)."""
    if model is None:
        return None
    given = {k: v for k, v in request.query_params.items() if k in model.model_fields}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        errors = [
            {"field": "query." + ".".join(map(str, e["loc"])), "message": validation_message(e)}
            for e in exc.errors()
        ]
        raise UnprocessableEntity(
            _(
                "The request is not valid: {summary}",
                summary="; ".join(f"{e['field']}: {e['message']}" for e in errors),
            ),
            errors=errors,
        ) from exc


@router.get(
    "/{kind}/template",
    response_class=Response,
    responses={
        200: {
            "description": "An .xlsx: the data sheet (headers, a 示例 row the upload skips, "
            "drop-downs), then the 填写说明 instructions sheet",
            # application/octet-stream too: generators that know no .xlsx type read it as bytes.
            "content": {
                XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **problem_responses(404),
    },
    summary="下载导入模板",
)
def imports_template(session: SessionDep, _principal: CurrentPrincipal, kind: KindPath) -> Response:
    """The .xlsx to fill in for `kind`, for any signed-in caller (404 for an unknown kind).
    Its first sheet has the Chinese headers (the English name and the rules in each header's
    comment), one grey example row starting with 示例 that an upload skips, and drop-downs on
    the enum columns (级别, 层次, 状态, …) and on the reference columns (二级学院, 专业, 证书,
    …) listing the names stored when it is downloaded; a 填写说明 sheet says for each column
    whether it is required, its format, its allowed values and an example. The instructions
    follow `Accept-Language`; the headers stay Chinese (the English ones are accepted too)."""
    import_kind = get_kind(kind)
    return Response(
        service.template(session, import_kind),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{import_kind.name}-template.xlsx"'},
    )


Routes(router, ImportBatchPublic, id_name="batch_id", noun="导入记录").list(
    service.BATCHES,
    """Past real uploads, newest first: who, when, kind, file name, SHA-256 and counts. The
    academic office, auditors and admins see all; others see their own.""",
)
