"""Reconciling the national platform's list with the records here, and applying its rows.

A platform row is matched to a live registration of the year's pilots (in the caller's scope):
by certificate number when the row has one; else by student number; else by the national id
number a previous reconciliation tied to a student; else by name + certificate + level. Several
registrations fitting is reported as ambiguous, never guessed. A matched row is compared field
by field (result, score, certificate number, issue date, and the national id's keyed hash
against the one seen before for that student). Registrations with a result or certificate here
that no platform row matched, for the certificates the list covers, are "only here".

Applying a row goes through the exams' own audited paths — ``put_result`` for a result, the
``issued-certificates`` import for a certificate — so each refuses what it always refuses; a
refused row is reported with its reason and the other rows still apply. A row is compared with
the records again when applied, so applying twice changes nothing."""

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from app.applications.models import PilotApplication
from app.core.audit import record
from app.core.db import insert_skipping_taken
from app.core.errors import AppError, Forbidden, NotFound
from app.core.export import ExportColumn
from app.core.i18n import (
    LANGUAGES,
    M_,
    N_,
    Message,
    _,
    all_of,
    as_written,
    current_language,
    in_each_language,
    shown,
    translate,
)
from app.core.labels import label
from app.core.listing import Listing, each
from app.core.roles import READ_ALL, UPLOADERS, Principal, Role
from app.core.types import utcnow
from app.exams import service as exams
from app.exams.models import (
    CertificateStatus,
    ExamRegistration,
    ExamResult,
    ExamSession,
    IssuedCertificate,
    ResultPut,
)
from app.imports import service as imports
from app.imports.cells import match_text
from app.imports.engine import read_sheet
from app.imports.models import RowError
from app.imports.registry import get_kind
from app.reconciliation.importers import NATIONAL_RESULTS
from app.reconciliation.models import (
    GROUP_LABELS,
    ApplyBody,
    ApplyReport,
    Counts,
    Difference,
    Group,
    NationalIdentity,
    Outcome,
    Reconciliation,
    ReconciliationFilters,
    ReconciliationPublic,
    ReconciliationRow,
    ReconciliationSummary,
    RowOutcome,
    RowPublic,
)
from app.reference.models import Certificate, Level, Major, Student, normalise_certificate_name

ENTITY = "reconciliation"
WRITERS = UPLOADERS
READERS = READ_ALL | WRITERS
INSERT_CHUNK = 2000


# --- the national id, never in clear ------------------------------------------------------------


RESULT_OF_REGISTRATION = col(ExamResult.registration_id) == ExamRegistration.id
VALID_CERTIFICATE_OF_RESULT = sa.and_(
    col(IssuedCertificate.result_id) == ExamResult.id,
    col(IssuedCertificate.status) == CertificateStatus.valid,
)
"""How a registration reaches its result and the result's valid certificate (outer joins)."""


def id_key(secret_key: str) -> bytes:
    """The key national id numbers are hashed with, derived from the service's secret."""
    return hmac.new(secret_key.encode("utf-8"), b"onex national id v1", hashlib.sha256).digest()


def id_hash(key: bytes, number: str) -> str:
    return hmac.new(key, number.encode("ascii"), hashlib.sha256).hexdigest()


