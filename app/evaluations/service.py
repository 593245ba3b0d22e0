"""Evaluation rules: the year's scheme, computing every approved pilot's indicators, the
committee score, the weighted total and rating, ranking, and freezing a year.

Every write of a year locks its scheme row first, so compute, committee scores, scheme changes
and finalize of one year never interleave.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import create_model
from sqlmodel import Session, col, select

from app.applications.models import ApplicationMajor, ApplicationStatus, PilotApplication
from app.applications.service import visible
from app.core.audit import record, record_row, snapshot
from app.core.auth import require_office
from app.core.db import insert_skipping_taken
from app.core.errors import (
    Conflict,
    Forbidden,
    InvalidState,
    NotFound,
    PreconditionFailed,
    UnprocessableEntity,
)
from app.core.export import ExportColumn, as_fraction
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.listing import Listing, where_equal
from app.core.locks import lock_first, lock_row
from app.core.roles import READ_ALL_OR_COLLEGE, Principal
from app.core.types import utcnow
from app.core.versions import check_version
from app.evaluations.indicators import (
    BY_KEY,
    DEFAULT_COMMITTEE_WEIGHT,
    DEFAULT_THRESHOLDS,
    INDICATORS,
    PLACE,
    IndicatorContext,
)
from app.evaluations.models import (
    CommitteeScorePut,
    Evaluation,
    EvaluationFilters,
    EvaluationPublic,
    EvaluationRun,
    EvaluationScheme,
    IndicatorFigure,
    Rating,
    SchemePublic,
    SchemePut,
    SchemeWeight,
    Thresholds,
)
from app.reference.models import Certificate, Major

DECIDED = (ApplicationStatus.approved, ApplicationStatus.closed)
ENTITY = "evaluation"
SCHEME_ENTITY = "evaluation_scheme"
FINALIZED = "finalized"


def _require_reader(principal: Principal) -> None:
    if principal.role not in READ_ALL_OR_COLLEGE:
        raise Forbidden(
            _(
                "Role {role} may not read evaluations; allowed roles: academic_office, "
                "auditor, admin, college_manager (own college's pilots)",
                role=label(principal.role),
            ),
            allowed_roles=sorted(r.value for r in READ_ALL_OR_COLLEGE),
        )


# --- schemes ---------------------------------------------------------------------------------


def default_scheme(year: int) -> EvaluationScheme:
    excellent, good, qualified = DEFAULT_THRESHOLDS
    return EvaluationScheme(
        year=year,
        weights={i.key: i.default_weight for i in INDICATORS},
        committee_weight=DEFAULT_COMMITTEE_WEIGHT,
        threshold_excellent=excellent,
        threshold_good=good,
        threshold_qualified=qualified,
        plan_deadline=None,
        is_default=True,
    )


def scheme_public(scheme: EvaluationScheme, stored: bool) -> SchemePublic:
    return SchemePublic(
        year=scheme.year,
        is_default=scheme.is_default,
        stored=stored,
        weights=[
            SchemeWeight(
                key=i.key,
                label=translate(i.label),
                unit=translate(i.unit),
                weight=scheme.weights.get(i.key, 0),
                scoring=translate(i.scoring),
                missing_when=translate(i.missing_when),
            )
            for i in INDICATORS
        ],
        committee_weight=scheme.committee_weight,
        thresholds=Thresholds(
            excellent=scheme.threshold_excellent,
            good=scheme.threshold_good,
            qualified=scheme.threshold_qualified,
        ),
        plan_deadline=scheme.plan_deadline,
        finalized_at=scheme.finalized_at,
        version=scheme.version if stored else 0,
    )


def get_scheme(session: Session, principal: Principal, year: int) -> SchemePublic:
    """The year's stored scheme, or the documented defaults (``stored`` false)."""
    _require_reader(principal)
    scheme = session.exec(select(EvaluationScheme).where(EvaluationScheme.year == year)).first()
    if scheme is None:
        return scheme_public(default_scheme(year), stored=False)
    return scheme_public(scheme, stored=True)


