"""party fees (bases, reductions, payments) and resolution study

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fee_bases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_enc", sa.Text(), nullable=True),
        sa.Column("region", sa.Integer(), nullable=True),
        sa.Column("retirement_age", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('salary', 'pension', 'min_wage')", name=op.f("ck_fee_bases_kind")
        ),
        sa.CheckConstraint(
            "region IS NULL OR region BETWEEN 1 AND 4", name=op.f("ck_fee_bases_region")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_fee_bases_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_fee_bases_org_unit_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_bases")),
        sa.UniqueConstraint("member_id", "valid_from", name="uq_fee_bases_member_from"),
    )
    op.create_index("ix_fee_bases_org_unit", "fee_bases", ["org_unit_id"], unique=False)
    op.create_table(
        "fee_reductions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("from_month", sa.Date(), nullable=False),
        sa.Column("to_month", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("percent IN (30, 50, 70, 100)", name=op.f("ck_fee_reductions_percent")),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_fee_reductions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_fee_reductions_org_unit_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_reductions")),
    )
    op.create_index("ix_fee_reductions_org_unit", "fee_reductions", ["org_unit_id"], unique=False)
    op.create_table(
        "fee_payments",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("amount_due", sa.Integer(), nullable=False),
        sa.Column("amount_paid", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount_due >= 0 AND amount_paid >= 0", name=op.f("ck_fee_payments_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_fee_payments_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_fee_payments_org_unit_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", "month", name=op.f("pk_fee_payments")),
    )
    op.create_index(
        "ix_fee_payments_org_unit_month", "fee_payments", ["org_unit_id", "month"], unique=False
    )

    op.create_table(
        "study_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('draft', 'open')", name=op.f("ck_study_campaigns_status")),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_study_campaigns_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_unit_id"],
            ["org_units.id"],
            name=op.f("fk_study_campaigns_org_unit_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_campaigns")),
    )
    op.create_index("ix_study_campaigns_org_unit", "study_campaigns", ["org_unit_id"], unique=False)
    op.create_table(
        "study_targets",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["study_campaigns.id"],
            name=op.f("fk_study_targets_campaign_id_study_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["org_units.id"],
            name=op.f("fk_study_targets_cell_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "cell_id", name=op.f("pk_study_targets")),
    )
    op.create_index("ix_study_targets_cell", "study_targets", ["cell_id"], unique=False)
    op.create_table(
        "study_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["study_campaigns.id"],
            name=op.f("fk_study_questions_campaign_id_study_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_questions")),
        sa.UniqueConstraint("campaign_id", "position", name="uq_study_questions_campaign_position"),
    )
    op.create_table(
        "study_answers",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["study_campaigns.id"],
            name=op.f("fk_study_answers_campaign_id_study_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_study_answers_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["study_questions.id"],
            name=op.f("fk_study_answers_question_id_study_questions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("question_id", "member_id", name=op.f("pk_study_answers")),
    )
    op.create_index("ix_study_answers_campaign", "study_answers", ["campaign_id"], unique=False)
    op.create_table(
        "study_results",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("cell_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["study_campaigns.id"],
            name=op.f("fk_study_results_campaign_id_study_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["cell_id"],
            ["org_units.id"],
            name=op.f("fk_study_results_cell_id_org_units"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_study_results_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "member_id", name=op.f("pk_study_results")),
    )
    op.create_index("ix_study_results_cell", "study_results", ["cell_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_study_results_cell", table_name="study_results")
    op.drop_table("study_results")
    op.drop_index("ix_study_answers_campaign", table_name="study_answers")
    op.drop_table("study_answers")
    op.drop_table("study_questions")
    op.drop_index("ix_study_targets_cell", table_name="study_targets")
    op.drop_table("study_targets")
    op.drop_index("ix_study_campaigns_org_unit", table_name="study_campaigns")
    op.drop_table("study_campaigns")
    op.drop_index("ix_fee_payments_org_unit_month", table_name="fee_payments")
    op.drop_table("fee_payments")
    op.drop_index("ix_fee_reductions_org_unit", table_name="fee_reductions")
    op.drop_table("fee_reductions")
    op.drop_index("ix_fee_bases_org_unit", table_name="fee_bases")
    op.drop_table("fee_bases")
