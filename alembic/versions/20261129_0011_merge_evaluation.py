"""merge the annual evaluation and committee with credit bank and funding

Revision ID: 0011
Revises: 0010, 0009
Create Date: 2026-11-29 20:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0011"
down_revision: str | Sequence[str] | None = ("0010", "0009")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
