"""The schema of the releases before the schema was versioned (one campaign from [campaign]).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(), nullable=False),
    sa.Column('command', sa.String(), nullable=False),
    sa.Column('unit', sa.String(), nullable=True),
    sa.Column('message_row_id', sa.Integer(), nullable=True),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_message_row_id'), ['message_row_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_unit'), ['unit'], unique=False)

    op.create_table('cursor',
    sa.Column('folder', sa.String(), nullable=False),
    sa.Column('uidvalidity', sa.Integer(), nullable=False),
    sa.Column('last_uid', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('folder')
    )
    op.create_table('job_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(), nullable=False),
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('moment', sa.DateTime(), nullable=False),
    sa.Column('outbox_row_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job', 'key', name='uq_job_run')
    )
    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('folder', sa.String(), nullable=False),
    sa.Column('uidvalidity', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('disposition', sa.String(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=True),
    sa.Column('message_id', sa.String(), nullable=True),
    sa.Column('from_addr', sa.String(), nullable=True),
    sa.Column('from_name', sa.String(), nullable=True),
    sa.Column('subject', sa.String(), nullable=True),
    sa.Column('raw_sha256', sa.String(), nullable=True),
    sa.Column('raw_path', sa.String(), nullable=True),
    sa.Column('raw_size', sa.Integer(), nullable=True),
    sa.Column('unit', sa.String(), nullable=True),
    sa.Column('match_how', sa.String(), nullable=True),
    sa.Column('match_text', sa.String(), nullable=True),
    sa.Column('review', sa.String(), nullable=True),
    sa.Column('automatic', sa.String(), nullable=True),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('reply_kind', sa.String(), nullable=True),
    sa.Column('duplicate_of', sa.Integer(), nullable=True),
    sa.Column('marked', sa.Boolean(), nullable=False),
    sa.Column('error', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('folder', 'uidvalidity', 'uid', name='uq_message_source')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_unit'), ['unit'], unique=False)

    op.create_table('reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign', sa.String(), nullable=False),
    sa.Column('unit', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('slot', sa.String(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('moment', sa.DateTime(), nullable=False),
    sa.Column('missing', sa.String(), nullable=False),
    sa.Column('outbox_ids', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign', 'unit', 'slot', name='uq_reminder_slot')
    )
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_unit'), ['unit'], unique=False)

    op.create_table('roster',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('sha256', sa.String(), nullable=False),
    sa.Column('units_json', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('roster', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roster_sha256'), ['sha256'], unique=False)

    op.create_table('item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(), nullable=True),
    sa.Column('category', sa.String(), nullable=False),
    sa.Column('filename', sa.String(), nullable=False),
    sa.Column('path', sa.String(), nullable=True),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('counted', sa.Boolean(), nullable=False),
    sa.Column('already_stored', sa.Boolean(), nullable=False),
    sa.Column('late', sa.Boolean(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('has_exif', sa.Boolean(), nullable=False),
    sa.Column('title', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['message_row_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_message_row_id'), ['message_row_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_item_unit'), ['unit'], unique=False)

    op.create_table('link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(), nullable=True),
    sa.Column('provider', sa.String(), nullable=False),
    sa.Column('url', sa.String(), nullable=False),
    sa.Column('filename', sa.String(), nullable=False),
    sa.Column('size', sa.String(), nullable=False),
    sa.Column('expires', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['message_row_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_message_row_id'), ['message_row_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('to_addr', sa.String(), nullable=False),
    sa.Column('subject', sa.String(), nullable=False),
    sa.Column('header_message_id', sa.String(), nullable=False),
    sa.Column('raw', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('bounce_row_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['message_row_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('header_message_id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_row_id'), ['message_row_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_state'), ['state'], unique=False)

    op.create_table('override',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('key', sa.String(), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['action.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('override', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_override_kind'), ['kind'], unique=False)

    op.create_table('problem',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_row_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(), nullable=True),
    sa.Column('code', sa.String(), nullable=False),
    sa.Column('file', sa.String(), nullable=True),
    sa.Column('text', sa.String(), nullable=False),
    sa.ForeignKeyConstraint(['message_row_id'], ['message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('problem', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_problem_message_row_id'), ['message_row_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_problem_unit'), ['unit'], unique=False)


def downgrade() -> None:
    op.drop_table('problem')
    op.drop_table('override')
    op.drop_table('outbox')
    op.drop_table('link')
    op.drop_table('item')
    op.drop_table('roster')
    op.drop_table('reminder')
    op.drop_table('message')
    op.drop_table('job_run')
    op.drop_table('cursor')
    op.drop_table('action')
