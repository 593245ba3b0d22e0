"""The credit bank's part in other domains' work, registered on their hooks (``app.main``
imports this module at start-up)."""

from datetime import date

from sqlmodel import Session, col, select

from app.core.roles import Principal
from app.credits.ledger import reversal_of, write_reversal
from app.credits.models import ConversionRequest, CreditKind, CreditRecord, RequestStatus
from app.credits.requests import close_request
from app.exams.hooks import certificate_revoked
from app.exams.models import IssuedCertificate


def revocation_reason(number: str, reason: str) -> str:
    return f"证书 {number} 已撤销 (certificate revoked): {reason}"[:1000]


@certificate_revoked.register
def settle_revoked_certificate(
    session: Session, principal: Principal, issued: IssuedCertificate, today: date
) -> None:
    """Called by the certificate's revocation, in its transaction, with the certificate's row
    locked: every credit converted from it that is not reversed yet gets its reversal line,
    and every request still waiting for review is rejected, both with the revocation's reason.
    So the ledger never counts credits a revoked certificate no longer backs. Approval and
    filing share-lock the certificate, so none can slip in between."""
    reason = revocation_reason(issued.number, issued.revoke_reason or "")
    credits = session.exec(
        select(CreditRecord)
        .where(
            CreditRecord.issued_certificate_id == issued.id,
            CreditRecord.kind == CreditKind.credit,
        )
        .order_by(col(CreditRecord.id))
        .with_for_update()
    ).all()
    for credit in credits:
        if reversal_of(session, credit.id) is None:
            write_reversal(session, principal, credit, reason, today)
    waiting = session.exec(
        select(ConversionRequest)
        .where(
            ConversionRequest.issued_certificate_id == issued.id,
            ConversionRequest.status == RequestStatus.submitted,
        )
        .order_by(col(ConversionRequest.id))
        .with_for_update()
    ).all()
    for request in waiting:
        close_request(
            session, principal, request, RequestStatus.rejected, "reject", today, reason, False
        )
