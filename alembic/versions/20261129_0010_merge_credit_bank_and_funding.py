"""merge credit bank and funding

Revision ID: 0010
Revises: 0007, 0008
Create Date: 2026-11-29 19:45:00.000000
"""

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | Sequence[str] | None = ("0007", "0008")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