def _locked_scheme(session: Session, year: int, create: bool) -> EvaluationScheme | None:
    """The year's scheme row, locked; stored from the defaults first when ``create``."""
    return _lock_scheme(session, year, create)[0]


def _lock_scheme(session: Session, year: int, create: bool) -> tuple[EvaluationScheme | None, str]:
    """The year's scheme row, locked, and how it came: ``found`` (stored before this request
    looked), ``inserted`` (stored from the defaults by this request, when ``create``) or
    ``raced`` (absent when this request looked, stored meanwhile by another one)."""
    statement = select(EvaluationScheme).where(EvaluationScheme.year == year)
    scheme: EvaluationScheme | None = lock_first(session, statement)
    if scheme is not None or not create:
        return scheme, "found"
    inserted = _insert_defaults_unless_stored(session, year)
    return lock_first(session, statement), "inserted" if inserted else "raced"


def _insert_defaults_unless_stored(session: Session, year: int) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: when another request stores the year's scheme at the
    same moment, this one waits for it and then takes that row (no error, no savepoint).
    True when this request's row was inserted, False when another request's was there."""
    defaults = default_scheme(year)
    now = utcnow()
    row = {
        "year": year,
        "weights": defaults.weights,
        "committee_weight": defaults.committee_weight,
        "threshold_excellent": defaults.threshold_excellent,
        "threshold_good": defaults.threshold_good,
        "threshold_qualified": defaults.threshold_qualified,
        "plan_deadline": None,
        "is_default": True,
        "finalized_at": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    inserted = session.execute(
        insert_skipping_taken(session, EvaluationScheme, "year")
        .values(**row)
        .returning(col(EvaluationScheme.id))
    ).first()
    return inserted is not None


def _refuse_if_finalized(scheme: EvaluationScheme | None, what: str) -> None:
    if scheme is not None and scheme.finalized_at is not None:
        raise InvalidState(
            _(
                "Cannot {what}: the {year} evaluation was finalized at {finalized_at} and "
                "is frozen",
                what=what,
                year=scheme.year,
                finalized_at=scheme.finalized_at.isoformat(),
            ),
            current_state=FINALIZED,
            allowed_actions=[],
            year=scheme.year,
            finalized_at=scheme.finalized_at.isoformat(),
        )


def weight_problems(data: SchemePut) -> list[dict[str, str]]:
    """Unknown or missing indicator keys, and a sum of weights other than 100."""
    problems = []
    known = ", ".join(BY_KEY)
    for key in data.weights:
        if key not in BY_KEY:
            problems.append(
                {
                    "field": f"body.weights.{key}",
                    "message": _("unknown indicator; known: {known}", known=known),
                }
            )
    for key, indicator in BY_KEY.items():
        if key not in data.weights and not indicator.optional:
            problems.append({"field": f"body.weights.{key}", "message": _("weight missing")})
    total = sum(data.weights.values()) + data.committee_weight
    if not problems and total != 100:
        problems.append(
            {
                "field": "body.weights",
                "message": _(
                    "the weights and committee_weight sum to {total}; they must sum to 100",
                    total=total,
                ),
            }
        )
    return problems


def _check_scheme_version(
    scheme: EvaluationScheme, came: str, if_match: int | None, create_only: bool
) -> None:
    """``If-Match`` against the locked scheme, as :func:`put_scheme` describes: a scheme this
    request inserted has no version to match; a creating PUT that finds one stored meanwhile
    (or any stored one when ``create_only``) is refused with 412."""
    year = scheme.year
    if came == "inserted":
        if if_match:
            raise PreconditionFailed(
                _(
                    "No {year} scheme is stored, so none has version {if_match}; PUT without "
                    "If-Match (or with If-Match 0, the version GET shows for a scheme not "
                    "stored)",
                    year=year,
                    if_match=if_match,
                ),
                current_version=0,
            )
    elif if_match is None and (create_only or came == "raced"):
        raise PreconditionFailed(
            _(
                "A {year} scheme is already stored (version {version}), by another "
                "request while this one meant to create it; GET it and PUT again with "
                "If-Match",
                year=year,
                version=scheme.version,
            ),
            current_version=scheme.version,
        )
    else:
        check_version(scheme.version, if_match, N_("evaluation scheme"))


def _apply_scheme(scheme: EvaluationScheme, data: SchemePut) -> None:
    scheme.weights = dict(data.weights)
    scheme.committee_weight = data.committee_weight
    scheme.threshold_excellent = data.thresholds.excellent.quantize(PLACE)
    scheme.threshold_good = data.thresholds.good.quantize(PLACE)
    scheme.threshold_qualified = data.thresholds.qualified.quantize(PLACE)
    scheme.plan_deadline = data.plan_deadline
    scheme.is_default = False


def put_scheme(
    session: Session,
    principal: Principal,
    year: int,
    data: SchemePut,
    if_match: int | None,
    today: date,
    timezone: str,
    create_only: bool = False,
) -> SchemePublic:
    """Store the year's scheme; evaluations already computed for it are computed again with
    it. Refused once the year is finalized. ``If-Match`` is checked against a stored scheme;
    a PUT that finds no scheme creates one, and 412 answers a creating PUT (no ``If-Match``)
    that finds the scheme stored meanwhile by a concurrent request, or any stored scheme when
    ``create_only`` (``If-None-Match: *``)."""
    require_office(principal, N_("set evaluation schemes"))
    problems = weight_problems(data)
    if problems:
        raise UnprocessableEntity(
            _(
                "The scheme's weights are not valid: {problems}",
                problems="; ".join(p["message"] for p in problems),
            ),
            errors=problems,
        )
    scheme, came = _lock_scheme(session, year, create=True)
    assert scheme is not None
    _refuse_if_finalized(scheme, _("change the {year} scheme", year=year))
    _check_scheme_version(scheme, came, if_match, create_only)
    existing = None if came == "inserted" else scheme
    before = snapshot(existing)
    _apply_scheme(scheme, data)
    session.add(scheme)
    session.flush()
    record_row(
        session,
        principal,
        scheme,
        SCHEME_ENTITY,
        action="update" if existing else "create",
        before=before,
    )
    has_evaluations = session.exec(select(Evaluation.id).where(Evaluation.year == year)).first()
    if has_evaluations is not None:
        _compute(session, principal, scheme, today, timezone)
    session.flush()
    stored = scheme_public(scheme, stored=True)  # as written here, whatever commits next
    session.commit()
    return stored


# --- totals, ratings, ranks -------------------------------------------------------------------


def _rating(total: Decimal, scheme: EvaluationScheme) -> Rating:
    if total >= scheme.threshold_excellent:
        return Rating.excellent
    if total >= scheme.threshold_good:
        return Rating.good
    if total >= scheme.threshold_qualified:
        return Rating.qualified
    return Rating.failed


def _shown(figure: dict[str, Any]) -> IndicatorFigure:
    """A stored figure as the reader reads it: its indicator's label and unit in the request's
    language (figures computed before they were stored as msgids hold the language of
    whoever computed them)."""
    indicator = BY_KEY.get(figure["key"])
    if indicator is not None:
        figure = {**figure, "label": translate(indicator.label), "unit": translate(indicator.unit)}
    return IndicatorFigure.model_validate(figure)


def _figures(
    values: dict[str, Decimal | None], headcount: int, scheme: EvaluationScheme
) -> list[dict[str, Any]]:
    figures = []
    for indicator in INDICATORS:
        value = values.get(indicator.key)
        weight = scheme.weights.get(indicator.key, 0)
        score = None if value is None else indicator.score(value, headcount)
        figures.append(
            {
                "key": indicator.key,
                # Stored as msgids: a reader sees them in their own language (_shown).
                "label": indicator.label,
                "unit": indicator.unit,
                "value": None if value is None else str(value),
                "score": None if score is None else str(score),
                "weight": weight,
                "counted": score is not None and weight > 0,
            }
        )
    return figures


def _retotal(evaluation: Evaluation, scheme: EvaluationScheme) -> None:
    """Total = Σ weight × score over the counted indicators and the committee score (once
    entered) ÷ Σ their weights; rating and the rectification flag follow from it."""
    weighted = Decimal(0)
    counted = 0
    for figure in evaluation.indicators:
        if figure["counted"]:
            weighted += Decimal(figure["weight"]) * Decimal(figure["score"])
            counted += figure["weight"]
    if evaluation.committee_score is not None and scheme.committee_weight > 0:
        weighted += scheme.committee_weight * evaluation.committee_score
        counted += scheme.committee_weight
    evaluation.weight_counted = counted
    if counted == 0:
        evaluation.total = None
        evaluation.rating = None
        evaluation.needs_rectification = False
        return
    total = (weighted / counted).quantize(PLACE, rounding=ROUND_HALF_UP)
    evaluation.total = total
    evaluation.rating = _rating(total, scheme)
    evaluation.needs_rectification = evaluation.rating == Rating.failed


def _rerank(session: Session, year: int) -> None:
    """Competition ranking by total within the year (1, 2, 2, 4); no total, no rank. One
    read: the year's evaluations by total, those without one last."""
    rows = session.exec(
        select(Evaluation)
        .where(Evaluation.year == year)
        .order_by(col(Evaluation.total).desc().nulls_last())
    ).all()
    previous: Decimal | None = None
    rank = 0
    for position, evaluation in enumerate(rows, start=1):
        if evaluation.total is None:
            evaluation.rank = None
            continue
        if evaluation.total != previous:
            rank = position
            previous = evaluation.total
        if evaluation.rank != rank:
            evaluation.rank = rank
    session.flush()