def mask_id(number: str) -> str:
    """310101200301011234 → 3101**********1234."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


# --- scope ---------------------------------------------------------------------------------------


def _require_reader(principal: Principal) -> None:
    if principal.role not in READERS:
        raise Forbidden(
            _(
                "Role {role} may not read reconciliations; allowed roles: academic_office, "
                "college_manager (its own pilots), evaluation_org (its own certificates), "
                "auditor, admin",
                role=label(principal.role),
            ),
            allowed_roles=sorted(r.value for r in READERS),
        )


def _require_writer(principal: Principal, what: str) -> None:
    if principal.role not in WRITERS:
        raise Forbidden(
            _(
                "Role {role} may not {what}; allowed roles: academic_office, college_manager "
                "(its own pilots), evaluation_org (its own certificates)",
                role=label(principal.role),
                what=translate(what),
            ),
            allowed_roles=sorted(r.value for r in WRITERS),
        )


def _scoped(statement: Any, principal: Principal) -> Any:
    """Reconciliations ``principal`` may read: all for the office, auditors and admins; those
    made in its own scope for a college manager or an evaluation organisation."""
    if principal.role == Role.college_manager:
        return statement.where(Reconciliation.college_id == (principal.college_id or -1))
    if principal.role == Role.evaluation_org:
        return statement.where(
            Reconciliation.evaluation_org_id == (principal.evaluation_org_id or -1)
        )
    return statement


# --- the records here ----------------------------------------------------------------------------


@dataclass
class Local:
    registration_id: int
    session_id: int
    student_id: int
    student_no: str
    name: str
    certificate_id: int
    certificate_name: str
    level: Level
    result_id: int | None
    passed: bool | None
    theory_score: Decimal | None
    practical_score: Decimal | None
    issued_id: int | None
    number: str | None
    issue_date: date | None


def _locals(session: Session, principal: Principal, year: int) -> list[Local]:
    """Every live registration of the year's pilots in ``principal``'s scope, with its result
    and valid certificate."""
    statement = (
        sa.select(  # type: ignore[call-overload,misc]
            ExamRegistration.id,
            ExamRegistration.session_id,
            Student.id,
            Student.student_no,
            Student.name,
            ExamSession.certificate_id,
            Certificate.name,
            ExamSession.level,
            ExamResult.id,
            ExamResult.passed,
            ExamResult.theory_score,
            ExamResult.practical_score,
            IssuedCertificate.id,
            IssuedCertificate.number,
            IssuedCertificate.issue_date,
        )
        .join(Student, col(Student.id) == ExamRegistration.student_id)
        .join(ExamSession, col(ExamSession.id) == ExamRegistration.session_id)
        .join(Certificate, col(Certificate.id) == ExamSession.certificate_id)
        .join(PilotApplication, col(PilotApplication.id) == ExamRegistration.application_id)
        .outerjoin(ExamResult, RESULT_OF_REGISTRATION)
        .outerjoin(IssuedCertificate, VALID_CERTIFICATE_OF_RESULT)
        .where(PilotApplication.year == year, col(ExamRegistration.live).is_(True))
        .order_by(ExamRegistration.id)
    )
    if principal.role == Role.college_manager:
        statement = statement.join(Major, col(Major.id) == Student.major_id).where(
            Major.college_id == (principal.college_id or -1)
        )
    elif principal.role == Role.evaluation_org:
        statement = statement.where(
            ExamSession.evaluation_org_id == (principal.evaluation_org_id or -1)
        )
    return [Local(*row) for row in session.execute(statement)]


@dataclass
class _Index:
    by_number: dict[str, Local] = field(default_factory=dict)
    by_student_no: dict[str, list[Local]] = field(default_factory=lambda: defaultdict(list))
    by_student_id: dict[int, list[Local]] = field(default_factory=lambda: defaultdict(list))
    by_name: dict[str, list[Local]] = field(default_factory=lambda: defaultdict(list))
    certificate_ids: dict[str, int] = field(default_factory=dict)
    student_of_hash: dict[str, int] = field(default_factory=dict)
    hash_of_student: dict[int, str] = field(default_factory=dict)


def _index(session: Session, locals_: list[Local]) -> _Index:
    index = _Index()
    for local in locals_:
        if local.number:
            index.by_number[local.number] = local
        index.by_student_no[local.student_no].append(local)
        index.by_student_id[local.student_id].append(local)
        index.by_name[match_text(local.name)].append(local)
    names = sa.select(Certificate.normalized_name, Certificate.id)  # type: ignore[call-overload]
    index.certificate_ids = {row[0]: row[1] for row in session.execute(names)}
    hashes = sa.select(  # type: ignore[call-overload]
        NationalIdentity.student_id, NationalIdentity.national_id_hash
    )
    for student_id, hashed in session.execute(hashes):
        index.hash_of_student[student_id] = hashed
        index.student_of_hash.setdefault(hashed, student_id)
    return index


# --- matching ------------------------------------------------------------------------------------


@dataclass
class _Match:
    local: Local | None = None
    by: str | None = None
    candidates: list[int] | None = None
    note: Message | None = None


def _fits(
    candidates: list[Local], certificate_id: int | None, has_name: bool, level: Level | None
) -> list[Local]:
    found = [
        c
        for c in candidates
        if (not has_name or c.certificate_id == certificate_id)
        and (level is None or c.level == level)
    ]
    if len(found) > 1:
        # A retake: the registration with a result is the one the platform speaks of.
        with_result = [c for c in found if c.result_id is not None]
        if with_result:
            found = with_result
    return found


def _pick(found: list[Local], by: str) -> _Match:
    if len(found) == 1:
        return _Match(local=found[0], by=by)
    if not found:
        return _Match(note=M_("no registration here fits by {by}", by=by))
    ids = sorted(c.registration_id for c in found)
    return _Match(
        by=by,
        candidates=ids,
        note=M_(
            "{count} registrations here fit by {by} ({ids}); none was chosen",
            count=len(ids),
            by=by,
            ids=", ".join(map(str, ids)),
        ),
    )


def _match(cells: dict[str, Any], hashed: str | None, index: _Index) -> _Match:
    number = cells.get("certificate_number")
    holder = index.by_number.get(number) if number else None
    if holder is not None and _may_be(cells, hashed, holder, index):
        return _Match(local=holder, by="certificate_number")
    found = _match_student(cells, hashed, index)
    if holder is None:
        if found is not None:
            return found
        if number:
            return _Match(note=M_("the certificate number is not one issued here"))
        return _Match(note=M_("the row names no certificate number, student number or certificate"))
    # The number is another student's here: the row is matched as if it had none, and never
    # to the holder's registration, whose result its scores are not.
    held = M_(
        "certificate number {number} is issued here to another student ({student_no})",
        number=number,
        student_no=holder.student_no,
    )
    if found is None:
        return _Match(note=held)
    found.note = all_of([held, found.note]) if found.note else held
    return found


def _may_be(cells: dict[str, Any], hashed: str | None, local: Local, index: _Index) -> bool:
    """Whether the row may speak of ``local``'s student: its student number is theirs; without
    one, its national id is not tied to another student; without either, its name (if any) is
    theirs."""
    student_no = cells.get("student_no")
    if student_no:
        return bool(student_no == local.student_no)
    if hashed and hashed in index.student_of_hash:
        return index.student_of_hash[hashed] == local.student_id
    name = cells.get("name")
    return not name or match_text(name) == match_text(local.name)


def _match_student(cells: dict[str, Any], hashed: str | None, index: _Index) -> _Match | None:
    """The row matched by who it names: student number, national id, or name; None when it
    names no one it can be matched by."""
    certificate_name = cells.get("certificate_name")
    has_name = bool(certificate_name)
    certificate_id = (
        index.certificate_ids.get(normalise_certificate_name(certificate_name))
        if certificate_name
        else None
    )
    level = cells.get("level")
    student_no = cells.get("student_no")
    if student_no:
        return _pick(
            _fits(index.by_student_no.get(student_no, []), certificate_id, has_name, level),
            "student_no",
        )
    if hashed and hashed in index.student_of_hash:
        student_id = index.student_of_hash[hashed]
        return _pick(
            _fits(index.by_student_id.get(student_id, []), certificate_id, has_name, level),
            "national_id",
        )
    name = cells.get("name")
    if name and has_name and level is not None:
        return _pick(
            _fits(index.by_name.get(match_text(name), []), certificate_id, True, level), "name"
        )
    return None


def _differences(
    cells: dict[str, Any], hashed: str | None, local: Local, index: _Index
) -> list[Difference]:
    found: list[Difference] = []
    passed = cells.get("passed")
    if passed is not None and passed != local.passed:
        found.append(Difference.result)
    theory, practical = cells.get("theory_score"), cells.get("practical_score")
    if (theory is not None and theory != local.theory_score) or (
        practical is not None and practical != local.practical_score
    ):
        found.append(Difference.score)
    number = cells.get("certificate_number")
    if number and number != local.number:
        found.append(Difference.certificate_number)
    issued = cells.get("issue_date")
    if issued is not None and issued != local.issue_date:
        found.append(Difference.issue_date)
    known = index.hash_of_student.get(local.student_id)
    if hashed and known and known != hashed:
        found.append(Difference.national_id)
    return found


def _local_values(local: Local) -> dict[str, Any]:
    return {
        "registration_id": local.registration_id,
        "result_id": local.result_id,
        "issued_certificate_id": local.issued_id,
        "student_id": local.student_id,
        "local_student_no": local.student_no,
        "local_name": local.name,
        "local_certificate_name": local.certificate_name,
        "local_level": local.level,
        "local_passed": local.passed,
        "local_theory_score": local.theory_score,
        "local_practical_score": local.practical_score,
        "local_certificate_number": local.number,
        "local_issue_date": local.issue_date,
    }


_PLATFORM_FIELDS = (
    "name",
    "student_no",
    "certificate_name",
    "level",
    "passed",
    "theory_score",
    "practical_score",
    "certificate_number",
    "issue_date",
    "evaluation_org_name",
)
_EMPTY_LOCAL = dict.fromkeys(
    _local_values(Local(0, 0, 0, "", "", 0, "", Level.junior, *[None] * 7))
)
_EMPTY_PLATFORM = {
    **dict.fromkeys(_PLATFORM_FIELDS),
    "line": None,
    "national_id_hash": None,
    "national_id_masked": None,
}


@dataclass
class _Compared:
    """The rows of a comparison as they are built: each platform row, matched or not, then
    the results here no row matched."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    claimed: dict[int, int] = field(default_factory=dict)
    """Registration id → the platform row (line) that matched it."""
    covered: set[int] = field(default_factory=set)
    """The certificates the list speaks of."""
    identities: dict[int, str] = field(default_factory=dict)
    """Student id → the national id hash first seen for them."""

    def add(self, line: int, cells: dict[str, Any], index: _Index, key: bytes) -> None:
        number = cells.get("national_id")
        hashed = id_hash(key, number) if number else None
        match = _match(cells, hashed, index)
        values: dict[str, Any] = {
            **{name: cells.get(name) for name in _PLATFORM_FIELDS},
            "line": line,
            "national_id_hash": hashed,
            "national_id_masked": mask_id(number) if number else None,
            "matched_by": match.by,
            "ambiguous": match.candidates is not None,
            "candidates": match.candidates,
            "note": match.note,
            "differences": [],
            **_EMPTY_LOCAL,
        }
        certificate_name = cells.get("certificate_name")
        if certificate_name:
            known = index.certificate_ids.get(normalise_certificate_name(certificate_name))
            if known is not None:
                self.covered.add(known)
        local = match.local
        if local is not None and local.registration_id in self.claimed:
            values["note"] = M_(
                "registration {registration} is matched by row {line} already",
                registration=local.registration_id,
                line=self.claimed[local.registration_id],
            )
            values["matched_by"] = None
            local = None
        if local is None:
            values["group"] = Group.platform_only
        else:
            self.claimed[local.registration_id] = line
            self.covered.add(local.certificate_id)
            differences = _differences(cells, hashed, local, index)
            values.update(_local_values(local))
            values["differences"] = [d.value for d in differences]
            values["group"] = Group.different if differences else Group.same
            if (
                hashed
                and match.by in {"certificate_number", "student_no"}
                and local.student_id not in index.hash_of_student
            ):
                self.identities.setdefault(local.student_id, hashed)
        self.rows.append(values)

    def only_here(self, locals_: list[Local]) -> list[dict[str, Any]]:
        """Results and certificates here, of the certificates the list covers, that no
        platform row matched."""
        return [
            {
                **_EMPTY_PLATFORM,
                **_local_values(local),
                "group": Group.local_only,
                "matched_by": None,
                "ambiguous": False,
                "candidates": None,
                "note": M_("no row of the platform's list matches this result here"),
                "differences": [],
            }
            for local in locals_
            if local.registration_id not in self.claimed
            and local.certificate_id in self.covered
            and (local.result_id is not None or local.issued_id is not None)
        ]


