"""Units' questions, kept until staff mark them answered.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.Column('answered_by', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['message_row_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_question_message_row_id'), ['message_row_id'], unique=True)


def downgrade() -> None:
    op.drop_table('question')