# --- compute, score, finalize ----------------------------------------------------------------


def _measure(
    session: Session, scheme: EvaluationScheme, today: date, timezone: str
) -> tuple[dict[int, int], dict[int, dict[str, Decimal | None]]]:
    """The headcount of every approved (or closed) pilot of the scheme's year, and each
    indicator's value for each of them (one batch of statements per indicator)."""
    year = scheme.year
    pilots = session.exec(
        select(PilotApplication.id, PilotApplication.headcount).where(
            PilotApplication.year == year, col(PilotApplication.status).in_(DECIDED)
        )
    ).all()
    headcount_of = {app_id: headcount for app_id, headcount in pilots if app_id is not None}
    ids = sorted(headcount_of)
    context = IndicatorContext(
        year=year,
        plan_deadline=scheme.plan_deadline,
        as_of=min(today, date(year, 12, 31)),
        timezone=timezone,
        headcount_of=headcount_of,
    )
    values: dict[int, dict[str, Decimal | None]] = defaultdict(dict)
    if ids:
        for indicator in INDICATORS:
            for app_id, value in indicator.values(session, context, ids).items():
                values[app_id][indicator.key] = value
    return headcount_of, values


def _compute(
    session: Session, principal: Principal, scheme: EvaluationScheme, today: date, timezone: str
) -> None:
    """Measure every indicator for every approved (or closed) pilot of the year and store the
    figures; committee scores are kept. The caller holds the scheme lock and commits."""
    year = scheme.year
    headcount_of, values = _measure(session, scheme, today, timezone)
    existing = {
        e.application_id: e
        for e in session.exec(select(Evaluation).where(Evaluation.year == year)).all()
    }
    now = utcnow()
    changed: list[tuple[Evaluation, dict[str, Any] | None]] = []
    for app_id in sorted(headcount_of):
        evaluation = existing.get(app_id)
        before = snapshot(evaluation)
        if evaluation is None:
            evaluation = Evaluation(
                year=year, application_id=app_id, indicators=[], computed_at=now
            )
            session.add(evaluation)
        evaluation.indicators = _figures(values[app_id], headcount_of[app_id], scheme)
        evaluation.computed_at = now
        _retotal(evaluation, scheme)
        changed.append((evaluation, before))
    # One flush writes every evaluation (batched), then each audit event records its row as
    # written (its id, version and updated_at); the events go in with the ranks' flush.
    session.flush()
    for evaluation, before in changed:
        record_row(session, principal, evaluation, ENTITY, action="compute", before=before)
    _rerank(session, year)


