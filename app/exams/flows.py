"""The exams domain's part in earlier domains' work (see :mod:`app.core.hooks`): a training
base's stations never drop below the capacity of an exam session held there that is not over,
and a base with such a session stays a registered exam site."""

from datetime import date

from sqlmodel import Session, col, select

from app.bases.hooks import stations_changing
from app.bases.models import TrainingBase
from app.core.errors import Conflict
from app.core.i18n import _
from app.exams.models import ExamSession


@stations_changing.register
def refuse_stations_below_sessions(
    session: Session, base: TrainingBase, stations: int, exam_site: bool, today: date
) -> None:
    """409 naming the sessions at ``base`` on ``today`` or later that seat more than
    ``stations`` (or any such session, when the base stops being an exam site); sessions
    already held are history and do not hold the base back."""
    if not exam_site:
        coming = session.exec(
            select(ExamSession.id)
            .where(ExamSession.base_id == base.id, col(ExamSession.exam_date) >= today)
            .order_by(col(ExamSession.exam_date), col(ExamSession.id))
        ).all()
        if coming:
            raise Conflict(
                _(
                    "The training base {name} stays a registered exam site while exam sessions "
                    "{ids} are to be held there; move them first",
                    name=base.name,
                    ids=", ".join(map(str, coming)),
                ),
                code="exam_site_has_sessions",
                sessions=list(coming),
            )
    rows = session.exec(
        select(  # type: ignore[call-overload]
            ExamSession.id, ExamSession.exam_date, ExamSession.capacity
        )
        .where(
            ExamSession.base_id == base.id,
            col(ExamSession.exam_date) >= today,
            col(ExamSession.capacity) > stations,
        )
        .order_by(col(ExamSession.exam_date), col(ExamSession.id))
    ).all()
    if rows:
        listed = ", ".join(
            _("session {id} on {day} (capacity {capacity})", id=i, day=d, capacity=c)
            for i, d, c in rows
        )
        raise Conflict(
            _(
                "The training base {name} cannot go down to {stations} stations: {listed} "
                "would no longer fit; lower those sessions' capacity or move them first",
                name=base.name,
                stations=stations,
                listed=listed,
            ),
            code="stations_below_session_capacity",
            sessions=[row[0] for row in rows],
            largest_capacity=max(row[2] for row in rows),
        )