def reconcile(
    session: Session,
    principal: Principal,
    year: int,
    file_name: str,
    content: bytes,
    secret_key: str,
) -> int:
    """Compare the platform's list ``content`` with the year's records in ``principal``'s
    scope; keep the comparison and return its id."""
    _require_writer(principal, N_("reconcile the national platform's list"))
    sheet = read_sheet(NATIONAL_RESULTS, file_name, content)
    locals_ = _locals(session, principal, year)
    index = _index(session, locals_)
    compared = _Compared()
    key = id_key(secret_key)
    for line, cells in sheet.rows:
        compared.add(line, cells, index, key)
    rows = compared.rows + compared.only_here(locals_)
    counts = {g: sum(1 for r in rows if r["group"] == g) for g in Group}
    reconciliation = Reconciliation(
        year=year,
        file_name=file_name[:255],
        sha256=hashlib.sha256(content).hexdigest(),
        rows=len(sheet.rows),
        used_columns=sheet.used_columns,
        ignored_columns=sheet.ignored_columns,
        errors=_kept_errors(sheet.errors, file_name, content),
        same=counts[Group.same],
        different=counts[Group.different],
        platform_only=counts[Group.platform_only],
        local_only=counts[Group.local_only],
        ambiguous=sum(1 for r in rows if r["ambiguous"]),
        actor=principal.label,
        actor_user_id=principal.user_id,
        actor_api_key_id=principal.api_key_id,
        college_id=principal.college_id if principal.role == Role.college_manager else None,
        evaluation_org_id=(
            principal.evaluation_org_id if principal.role == Role.evaluation_org else None
        ),
    )
    session.add(reconciliation)
    session.flush()
    reconciliation_id = reconciliation.id or 0
    table: sa.Table = ReconciliationRow.__table__  # type: ignore[attr-defined]
    for row in rows:
        row["reconciliation_id"] = reconciliation_id
    for start in range(0, len(rows), INSERT_CHUNK):
        session.execute(sa.insert(table), rows[start : start + INSERT_CHUNK])
    now = utcnow()
    identities = [
        {
            "student_id": student_id,
            "national_id_hash": hashed,
            "reconciliation_id": reconciliation_id,
            "created_at": now,
            "updated_at": now,
        }
        for student_id, hashed in compared.identities.items()
    ]
    identity_table: sa.Table = NationalIdentity.__table__  # type: ignore[attr-defined]
    # A concurrent reconciliation may record the same student's first id: the first one stays.
    insert_identity = insert_skipping_taken(session, identity_table, "student_id")
    for start in range(0, len(identities), INSERT_CHUNK):
        session.execute(insert_identity, identities[start : start + INSERT_CHUNK])
    record(
        session,
        principal,
        action="create",
        entity=ENTITY,
        entity_id=reconciliation_id,
        after={
            "year": year,
            "file_name": reconciliation.file_name,
            "sha256": reconciliation.sha256,
            "rows": reconciliation.rows,
            **{g.value: counts[g] for g in Group},
        },
    )
    session.commit()
    return reconciliation_id


