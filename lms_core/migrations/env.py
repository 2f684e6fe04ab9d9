"""Alembic environment shared by the core and every plugin's migration branch."""

from __future__ import annotations

from alembic import context

import lms_core.models  # noqa: F401  (registers the core tables on the metadata)
from lms_core.db import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from lms_core.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            version_table=config.attributes.get("version_table", "alembic_version"),
            # `lms db revision --plugin NAME` compares only that plugin's tables.
            include_name=config.attributes.get("include_name"),
            include_object=config.attributes.get("include_object"),
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `lms db upgrade`")
run_migrations_online()
