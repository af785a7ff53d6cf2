"""The schema exists only through migrations: they must build exactly what the models say."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tresen.database import UNMODELLED_PREFIXES, Base, create_engine


def _modelled(name, type_, parent_names) -> bool:
    return not (type_ in ("table", "index") and (name or "").startswith(UNMODELLED_PREFIXES))


async def test_migrations_match_the_models(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "include_name": _modelled}
                    ),
                    Base.metadata,
                )
            )
    finally:
        await engine.dispose()
    assert differences == []