def _kept_errors(errors: list[RowError], file_name: str, content: bytes) -> list[dict[str, Any]]:
    """The cells that could not be read, kept with their reasons in every language: the
    import engine words them in the request's language, and a reconciliation is read later by
    others (the file is read again per language, only when a cell was refused)."""
    if not errors:
        return []
    worded = in_each_language(lambda: read_sheet(NATIONAL_RESULTS, file_name, content).errors)
    return [
        {
            **error.model_dump(),
            "reason": {"texts": {lang: found[i].reason for lang, found in worded.items()}},
            "message": None,
        }
        for i, error in enumerate(errors)
    ]


def _shown_error(kept: dict[str, Any]) -> dict[str, Any]:
    reason = kept["reason"]
    text = shown(reason) if isinstance(reason, dict) else reason  # older rows: as written
    return {**kept, "reason": text, "message": text}


# --- reading -------------------------------------------------------------------------------------


def _summary(reconciliation: Reconciliation) -> dict[str, Any]:
    return {
        **reconciliation.model_dump(),
        "errors": [_shown_error(e) for e in reconciliation.errors],
        "counts": Counts(
            same=reconciliation.same,
            different=reconciliation.different,
            platform_only=reconciliation.platform_only,
            local_only=reconciliation.local_only,
            ambiguous=reconciliation.ambiguous,
        ),
    }


