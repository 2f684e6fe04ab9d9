"""The running site: configuration, database, plugin manager and hooks in one object.

The CLI builds one per command, the web app one per process (kept on
``app.extensions["lms"]``), tests one per test. Nothing here is global.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pluggy
from sqlalchemy.orm import Session

from lms_core import outbox
from lms_core.config import Config
from lms_core.config import load_config
from lms_core.context import Context
from lms_core.db import make_engine
from lms_core.db import make_sessionmaker
from lms_core.errors import LMSError
from lms_core.hooks.caller import Hooks
from lms_core.plugins import is_core_plugin
from lms_core.plugins import load_plugins
from lms_core.plugins import make_plugin_manager
from lms_core.ratelimit import Limiter
from lms_core.ratelimit import make_limiter

if TYPE_CHECKING:
    from lms_core.filestore import BlobStore
    from lms_core.models import User

__all__ = ["LMS"]

log = logging.getLogger(__name__)


class LMS:
    """One deployment's runtime."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        plugins: Iterable[ModuleType | str] = (),
        use_entry_points: bool = True,
    ) -> None:
        """:param plugins: plugin modules to load besides the installed entry points.
        :param use_entry_points: False loads only ``plugins`` (tests that want isolation)."""
        self.config = config or load_config()
        if not self.config.database.url:
            Path(self.config.instance_path).mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(
            self.config.database_url,
            echo=self.config.database.echo,
            pool_size=self.config.database.pool_size,
        )
        self.Session = make_sessionmaker(self.engine)
        #: Attempt counters every process of the site shares (the database, or Redis).
        self.limiter: Limiter = make_limiter(self.engine, self.config.redis_url)
        self.pm: pluggy.PluginManager = make_plugin_manager()
        self.plugins = load_plugins(
            self.pm,
            extra=(*self.config.plugins.modules, *plugins),
            use_entry_points=use_entry_points,
        )
        self.hooks = Hooks(
            self.pm, self.plugin_enabled, lambda: [p.info for p in self.plugins.loaded.values()]
        )
        self._enabled: frozenset[str] = frozenset()
        self._state_version: int | None = None
        self.refresh_plugins(force=True)
        #: When False, events are left in the outbox for ``lms worker`` instead of being
        #: delivered in-process right after commit.
        self.deliver_inline = self.config.events.deliver_inline
        self._files: BlobStore | None = None

    @property
    def files(self) -> BlobStore:
        """The file store's blobs (``[files] url``), opened on first use."""
        if self._files is None:
            from lms_core.filestore import BlobStore

            self._files = BlobStore(self.config.files_url)
        return self._files

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def plugin_enabled(self, name: str) -> bool:
        """Whether the plugin ``name`` runs in this deployment right now."""
        return is_core_plugin(name) or name in self._enabled

    @property
    def enabled_plugins(self) -> frozenset[str]:
        return self._enabled

    def refresh_plugins(self, force: bool = False) -> bool:
        """Pick up plugin toggles made by any process. Returns True when the set changed.

        Costs one primary-key read; the enabled set is reloaded only when the state version
        moved (or ``force``).
        """
        from lms_core.services.plugins import read_enabled
        from lms_core.services.plugins import state_version

        if not force and self._state_version is not None:
            try:
                if state_version(self) == self._state_version:
                    return False
            except Exception:
                return False
        version, enabled = read_enabled(self)
        changed = enabled != self._enabled
        self._state_version, self._enabled = version, enabled
        return changed

    @contextmanager
    def transaction(
        self,
        actor: User | None = None,
        *,
        address: str | None = None,
        system: bool = False,
    ) -> Iterator[Context]:
        """A write unit of work: commits on success, rolls back on error, then delivers events.

        On SQLite the transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue.
        """
        self.refresh_plugins()
        with self.Session() as session:
            session.connection(execution_options={"sqlite_write": True})
            if actor is not None and actor not in session:
                # Read the actor afresh: a copy loaded earlier may predate a deactivation or
                # a role change, and permission checks must see the current state.
                actor = session.get(type(actor), actor.id)
            ctx = Context(
                session=session,
                hooks=self.hooks,
                actor=actor,
                address=address,
                system=system,
                lms=self,
            )
            try:
                yield ctx
                session.commit()
            except LMSError:
                if ctx.commit_on_error:
                    session.commit()
                else:
                    session.rollback()
                raise
            except BaseException:
                session.rollback()
                raise
        for work in ctx.after_commit:
            try:
                work()
            except Exception:
                log.exception("after-commit work %r failed", work)
        if ctx.event_ids and self.deliver_inline:
            outbox.deliver_events(self, ctx.event_ids)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session (rolled back at the end)."""
        with self.Session() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
