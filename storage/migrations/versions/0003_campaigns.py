"""Several campaigns in one mailbox: the campaign table, and each message and file filed under one.

The rows of a release with one campaign are filed under it (the slug `intake db upgrade` passes from the
config; without one, the slug the reminder ledger or the stored files' folders name).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(), nullable=False),
    sa.Column('table_json', sa.String(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('config_sha256', sa.String(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign', sa.String(), nullable=True))
        batch_op.add_column(sa.Column('campaign_reason', sa.String(), nullable=True))
        batch_op.create_index(batch_op.f('ix_message_campaign'), ['campaign'], unique=False)
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('campaign', sa.String(), nullable=True))
        batch_op.create_index(batch_op.f('ix_item_campaign'), ['campaign'], unique=False)
    slug = context.config.attributes.get("default_campaign") or _earlier_slug()
    if slug:
        op.execute(sa.text("UPDATE message SET campaign = :slug, campaign_reason = 'only-open' "
                           "WHERE state NOT IN ('unrelated')").bindparams(slug=slug))
        op.execute(sa.text("UPDATE item SET campaign = (SELECT message.campaign FROM message "
                           "WHERE message.id = item.message_row_id)"))


def _earlier_slug() -> str | None:
    bind = op.get_bind()
    row = bind.execute(sa.text("SELECT campaign FROM reminder LIMIT 1")).first()
    if row is not None:
        return str(row[0])
    row = bind.execute(sa.text("SELECT path FROM item WHERE path IS NOT NULL LIMIT 1")).first()
    return str(row[0]).split("/", 1)[0] if row is not None else None


def downgrade() -> None:
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_campaign'))
        batch_op.drop_column('campaign')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_campaign'))
        batch_op.drop_column('campaign_reason')
        batch_op.drop_column('campaign')
    op.drop_table('campaign')