def _visible(session: Session, principal: Principal, reconciliation_id: int) -> Reconciliation:
    _require_reader(principal)
    found = session.exec(
        _scoped(select(Reconciliation), principal).where(Reconciliation.id == reconciliation_id)
    ).first()
    if found is None:
        raise NotFound(_("No reconciliation with id {id}", id=reconciliation_id))
    visible: Reconciliation = found
    return visible


def row_public(row: ReconciliationRow) -> RowPublic:
    """The row as a reader sees it: its note and outcome in the reader's language."""
    return RowPublic.model_validate(
        {
            **row.model_dump(),
            "national_id": row.national_id_masked,
            "id": row.id,
            "note": shown(row.note),
            "outcome_reason": shown(row.outcome_reason),
        }
    )


def rows_of(session: Session, reconciliation_id: int) -> list[ReconciliationRow]:
    return list(
        session.exec(
            select(ReconciliationRow)
            .where(ReconciliationRow.reconciliation_id == reconciliation_id)
            .order_by(col(ReconciliationRow.id))
        ).all()
    )


def get(session: Session, principal: Principal, reconciliation_id: int) -> ReconciliationPublic:
    """The reconciliation with its rows in the four groups."""
    reconciliation = _visible(session, principal, reconciliation_id)
    groups: dict[Group, list[RowPublic]] = {g: [] for g in Group}
    for row in rows_of(session, reconciliation_id):
        groups[row.group].append(row_public(row))
    return ReconciliationPublic.model_validate(
        {**_summary(reconciliation), **{g.value: rows for g, rows in groups.items()}}
    )


