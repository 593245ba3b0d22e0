"""The points in exams' work where later domains take part (see :mod:`app.core.hooks`); each
runs inside the exams transaction, and its handlers register from their domain's ``flows.py``."""

from datetime import date

from sqlmodel import Session

from app.core.hooks import Hook
from app.core.roles import Principal
from app.exams.models import IssuedCertificate

certificate_revoked: Hook[[Session, Principal, IssuedCertificate, date]] = Hook(
    "exams.certificate_revoked"
)
"""A certificate was revoked: ``(session, principal, issued, today)``, with the certificate's
row locked and its new status flushed; the credit bank reverses what it backed."""
