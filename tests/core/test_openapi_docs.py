"""The API docs in Chinese (issue 16, part 4): every operation has a Chinese summary, every tag
a Chinese display name, the docs page a Chinese introduction with an English paragraph for
integrators, and none of it moves an operation id or a path."""

import re
from typing import Any

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from app.core.routes import Routes
from tests.core.test_openapi import _operations

CJK = re.compile(r"[\u4e00-\u9fff]")

# Every operation as integrators and generated clients know it: "METHOD path" -> operationId.
# A summary or a description may change; these never do.
OPERATION_IDS = {
    "GET /health": "system_health",
    "GET /ready": "system_ready",
    "POST /api/v1/auth/token": "auth_token",
    "GET /api/v1/auth/me": "auth_me",
    "POST /api/v1/auth/password": "auth_change_password",
    "POST /api/v1/auth/logout": "auth_logout",
    "GET /api/v1/users": "users_list",
    "POST /api/v1/users": "users_create",
    "GET /api/v1/users/{user_id}": "users_get",
    "PATCH /api/v1/users/{user_id}": "users_update",
    "POST /api/v1/users/{user_id}/sessions/end": "users_end_sessions",
    "GET /api/v1/api-keys": "api_keys_list",
    "POST /api/v1/api-keys": "api_keys_create",
    "POST /api/v1/api-keys/{key_id}/revoke": "api_keys_revoke",
    "GET /api/v1/colleges": "colleges_list",
    "POST /api/v1/colleges": "colleges_create",
    "GET /api/v1/colleges/{college_id}": "colleges_get",
    "PATCH /api/v1/colleges/{college_id}": "colleges_update",
    "DELETE /api/v1/colleges/{college_id}": "colleges_delete",
    "GET /api/v1/majors": "majors_list",
    "POST /api/v1/majors": "majors_create",
    "GET /api/v1/majors/{major_id}": "majors_get",
    "PATCH /api/v1/majors/{major_id}": "majors_update",
    "DELETE /api/v1/majors/{major_id}": "majors_delete",
    "GET /api/v1/courses": "courses_list",
    "POST /api/v1/courses": "courses_create",
    "GET /api/v1/courses/{course_id}": "courses_get",
    "PATCH /api/v1/courses/{course_id}": "courses_update",
    "DELETE /api/v1/courses/{course_id}": "courses_delete",
    "GET /api/v1/teachers": "teachers_list",
    "POST /api/v1/teachers": "teachers_create",
    "GET /api/v1/teachers/{teacher_id}": "teachers_get",
    "PATCH /api/v1/teachers/{teacher_id}": "teachers_update",
    "DELETE /api/v1/teachers/{teacher_id}": "teachers_delete",
    "PUT /api/v1/teachers/{teacher_id}/dual-qualification": "teachers_dual_qualification_set",
    "DELETE /api/v1/teachers/{teacher_id}/dual-qualification": "teachers_dual_qualification_clear",
    "GET /api/v1/students": "students_list",
    "POST /api/v1/students": "students_create",
    "GET /api/v1/students/{student_id}": "students_get",
    "PATCH /api/v1/students/{student_id}": "students_update",
    "DELETE /api/v1/students/{student_id}": "students_delete",
    "GET /api/v1/evaluation-orgs": "evaluation_orgs_list",
    "POST /api/v1/evaluation-orgs": "evaluation_orgs_create",
    "GET /api/v1/evaluation-orgs/{org_id}": "evaluation_orgs_get",
    "PATCH /api/v1/evaluation-orgs/{org_id}": "evaluation_orgs_update",
    "DELETE /api/v1/evaluation-orgs/{org_id}": "evaluation_orgs_delete",
    "GET /api/v1/certificates": "certificates_list",
    "POST /api/v1/certificates": "certificates_create",
    "GET /api/v1/certificates/{certificate_id}": "certificates_get",
    "PATCH /api/v1/certificates/{certificate_id}": "certificates_update",
    "DELETE /api/v1/certificates/{certificate_id}": "certificates_delete",
    "GET /api/v1/applications": "applications_list",
    "POST /api/v1/applications": "applications_create",
    "PATCH /api/v1/applications/{application_id}": "applications_update",
    "DELETE /api/v1/applications/{application_id}": "applications_delete",
    "GET /api/v1/applications/{application_id}": "applications_get",
    "POST /api/v1/applications/{application_id}/submit": "applications_submit",
    "POST /api/v1/applications/{application_id}/approve": "applications_approve",
    "POST /api/v1/applications/{application_id}/close": "applications_close",
    "POST /api/v1/applications/{application_id}/reject": "applications_reject",
    "GET /api/v1/applications/{application_id}/teachers": "applications_teachers_list",
    "POST /api/v1/applications/{application_id}/teachers": "applications_teachers_add",
    "DELETE /api/v1/applications/{application_id}/teachers/{teacher_id}": "applications_teachers_remove",  # noqa: E501
    "GET /api/v1/plans": "plans_list",
    "POST /api/v1/plans": "plans_create",
    "GET /api/v1/plans/{plan_id}": "plans_get",
    "PATCH /api/v1/plans/{plan_id}": "plans_update",
    "POST /api/v1/plans/{plan_id}/file": "plans_file",
    "POST /api/v1/plans/{plan_id}/acknowledge": "plans_acknowledge",
    "POST /api/v1/plans/{plan_id}/return": "plans_return",
    "GET /api/v1/reports/applications": "reports_applications",
    "GET /api/v1/reports/teacher-coverage": "reports_teacher_coverage",
    "GET /api/v1/reports/dual-qualified": "reports_dual_qualified",
    "GET /api/v1/evaluator-qualifications": "evaluator_qualifications_list",
    "POST /api/v1/evaluator-qualifications": "evaluator_qualifications_create",
    "GET /api/v1/evaluator-qualifications/{qualification_id}": "evaluator_qualifications_get",
    "PATCH /api/v1/evaluator-qualifications/{qualification_id}": "evaluator_qualifications_update",
    "DELETE /api/v1/evaluator-qualifications/{qualification_id}": (
        "evaluator_qualifications_delete"
    ),
    "GET /api/v1/training-bases": "training_bases_list",
    "POST /api/v1/training-bases": "training_bases_create",
    "GET /api/v1/training-bases/{base_id}": "training_bases_get",
    "PATCH /api/v1/training-bases/{base_id}": "training_bases_update",
    "DELETE /api/v1/training-bases/{base_id}": "training_bases_delete",
    "GET /api/v1/teacher-trainings": "teacher_trainings_list",
    "POST /api/v1/teacher-trainings": "teacher_trainings_create",
    "GET /api/v1/teacher-trainings/{training_id}": "teacher_trainings_get",
    "PATCH /api/v1/teacher-trainings/{training_id}": "teacher_trainings_update",
    "DELETE /api/v1/teacher-trainings/{training_id}": "teacher_trainings_delete",
    "POST /api/v1/teacher-trainings/{training_id}/start": "teacher_trainings_start",
    "POST /api/v1/teacher-trainings/{training_id}/certify": "teacher_trainings_certify",
    "POST /api/v1/teacher-trainings/{training_id}/fail": "teacher_trainings_fail",
    "GET /api/v1/training-batches": "training_batches_list",
    "POST /api/v1/training-batches": "training_batches_create",
    "GET /api/v1/training-batches/{batch_id}": "training_batches_get",
    "PATCH /api/v1/training-batches/{batch_id}": "training_batches_update",
    "DELETE /api/v1/training-batches/{batch_id}": "training_batches_delete",
    "GET /api/v1/training-batches/{batch_id}/enrollments": "training_batches_enrollments_list",
    "POST /api/v1/training-batches/{batch_id}/enrollments": "training_batches_enrollments_add",
    "PATCH /api/v1/training-batches/{batch_id}/enrollments/{enrollment_id}": "training_batches_enrollments_update",  # noqa: E501
    "DELETE /api/v1/training-batches/{batch_id}/enrollments/{enrollment_id}": "training_batches_enrollments_remove",  # noqa: E501
    "GET /api/v1/exam-sessions": "exam_sessions_list",
    "POST /api/v1/exam-sessions": "exam_sessions_create",
    "GET /api/v1/exam-sessions/{session_id}": "exam_sessions_get",
    "PATCH /api/v1/exam-sessions/{session_id}": "exam_sessions_update",
    "POST /api/v1/exam-sessions/{session_id}/registrations": "exam_sessions_registrations_create",
    "GET /api/v1/registrations": "registrations_list",
    "GET /api/v1/registrations/{registration_id}": "registrations_get",
    "POST /api/v1/registrations/{registration_id}/cancel": "registrations_cancel",
    "POST /api/v1/registrations/{registration_id}/absent": "registrations_absent",
    "PUT /api/v1/registrations/{registration_id}/result": "registrations_result_put",
    "GET /api/v1/issued-certificates": "issued_certificates_list",
    "GET /api/v1/issued-certificates/{certificate_id}": "issued_certificates_get",
    "POST /api/v1/issued-certificates/{certificate_id}/revoke": "issued_certificates_revoke",
    "GET /api/v1/public/certificates/{number}": "public_certificates_get",
    "GET /api/v1/reports/funnel": "reports_funnel",
    "GET /api/v1/credit-rules": "credit_rules_list",
    "POST /api/v1/credit-rules": "credit_rules_create",
    "GET /api/v1/credit-rules/{rule_id}": "credit_rules_get",
    "PATCH /api/v1/credit-rules/{rule_id}": "credit_rules_update",
    "DELETE /api/v1/credit-rules/{rule_id}": "credit_rules_delete",
    "GET /api/v1/conversion-requests": "conversion_requests_list",
    "POST /api/v1/conversion-requests": "conversion_requests_create",
    "POST /api/v1/conversion-requests/bulk-approve": "conversion_requests_bulk_approve",
    "GET /api/v1/conversion-requests/{request_id}": "conversion_requests_get",
    "POST /api/v1/conversion-requests/{request_id}/approve": "conversion_requests_approve",
    "POST /api/v1/conversion-requests/{request_id}/reject": "conversion_requests_reject",
    "POST /api/v1/conversion-requests/{request_id}/withdraw": "conversion_requests_withdraw",
    "GET /api/v1/students/{student_id}/conversion-options": "students_conversion_options",
    "GET /api/v1/students/{student_id}/credits": "students_credits",
    "GET /api/v1/credit-records": "credit_records_list",
    "GET /api/v1/credit-records/{record_id}": "credit_records_get",
    "POST /api/v1/credit-records/{record_id}/reverse": "credit_records_reverse",
    "GET /api/v1/reports/credit-conversions": "reports_credit_conversions",
    "GET /api/v1/funding-sources": "funding_sources_list",
    "POST /api/v1/funding-sources": "funding_sources_create",
    "GET /api/v1/funding-sources/{source_id}": "funding_sources_get",
    "PATCH /api/v1/funding-sources/{source_id}": "funding_sources_update",
    "DELETE /api/v1/funding-sources/{source_id}": "funding_sources_delete",
    "GET /api/v1/budget-lines": "budget_lines_list",
    "POST /api/v1/budget-lines": "budget_lines_create",
    "GET /api/v1/budget-lines/{line_id}": "budget_lines_get",
    "PATCH /api/v1/budget-lines/{line_id}": "budget_lines_update",
    "DELETE /api/v1/budget-lines/{line_id}": "budget_lines_delete",
    "GET /api/v1/expenditures": "expenditures_list",
    "POST /api/v1/expenditures": "expenditures_create",
    "GET /api/v1/expenditures/{expenditure_id}": "expenditures_get",
    "POST /api/v1/expenditures/{expenditure_id}/reverse": "expenditures_reverse",
    "POST /api/v1/subsidy-runs": "subsidy_runs_create",
    "GET /api/v1/subsidy-runs": "subsidy_runs_list",
    "GET /api/v1/subsidy-runs/{run_id}": "subsidy_runs_get",
    "GET /api/v1/reports/funding": "reports_funding",
    "GET /api/v1/evaluation-schemes/{year}": "evaluation_schemes_get",
    "PUT /api/v1/evaluation-schemes/{year}": "evaluation_schemes_put",
    "GET /api/v1/evaluations": "evaluations_list",
    "POST /api/v1/evaluations/compute": "evaluations_compute",
    "POST /api/v1/evaluations/finalize": "evaluations_finalize",
    "GET /api/v1/evaluations/{evaluation_id}": "evaluations_get",
    "PUT /api/v1/evaluations/{evaluation_id}/committee-score": "evaluations_committee_score",
    "GET /api/v1/reports/overview": "reports_overview",
    "GET /api/v1/reports/year": "reports_year",
    "GET /api/v1/experts": "experts_list",
    "POST /api/v1/experts": "experts_create",
    "GET /api/v1/experts/{expert_id}": "experts_get",
    "PATCH /api/v1/experts/{expert_id}": "experts_update",
    "DELETE /api/v1/experts/{expert_id}": "experts_delete",
    "GET /api/v1/meetings": "meetings_list",
    "POST /api/v1/meetings": "meetings_create",
    "GET /api/v1/meetings/{meeting_id}": "meetings_get",
    "PATCH /api/v1/meetings/{meeting_id}": "meetings_update",
    "DELETE /api/v1/meetings/{meeting_id}": "meetings_delete",
    "POST /api/v1/reconciliations": "reconciliations_create",
    "GET /api/v1/reconciliations": "reconciliations_list",
    "GET /api/v1/reconciliations/{reconciliation_id}": "reconciliations_get",
    "POST /api/v1/reconciliations/{reconciliation_id}/apply": "reconciliations_apply",
    "POST /api/v1/imports/{kind}": "imports_upload",
    "GET /api/v1/imports/{kind}/template": "imports_template",
    "GET /api/v1/imports": "imports_list",
    "GET /api/v1/audit-events": "audit_events_list",
    "GET /api/v1/events": "events_feed",
}