def _list_statement(_session: Session, principal: Principal, filters: ReconciliationFilters) -> Any:
    _require_reader(principal)
    statement = _scoped(select(Reconciliation), principal)
    if filters.year is not None:
        statement = statement.where(Reconciliation.year == filters.year)
    return statement


RECONCILIATIONS = Listing(
    noun="reconciliation",
    statement=_list_statement,
    order=[col(Reconciliation.id).desc()],
    to_items=each(lambda r: ReconciliationSummary.model_validate(_summary(r))),
    filters=ReconciliationFilters,
    key=Reconciliation.id,
    columns=[
        ExportColumn("id", N_("Reconciliation ID")),
        ExportColumn("year", N_("Year")),
        ExportColumn("file_name", N_("File name")),
        ExportColumn("rows", N_("Rows")),
        ExportColumn("actor", N_("Done by")),
        ExportColumn("created_at", N_("Reconciled at")),
    ],
    filename="reconciliations",
    sheet=N_("Reconciliations"),
)

EXPORT_COLUMNS = [
    ExportColumn("line", N_("Row on the platform")),
    ExportColumn("matched_by", N_("Matched by")),
    ExportColumn("differences", N_("Fields that differ")),
    ExportColumn("note", N_("Note")),
    ExportColumn("name", N_("Name (platform)")),
    ExportColumn("national_id", N_("ID number (masked)")),
    ExportColumn("student_no", N_("Student no (platform)")),
    ExportColumn("certificate_name", N_("Certificate (platform)")),
    ExportColumn("level", N_("Level (platform)")),
    ExportColumn("passed", N_("Passed (platform)")),
    ExportColumn("theory_score", N_("Score (platform)")),
    ExportColumn("practical_score", N_("Practical score (platform)")),
    ExportColumn("certificate_number", N_("Certificate number (platform)")),
    ExportColumn("issue_date", N_("Issue date (platform)")),
    ExportColumn("evaluation_org_name", N_("Evaluation organisation (platform)")),
    ExportColumn("registration_id", N_("Registration ID")),
    ExportColumn("result_id", N_("Result ID")),
    ExportColumn("issued_certificate_id", N_("Certificate ID")),
    ExportColumn("local_student_no", N_("Student no (here)")),
    ExportColumn("local_name", N_("Name (here)")),
    ExportColumn("local_certificate_name", N_("Certificate (here)")),
    ExportColumn("local_level", N_("Level (here)")),
    ExportColumn("local_passed", N_("Passed (here)")),
    ExportColumn("local_theory_score", N_("Score (here)")),
    ExportColumn("local_practical_score", N_("Practical score (here)")),
    ExportColumn("local_certificate_number", N_("Certificate number (here)")),
    ExportColumn("local_issue_date", N_("Issue date (here)")),
    ExportColumn("outcome", N_("Outcome")),
    ExportColumn("outcome_reason", N_("Outcome reason")),
    ExportColumn("outcome_code", N_("Refusal code")),
]


def export_sheets(
    result: ReconciliationPublic,
) -> list[tuple[str, list[RowPublic]]]:
    """The groups as the export's sheets: (label in the request's language, rows)."""
    return [(translate(GROUP_LABELS[g]), getattr(result, g.value)) for g in Group]


# --- applying ------------------------------------------------------------------------------------


