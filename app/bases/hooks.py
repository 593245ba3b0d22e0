"""The point in a training base's change where the exams domain takes part (see
:mod:`app.core.hooks`): a base's stations may not drop below the capacity of an exam session
held there that is not yet over."""

from datetime import date

from sqlmodel import Session

from app.bases.models import TrainingBase
from app.core.hooks import Hook

stations_changing: Hook[[Session, TrainingBase, int, date]] = Hook("bases.stations_changing")
"""``(session, base, new_stations, today)`` with the base's row locked, before the change is
written; a handler refuses by raising."""
