"""Alembic environment: runs on the connection tresen.migrate hands it."""

from alembic import context

from tresen.database import Base
from tresen.rooms import load_models

load_models()
target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tresen migrate`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