@dataclass
class _Current:
    session_id: int
    student_no: str
    passed: bool | None
    theory_score: Decimal | None
    practical_score: Decimal | None
    number: str | None
    issue_date: date | None


def _current(session: Session, registration_id: int) -> _Current | None:
    row = session.execute(
        sa.select(  # type: ignore[call-overload]
            ExamRegistration.session_id,
            Student.student_no,
            ExamResult.passed,
            ExamResult.theory_score,
            ExamResult.practical_score,
            IssuedCertificate.number,
            IssuedCertificate.issue_date,
        )
        .join(Student, col(Student.id) == ExamRegistration.student_id)
        .outerjoin(ExamResult, RESULT_OF_REGISTRATION)
        .outerjoin(IssuedCertificate, VALID_CERTIFICATE_OF_RESULT)
        .where(ExamRegistration.id == registration_id)
    ).first()
    return None if row is None else _Current(*row)


class _Refused(Exception):
    def __init__(self, reason: Message, code: str) -> None:
        super().__init__(code)
        self.reason = reason
        self.code = code


def _apply_result(
    session: Session, principal: Principal, row: ReconciliationRow, now: _Current, today: date
) -> bool:
    passed = row.passed if row.passed is not None else now.passed
    theory = row.theory_score if row.theory_score is not None else now.theory_score
    practical = row.practical_score if row.practical_score is not None else now.practical_score
    if passed is None:
        if row.theory_score is None and row.practical_score is None:
            return False
        raise _Refused(
            M_(
                "the platform's row gives scores but no 考核结果 and there is no result here; "
                "a result needs passed or not"
            ),
            "no_result_given",
        )
    if (passed, theory, practical) == (now.passed, now.theory_score, now.practical_score):
        return False
    data = ResultPut(theory_score=theory, practical_score=practical, passed=passed)
    exams.put_result(session, principal, row.registration_id or 0, data, today)
    return True


def _apply_certificate(
    session: Session, principal: Principal, row: ReconciliationRow, now: _Current, passed: bool
) -> bool:
    number = row.certificate_number
    if not number or not passed:
        return False
    issue_date = row.issue_date or (now.issue_date if now.number == number else None)
    if now.number == number and issue_date == now.issue_date:
        return False
    if issue_date is None:
        raise _Refused(
            M_(
                "the platform's row gives certificate number {number} without 发证日期; a "
                "certificate is issued with its date",
                number=number,
            ),
            "no_issue_date",
        )
    csv = (
        "考核ID,学号,证书编号,发证日期\n"
        f"{now.session_id},{now.student_no},{number},{issue_date.isoformat()}\n"
    ).encode()
    name = f"reconciliation-{row.reconciliation_id}-row-{row.id}.csv"
    kind = get_kind("issued-certificates")
    report = imports.upload(session, principal, kind, name, csv, dry_run=False)
    if report.written:
        return bool(report.created or report.updated)
    if not report.errors:
        raise _Refused(M_("refused"), "import_rejected")
    first = report.errors[0].reason

    def worded() -> str:
        # The import words its row errors in the request's language: checked again (a dry
        # run writes nothing) in each other language, so every reader reads their own.
        again = imports.upload(session, principal, kind, name, csv, dry_run=True)
        return again.errors[0].reason if again.errors else first

    others = in_each_language(worded, [lang for lang in LANGUAGES if lang != current_language()])
    raise _Refused({"texts": {current_language(): first, **others}}, "import_rejected")


def _apply_row(
    session: Session, principal: Principal, row: ReconciliationRow, today: date
) -> tuple[Outcome, Message | None, str | None]:
    """What applying ``row`` did, why (a message, shown later in each reader's language) and
    the refusal's code."""
    if row.group == Group.same:
        return Outcome.unchanged, M_("the same on the platform and here"), None
    if row.group == Group.local_only:
        return (
            Outcome.refused,
            M_(
                "only here: the platform's list has no row for it, so there is nothing to "
                "take from it (the organisation reports it to the platform)"
            ),
            "not_on_platform",
        )
    if row.ambiguous:
        return Outcome.refused, row.note, "ambiguous"
    if row.registration_id is None:
        return (
            Outcome.refused,
            M_(
                "no registration here matches this row in the year's pilots; register the "
                "student for the exam (or correct the list) first ({note})",
                note=row.note or as_written(""),
            ),
            "no_registration",
        )
    now = _current(session, row.registration_id)
    if now is None:
        gone = M_("registration {id} is gone", id=row.registration_id)
        return Outcome.refused, gone, "no_registration"
    return _apply_matched(session, principal, row, (row.registration_id, now), today)