def compute_year(
    session: Session, principal: Principal, year: int, today: date, timezone: str
) -> EvaluationRun:
    """(Re)compute the year's evaluations from the data; 409 once the year is finalized."""
    require_office(principal, N_("compute evaluations"))
    scheme = _locked_scheme(session, year, create=True)
    assert scheme is not None
    _refuse_if_finalized(scheme, _("compute the {year} evaluation again", year=year))
    _compute(session, principal, scheme, today, timezone)
    session.commit()
    return year_run(session, principal, year)


def _locked_evaluation(session: Session, evaluation_id: int) -> tuple[Evaluation, EvaluationScheme]:
    found = session.get(Evaluation, evaluation_id)
    if found is None:
        raise NotFound(_("No evaluation with id {evaluation_id}", evaluation_id=evaluation_id))
    scheme = _locked_scheme(session, found.year, create=True)
    assert scheme is not None
    evaluation = lock_row(session, Evaluation, evaluation_id, N_("evaluation"))
    session.refresh(evaluation)
    return evaluation, scheme


def put_committee_score(
    session: Session,
    principal: Principal,
    evaluation_id: int,
    data: CommitteeScorePut,
    if_match: int | None,
) -> EvaluationPublic:
    """Enter the committee's score and comments; the total, rating and ranks follow at once.
    Refused (409) once the year is finalized. Answers the evaluation as this request wrote
    it (read before the commit, so a write committed right after cannot show in it)."""
    require_office(principal, N_("enter committee scores"))
    evaluation, scheme = _locked_evaluation(session, evaluation_id)
    if scheme.finalized_at is not None:
        raise InvalidState(
            _(
                "Cannot change evaluation {evaluation_id}'s committee score: the {year} "
                "evaluation is finalized and frozen",
                evaluation_id=evaluation_id,
                year=scheme.year,
            ),
            current_state=FINALIZED,
            allowed_actions=[],
            committee_score=None
            if evaluation.committee_score is None
            else str(evaluation.committee_score),
            total=None if evaluation.total is None else str(evaluation.total),
            rating=None if evaluation.rating is None else evaluation.rating.value,
        )
    check_version(evaluation.version, if_match, N_("evaluation"))
    before = snapshot(evaluation)
    evaluation.committee_score = data.score.quantize(PLACE)
    evaluation.committee_comments = data.comments
    _retotal(evaluation, scheme)
    session.flush()
    _rerank(session, scheme.year)
    record(
        session,
        principal,
        action="committee_score",
        entity=ENTITY,
        entity_id=evaluation_id,
        before=before,
        after=snapshot(evaluation),
    )
    session.flush()
    written = EVALUATIONS.one(session, principal, evaluation_id)
    session.commit()
    return written


