"""issue 15: a series remembers its first occurrence; meetings their end; cells whether the
group hears absentees' names

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 13:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meeting_series") as batch:
        batch.add_column(sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True))
    # An existing series starts at its earliest occurrence (its creation if it has none).
    op.execute(
        "UPDATE meeting_series SET starts_at = COALESCE("
        "(SELECT MIN(meetings.starts_at) FROM meetings"
        " WHERE meetings.series_id = meeting_series.id), created_at)"
    )
    with op.batch_alter_table("meeting_series") as batch:
        batch.alter_column("starts_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("org_units") as batch:
        batch.add_column(
            sa.Column("absentees_in_group", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("org_units") as batch:
        batch.drop_column("absentees_in_group")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("ended_at")
    with op.batch_alter_table("meeting_series") as batch:
        batch.drop_column("starts_at")
