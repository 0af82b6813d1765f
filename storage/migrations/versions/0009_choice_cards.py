"""choice cards: numbered option lists ordered by a sequence, replacing pending_choices

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 13:20:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema. Pending options are short-lived: they are dropped, not carried over
    (they carry no order to rebuild cards from); a number typed under one of them afterwards
    is taken as plain text, and the person sends the command again."""
    op.drop_table("pending_choices")
    op.create_table(
        "choice_cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=64), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("confirming", sa.Boolean(), nullable=False),
        sa.Column("question", sa.Boolean(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_choice_cards")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_choice_cards_chat", "choice_cards", ["platform", "chat_id", "id"], unique=False
    )
    op.create_index(
        "ix_choice_cards_audience", "choice_cards", ["platform", "audience"], unique=False
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_choice_cards_audience", table_name="choice_cards")
    op.drop_index("ix_choice_cards_chat", table_name="choice_cards")
    op.drop_table("choice_cards")
    op.create_table(
        "pending_choices",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "chat_id", "user_id", name=op.f("pk_pending_choices")),
    )