def _refuse_unscored(year: int, evaluations: Sequence[Evaluation]) -> None:
    """409 ``committee_scores_missing`` while an evaluation of the year has no committee score."""
    unscored = sorted(e.id for e in evaluations if e.committee_score is None and e.id)
    if unscored:
        raise Conflict(
            _(
                "Cannot finalize {year}: {count} evaluation(s) have no committee score "
                "yet (ids {items}); enter them first",
                year=year,
                count=len(unscored),
                items=", ".join(map(str, unscored[:20])),
            ),
            code="committee_scores_missing",
            evaluation_ids=unscored,
        )


def finalize_year(session: Session, principal: Principal, year: int) -> EvaluationRun:
    """Freeze the year as last computed: figures, totals, ratings and ranks stay as they are;
    compute, committee scores and scheme changes are refused from now on."""
    require_office(principal, N_("finalize evaluations"))
    scheme = _locked_scheme(session, year, create=False)
    _refuse_if_finalized(scheme, _("finalize {year} again", year=year))
    evaluations = session.exec(select(Evaluation).where(Evaluation.year == year)).all()
    if scheme is None or not evaluations:
        raise InvalidState(
            _(
                "Nothing to finalize for {year}: compute the evaluations first (POST "
                "/api/v1/evaluations/compute?year={year})",
                year=year,
            ),
            current_state="not_computed",
            allowed_actions=["compute"],
        )
    _refuse_unscored(year, evaluations)
    now = utcnow()
    before = snapshot(scheme)
    scheme.finalized_at = now
    for evaluation in evaluations:
        evaluation_before = snapshot(evaluation)
        evaluation.finalized_at = now
        session.flush()
        record_row(
            session, principal, evaluation, ENTITY, action="finalize", before=evaluation_before
        )
    record_row(session, principal, scheme, SCHEME_ENTITY, action="finalize", before=before)
    session.commit()
    return year_run(session, principal, year)