def _apply_matched(
    session: Session,
    principal: Principal,
    row: ReconciliationRow,
    matched: tuple[int, _Current],
    today: date,
) -> tuple[Outcome, Message | None, str | None]:
    """Apply a row matched to a registration (its id, how it stands now): its result, then its
    certificate."""
    registration_id, now = matched
    done: list[Message] = []
    try:
        if _apply_result(session, principal, row, now, today):
            done.append(M_("result recorded"))
            now = _current(session, registration_id) or now
        if _apply_certificate(session, principal, row, now, bool(now.passed)):
            done.append(M_("certificate issued or corrected"))
    except (AppError, _Refused) as exc:
        session.rollback()
        # Another domain's refusal is in words: kept as the message it was worded from when it
        # can be, so each reader reads their own language (else as the applier read it).
        # (A detail cut to 1,000 characters is kept as written.)
        if isinstance(exc, AppError):
            detail = exc.detail
            reason = as_written(detail if len(detail) <= 1000 else detail[:1000])
        else:
            reason = exc.reason
        if done:
            reason = M_("{done}, then refused: {reason}", done=all_of(done), reason=reason)
        return Outcome.refused, reason, exc.code
    if Difference.national_id.value in row.differences:
        refusal = M_(
            "the platform's national id number is not the one seen before for this student; "
            "check the person by hand"
        )
        if done:
            refusal = M_("{refusal} ({done})", refusal=refusal, done=all_of(done))
        return Outcome.refused, refusal, "national_id_differs"
    if done:
        return Outcome.applied, all_of(done), None
    return Outcome.unchanged, M_("already as on the platform"), None


def apply(
    session: Session,
    principal: Principal,
    reconciliation_id: int,
    body: ApplyBody,
    today: date,
) -> ApplyReport:
    """Apply the chosen rows (or a whole group) through the exams' audited paths, one row at
    a time: a refused row is reported with its reason, the others apply."""
    _require_writer(principal, N_("apply a reconciliation"))
    _visible(session, principal, reconciliation_id)
    statement = select(ReconciliationRow).where(
        ReconciliationRow.reconciliation_id == reconciliation_id
    )
    if body.group is not None:
        statement = statement.where(ReconciliationRow.group == body.group)
    else:
        statement = statement.where(col(ReconciliationRow.id).in_(body.row_ids or []))
    rows = [
        ReconciliationRow.model_validate(row.model_dump())
        for row in session.exec(statement.order_by(col(ReconciliationRow.id))).all()
    ]
    if body.row_ids is not None:
        unknown = sorted(set(body.row_ids) - {r.id for r in rows})
        if unknown:
            raise NotFound(
                _(
                    "Reconciliation {id} has no row(s) {rows}",
                    id=reconciliation_id,
                    rows=", ".join(map(str, unknown[:20])),
                ),
                row_ids=unknown[:100],
            )
    session.rollback()
    outcomes: list[RowOutcome] = []
    table: sa.Table = ReconciliationRow.__table__  # type: ignore[attr-defined]
    for row in rows:
        outcome, reason, code = _apply_row(session, principal, row, today)
        outcomes.append(
            RowOutcome(row_id=row.id or 0, outcome=outcome, reason=shown(reason), code=code)
        )
        session.execute(
            sa.update(table)
            .where(table.c.id == row.id)
            .values(outcome=outcome, outcome_reason=reason, outcome_code=code, applied_at=utcnow())
        )
        session.commit()
    tally = {o: sum(1 for r in outcomes if r.outcome == o) for o in Outcome}
    record(
        session,
        principal,
        action="apply",
        entity=ENTITY,
        entity_id=reconciliation_id,
        after={
            "rows": [r.model_dump(mode="json") for r in outcomes[:1000]],
            **{o.value: n for o, n in tally.items()},
        },
    )
    session.commit()
    return ApplyReport(
        reconciliation_id=reconciliation_id,
        applied=tally[Outcome.applied],
        unchanged=tally[Outcome.unchanged],
        refused=tally[Outcome.refused],
        rows=outcomes,
    )
