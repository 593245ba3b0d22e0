"""What a person reads for the audit trail's words: each action (``approve``) and entity
(``pilot_application``) an event records, declared once as an enum with its labels.

The audit log's export shows them by label (操作 批准, 对象 试点申报); a workflow's refusal
names the action by the same label ("无法对……执行 批准"). An action or entity without a
label is shown as its code. The English labels of actions are the verbs themselves, so an
English message reads as before: "Cannot approve application 3"."""

from enum import StrEnum

from app.core.i18n import N_, translate
from app.core.labels import enum_labels

ACTIONS = {
    "create": N_("create"),
    "update": N_("update"),
    "delete": N_("delete"),
    "import": N_("import"),
    "submit": N_("submit"),
    "withdraw": N_("withdraw"),
    "approve": N_("approve"),
    "reject": N_("reject"),
    "return": N_("return"),
    "close": N_("close"),
    "reopen": N_("reopen"),
    "apply": N_("apply"),
    "append": N_("append"),
    "file": N_("file"),
    "assign_teacher": N_("assign a teacher"),
    "remove_teacher": N_("remove a teacher"),
    "register": N_("register"),
    "cancel": N_("cancel"),
    "absent": N_("mark absent"),
    "result": N_("record a result"),
    "sit": N_("record a sitting"),
    "start": N_("start"),
    "certify": N_("certify"),
    "fail": N_("fail"),
    "enroll": N_("enroll"),
    "issue": N_("issue"),
    "revoke": N_("revoke"),
    "reverse": N_("reverse"),
    "compute": N_("compute"),
    "committee_score": N_("record the committee score"),
    "finalize": N_("finalise"),
    "seal": N_("seal"),
    "verify": N_("verify"),
    "set_dual_qualification": N_("recognise as 双师型"),
    "clear_dual_qualification": N_("clear the 双师型 recognition"),
    "change_password": N_("change password"),
    "logout": N_("sign out"),
    "end_sessions": N_("end sessions"),
}
ENTITIES = {
    "user": N_("User"),
    "api_key": N_("API key"),
    "college": N_("College"),
    "major": N_("Major"),
    "course": N_("Course"),
    "teacher": N_("Teacher"),
    "student": N_("Student"),
    "evaluation_org": N_("Evaluation organisation"),
    "certificate": N_("Certificate"),
    "import_batch": N_("Upload"),
    "pilot_application": N_("Pilot application"),
    "pilot_plan": N_("Pilot work plan"),
    "pilot_teacher": N_("Pilot teacher"),
    "teacher_training": N_("Teacher training"),
    "evaluator_qualification": N_("Evaluator qualification"),
    "training_base": N_("Training base"),
    "training_batch": N_("Training batch"),
    "training_enrollment": N_("Training enrolment"),
    "exam_session": N_("Exam session"),
    "exam_registration": N_("Exam registration"),
    "exam_result": N_("Exam result"),
    "issued_certificate": N_("Issued certificate"),
    "conversion_rule": N_("Credit conversion rule"),
    "conversion_request": N_("Conversion request"),
    "credit_record": N_("Credit record"),
    "funding_source": N_("Funding source"),
    "budget_line": N_("Budget line"),
    "expenditure": N_("Expenditure"),
    "subsidy_run": N_("Subsidy run"),
    "evaluation_scheme": N_("Evaluation scheme"),
    "evaluation": N_("Evaluation"),
    "expert": N_("Expert"),
    "meeting": N_("Committee meeting"),
    "reconciliation": N_("Reconciliation"),
}

AuditAction = StrEnum("AuditAction", [(code, code) for code in ACTIONS])  # type: ignore[misc]
"""The actions the audit trail records (``AuditEvent.action``), by code."""
AuditEntity = StrEnum("AuditEntity", [(code, code) for code in ENTITIES])  # type: ignore[misc]
"""The entities the audit trail names (``AuditEvent.entity``), by code."""

enum_labels(AuditAction, {AuditAction(code): msgid for code, msgid in ACTIONS.items()})
enum_labels(AuditEntity, {AuditEntity(code): msgid for code, msgid in ENTITIES.items()})


def action_label(action: str) -> str:
    """An action (``approve``) as a person reads it in the request's language (批准); a code
    without a label as it is."""
    msgid = ACTIONS.get(action)
    return action if msgid is None else translate(msgid)


def action_labels(actions: list[str] | tuple[str, ...]) -> str:
    """Several actions as a person reads them, separated by commas."""
    return ", ".join(action_label(action) for action in actions)