# --- reading ---------------------------------------------------------------------------------


def evaluation_statement(session: Session, principal: Principal, filters: EvaluationFilters) -> Any:
    """Evaluations with their pilot and certificate name, as far as the principal may read
    them: the office, auditors and admins all, a college manager the pilots with a major of
    their college."""
    _require_reader(principal)
    return _statement(principal, filters)


def _statement(principal: Principal, filters: EvaluationFilters) -> Any:
    statement = (
        select(Evaluation, PilotApplication, Certificate.name)
        .join(PilotApplication, col(PilotApplication.id) == Evaluation.application_id)
        .join(Certificate, col(Certificate.id) == PilotApplication.certificate_id)
    )
    statement = visible(statement, principal)
    statement = where_equal(
        statement,
        filters,
        year=Evaluation.year,
        rating=Evaluation.rating,
        needs_rectification=Evaluation.needs_rectification,
    )
    return statement


ORDER = [
    col(Evaluation.year).desc(),
    col(Evaluation.rank).is_(None),
    col(Evaluation.rank),
    col(Evaluation.id),
]


def _major_names(session: Session, application_ids: Sequence[int]) -> dict[int, list[str]]:
    """Each pilot's major names in name order, in one statement."""
    majors: dict[int, list[str]] = defaultdict(list)
    if application_ids:
        for app_id, name in session.exec(
            select(ApplicationMajor.application_id, Major.name)
            .join(Major, col(Major.id) == ApplicationMajor.major_id)
            .where(col(ApplicationMajor.application_id).in_(application_ids))
            .order_by(col(Major.name))
        ).all():
            majors[app_id].append(name)
    return majors


def _schemes(session: Session, years: set[int]) -> dict[int, EvaluationScheme]:
    """The stored scheme of each of the years, in one statement."""
    return {
        s.year: s
        for s in session.exec(
            select(EvaluationScheme).where(col(EvaluationScheme.year).in_(years))
        ).all()
    }


def _public(
    evaluation: Evaluation,
    application: PilotApplication,
    certificate_name: str,
    major_names: list[str],
    scheme: EvaluationScheme,
) -> EvaluationPublic:
    assert evaluation.id is not None and application.id is not None  # stored rows
    return EvaluationPublic(
        id=evaluation.id,
        year=evaluation.year,
        application_id=application.id,
        certificate_name=certificate_name,
        level=application.level,
        tier=application.tier,
        major_names=major_names,
        headcount=application.headcount,
        indicators=[_shown(figure) for figure in evaluation.indicators],
        committee_score=evaluation.committee_score,
        committee_comments=evaluation.committee_comments,
        committee_weight=scheme.committee_weight,
        weight_counted=evaluation.weight_counted,
        total=evaluation.total,
        rating=evaluation.rating,
        needs_rectification=evaluation.needs_rectification,
        provisional=evaluation.committee_score is None,
        rank=evaluation.rank,
        computed_at=evaluation.computed_at,
        finalized_at=evaluation.finalized_at,
        allowed_actions=[] if evaluation.finalized_at is not None else ["committee_score"],
        version=evaluation.version,
        created_at=evaluation.created_at,
        updated_at=evaluation.updated_at,
    )


