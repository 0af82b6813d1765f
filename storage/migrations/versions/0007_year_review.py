"""year-end review: self-review rounds, self-reviews and the grades a cell decided

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_rounds",
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["org_units.id"],
            name=op.f("fk_review_rounds_cell_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("cell_id", "year", name=op.f("pk_review_rounds")),
    )
    op.create_table(
        "self_reviews",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("platform", sa.String(length=16), nullable=True),
        sa.Column("platform_file_id", sa.String(length=255), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('text', 'file')", name=op.f("ck_self_reviews_kind")),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["org_units.id"],
            name=op.f("fk_self_reviews_cell_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_self_reviews_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "year", name=op.f("pk_self_reviews")),
    )
    op.create_index("ix_self_reviews_cell_year", "self_reviews", ["cell_id", "year"], unique=False)
    op.create_table(
        "review_grades",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("graded_by", sa.Integer(), nullable=True),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "grade IN ('excellent', 'good', 'done', 'not_done')",
            name=op.f("ck_review_grades_grade"),
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["org_units.id"],
            name=op.f("fk_review_grades_cell_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_review_grades_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "year", name=op.f("pk_review_grades")),
    )
    op.create_index(
        "ix_review_grades_cell_year", "review_grades", ["cell_id", "year"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_review_grades_cell_year", table_name="review_grades")
    op.drop_table("review_grades")
    op.drop_index("ix_self_reviews_cell_year", table_name="self_reviews")
    op.drop_table("self_reviews")
    op.drop_table("review_rounds")
