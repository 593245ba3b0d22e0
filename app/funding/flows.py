"""Funding's part in earlier domains' work, registered on their hooks (``app.main`` imports
this module at start-up; see :mod:`app.core.hooks`)."""

from sqlmodel import Session

from app.exams.service import PassesFailing, result_changing
from app.funding.service import standing_subsidies


@result_changing.register
def subsidies_stand_on_passes(session: Session, change: PassesFailing) -> None:
    """A pass with a standing pass subsidy (paid and not reversed) does not become a fail:
    name each one's voucher, and exams refuses the change until the payment is reversed
    (红冲)."""
    change.payments.update(standing_subsidies(session, change.result_ids))
