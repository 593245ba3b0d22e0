"""What a teacher training's state lets change, and how it moves, for the endpoints and the
``teacher-trainings`` upload alike: its plan until it is decided, then its certificate's details
(certified) or nothing but notes (failed); forward only. Each function answers the problem in
words, or None (as :mod:`app.trainings.rules`, which the schemas' module imports, so these that
read the states live here)."""

from collections.abc import Collection

from app.core.i18n import _
from app.core.labels import label
from app.trainings.models import TrainingStatus

PLAN_FIELDS = frozenset(
    {"teacher_id", "certificate_id", "level", "provider", "start_date", "end_date", "hours"}
)
CERTIFICATE_FIELDS = frozenset(
    {"trainer_certificate_no", "evaluator_qualification_no", "valid_until"}
)
EDITABLE: dict[TrainingStatus, frozenset[str]] = {
    TrainingStatus.planned: PLAN_FIELDS | {"notes"},
    TrainingStatus.in_progress: PLAN_FIELDS | {"notes"},
    TrainingStatus.certified: CERTIFICATE_FIELDS | {"notes"},
    TrainingStatus.failed: frozenset({"notes"}),
}
"""What a teacher training in each state may change: its plan until it is decided, then its
certificate's details (certified) or nothing but notes (failed)."""
DECIDED = frozenset({TrainingStatus.certified, TrainingStatus.failed})
_STAGE = {
    TrainingStatus.planned: 0,
    TrainingStatus.in_progress: 1,
    TrainingStatus.certified: 2,
    TrainingStatus.failed: 2,
}


def editable_problem(
    training_id: int | None, status: TrainingStatus, changed: Collection[str]
) -> str | None:
    """A training in ``status`` changes only what :data:`EDITABLE` allows it."""
    editable = EDITABLE[status]
    refused = sorted(set(changed) - editable)
    if refused:
        return _(
            "training {id} is {status}; it cannot change {refused} (it may change {editable})",
            id=training_id,
            status=label(status),
            refused=", ".join(refused),
            editable=", ".join(sorted(editable)),
        )
    return None


def status_move_problem(
    training_id: int | None, status: TrainingStatus, new_status: TrainingStatus
) -> str | None:
    """A training moves forward only: planned, in progress, then certified or failed, which
    is final (an upload may record a later state in one step; the endpoints take one at a
    time)."""
    if new_status != status and (status in DECIDED or _STAGE[new_status] < _STAGE[status]):
        return _(
            "training {id} is {status}; it cannot go back to {new_status}",
            id=training_id,
            status=label(status),
            new_status=label(new_status),
        )
    return None