def _publics(session: Session, rows: Sequence[Any]) -> list[EvaluationPublic]:
    """(evaluation, pilot, certificate name) rows as evaluations, in two statements for all."""
    majors = _major_names(session, [application.id for _evaluation, application, _scheme in rows])
    schemes = _schemes(session, {evaluation.year for evaluation, _application, _scheme in rows})
    return [
        _public(
            evaluation,
            application,
            certificate_name,
            majors[application.id],
            schemes.get(evaluation.year) or default_scheme(evaluation.year),
        )
        for evaluation, application, certificate_name in rows
    ]


EXPORT_ONLY: dict[str, Any] = {
    "finalized": (bool, False),
    **{f"indicator_{i.key}": (Decimal | float | None, None) for i in INDICATORS},
}
EvaluationRow = create_model(
    "EvaluationRow",
    __base__=EvaluationPublic,
    __doc__="An evaluation as the list answers it: its JSON is an ``EvaluationPublic``; the "
    "export also writes each indicator's value in a column of its own and whether it is final.",
    **EXPORT_ONLY,
)


def evaluation_rows(session: Session, rows: Sequence[Any]) -> list[EvaluationPublic]:
    """The list's batch mapper: :func:`_publics` with the export's own columns."""
    return [
        EvaluationRow.model_validate(
            {
                **public.__dict__,
                **{
                    f"indicator_{f.key}": as_fraction(f.value) if f.unit == "%" else f.value
                    for f in public.indicators
                },
                "finalized": public.finalized_at is not None,
            }
        )
        for public in _publics(session, rows)
    ]


EVALUATIONS = Listing(
    noun=N_("evaluation"),
    statement=evaluation_statement,
    order=ORDER,
    to_items=evaluation_rows,
    filters=EvaluationFilters,
    key=Evaluation.id,
    columns=[
        ExportColumn("rank", N_("Rank")),
        ExportColumn("year", N_("Year")),
        ExportColumn("certificate_name", N_("Certificate name")),
        ExportColumn("level", N_("Level")),
        ExportColumn("tier", N_("School tier")),
        ExportColumn("major_names", N_("Major")),
        ExportColumn("headcount", N_("Headcount")),
        *[
            ExportColumn(
                f"indicator_{i.key}",
                i.label,
                percent=i.unit == "%",
            )
            for i in INDICATORS
        ],
        ExportColumn("committee_score", N_("Committee score")),
        ExportColumn("total", N_("Total score")),
        ExportColumn("rating", N_("Grade")),
        ExportColumn("needs_rectification", N_("Needs rectification")),
        ExportColumn("committee_comments", N_("Committee comments")),
        ExportColumn("finalized", N_("Finalised")),
    ],
    filename="evaluations",
    sheet=N_("Pilot evaluations"),
)


def evaluations_listing(filters: EvaluationFilters) -> Listing[EvaluationFilters, EvaluationPublic]:
    """The evaluations list; its export is named after the year when one is asked for."""
    if filters.year is None:
        return EVALUATIONS
    return replace(EVALUATIONS, filename=f"evaluations-{filters.year}")


def year_run(session: Session, principal: Principal, year: int) -> EvaluationRun:
    statement = _statement(principal, EvaluationFilters(year=year))
    rows = session.exec(statement.order_by(*ORDER)).all()
    finalized_at = session.exec(
        select(EvaluationScheme.finalized_at).where(EvaluationScheme.year == year)
    ).first()
    return EvaluationRun(year=year, finalized_at=finalized_at, evaluations=_publics(session, rows))


def year_finalized(session: Session, year: int) -> bool:
    finalized_at = session.exec(
        select(EvaluationScheme.finalized_at).where(EvaluationScheme.year == year)
    ).first()
    return finalized_at is not None