def test_every_operation_has_a_chinese_summary_and_a_description(app: FastAPI) -> None:
    operations = _operations(app.openapi())

    no_summary = [
        op["operationId"] for _, _, op in operations if not CJK.search(op.get("summary", ""))
    ]
    no_description = [op["operationId"] for _, _, op in operations if not op.get("description")]

    assert no_summary == []
    assert no_description == []


def test_summaries_tell_operations_apart(app: FastAPI) -> None:
    summaries = [op["summary"] for _, _, op in _operations(app.openapi())]

    assert sorted({s for s in summaries if summaries.count(s) > 1}) == []


def test_operation_ids_and_paths_are_the_stored_ones(app: FastAPI) -> None:
    operations = _operations(app.openapi())

    assert {f"{method.upper()} {path}": op["operationId"] for path, method, op in operations} == (
        OPERATION_IDS
    )


def test_every_tag_has_a_chinese_display_name_and_description(app: FastAPI) -> None:
    tags = app.openapi()["tags"]

    assert [t["name"] for t in tags if not CJK.search(t.get("x-displayName", ""))] == []
    assert [t["name"] for t in tags if not CJK.search(t.get("description", ""))] == []
    assert all(t["description"].startswith(f"**{t['x-displayName']}**") for t in tags)


def test_the_docs_page_introduces_the_service_in_chinese_with_english_for_integrators(
    app: FastAPI,
) -> None:
    info = app.openapi()["info"]

    assert "1+X 证书制度试点" in info["description"]
    assert "登录" in info["description"] and "application/problem+json" in info["description"]
    assert "**For integrators (English):**" in info["description"]
    # The title names the generated client's package: ASCII, so it stays importable.
    assert info["title"].isascii()


