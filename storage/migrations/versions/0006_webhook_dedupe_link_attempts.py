"""hardening: Zalo webhook dedupe that survives restarts, link-code attempt counters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:40:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "zalo_seen_messages",
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_zalo_seen_messages")),
    )
    op.create_index(
        "ix_zalo_seen_messages_seen_at", "zalo_seen_messages", ["seen_at"], unique=False
    )
    op.create_table(
        "link_attempts",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=160), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_link_attempts")),
    )
    op.create_index(
        "ix_link_attempts_window_start", "link_attempts", ["window_start"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_link_attempts_window_start", table_name="link_attempts")
    op.drop_table("link_attempts")
    op.drop_index("ix_zalo_seen_messages_seen_at", table_name="zalo_seen_messages")
    op.drop_table("zalo_seen_messages")
