"""The evaluations' figures for reports: how many evaluations of a year have each rating, and
how many are flagged for 整改 (the overview's evaluations figure)."""

from sqlmodel import Session, col, func, select

from app.evaluations.models import Evaluation, Rating


def counts_by_rating(session: Session, year: int | None) -> dict[str, int]:
    """How many evaluations of the year have each rating (and none yet), for the overview."""
    statement = select(Evaluation.rating)
    if year is not None:
        statement = statement.where(Evaluation.year == year)
    counts = {rating.value: 0 for rating in Rating}
    counts["unrated"] = 0
    for rating in session.exec(statement).all():
        counts[Rating(rating).value if rating else "unrated"] += 1
    return counts


def count_flagged(session: Session, year: int | None) -> int:
    """How many evaluations of the year are flagged for 整改 (rated 不合格)."""
    statement = select(func.count(col(Evaluation.id))).where(col(Evaluation.needs_rectification))
    if year is not None:
        statement = statement.where(Evaluation.year == year)
    return int(session.exec(statement).one())
