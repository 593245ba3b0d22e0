"""Imports every table model so that ``SQLModel.metadata`` knows the whole schema."""

from app.accounts.models import ApiKey, LoginFailure, User
from app.core.audit import AuditEvent

__all__ = ["ApiKey", "AuditEvent", "LoginFailure", "User"]