class _Thing(BaseModel):
    id: int
    version: int


def _read(session: Any, principal: Any, thing_id: int) -> _Thing:
    return _Thing(id=thing_id, version=1)


def test_routes_summaries_come_from_the_noun_and_never_move_the_operation_id() -> None:
    def declared(noun: str | None, **summary: str) -> dict[str, tuple[str, str | None]]:
        app = FastAPI(generate_unique_id_function=lambda route: route.name)
        router = APIRouter(prefix="/things")
        routes = Routes(router, _Thing, id_name="thing_id", read=_read, noun=noun)
        routes.list(_Listing(), summary=summary.get("list"))  # type: ignore[arg-type]
        routes.create(_Thing, lambda *a: _Thing(id=1, version=1))
        routes.get()
        routes.update(_Thing, lambda *a: _Thing(id=1, version=2))
        routes.delete(lambda *a: None)
        routes.action("close", lambda *a: _Thing(id=1, version=2), summary=summary.get("close"))
        app.include_router(router)
        return {
            f"{method} {path}": (op["operationId"], op.get("summary"))
            for path, method, op in _operations(app.openapi())
        }

    plain = declared(None)
    named = declared("物品", list="物品一览", close="关闭物品")

    assert {k: v[0] for k, v in named.items()} == {k: v[0] for k, v in plain.items()}
    assert {k: v[1] for k, v in named.items()} == {
        "get /things": "物品一览",
        "post /things": "新建物品",
        "get /things/{thing_id}": "查看物品",
        "patch /things/{thing_id}": "修改物品",
        "delete /things/{thing_id}": "删除物品",
        "post /things/{thing_id}/close": "关闭物品",
    }
    assert plain["get /things"] == ("things_list", "Things List")


class _Filters(BaseModel):
    pass


class _Listing:
    filters = _Filters

    def respond(self, *args: Any) -> Any:
        return {"items": [], "total": 0, "limit": 50, "offset": 0}
