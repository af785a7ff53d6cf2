"""Alembic environment: runs on the connection tresen.migrate hands it."""

from alembic import context

from tresen.database import UNMODELLED_PREFIXES, Base
from tresen.rooms import load_models

load_models()
target_metadata = Base.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tresen migrate`, not the alembic command")


def include_name(name, type_, parent_names) -> bool:
    """Full-text index tables and indexes are made by hand in their migration (no model)."""
    return not (type_ in ("table", "index") and (name or "").startswith(UNMODELLED_PREFIXES))


context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
