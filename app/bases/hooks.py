"""The point in a training base's change where the exams domain takes part (see
:mod:`app.core.hooks`): a base's stations may not drop below the capacity of an exam session
held there that is not yet over, and a base with such a session stays a registered exam
site."""

from datetime import date

from sqlmodel import Session

from app.bases.models import TrainingBase
from app.core.hooks import Hook

stations_changing: Hook[[Session, TrainingBase, int, bool, date]] = Hook("bases.stations_changing")
"""``(session, base, new_stations, new_exam_site, today)`` with the base's row locked, before a
change that lowers its stations or ends its exam site is written; a handler refuses by
raising."""
