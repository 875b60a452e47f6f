"""Shared fixtures: state databases on SQLite, PostgreSQL and MariaDB.

PostgreSQL (127.0.0.1:5432, database test) and MariaDB (127.0.0.1:3306, database test) are used
when reachable; under CI=true an unreachable one fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

BACKENDS = {
    "sqlite": None,
    "postgresql": os.environ.get("CRMSYNC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("CRMSYNC_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
_DATABASES: dict[str, str] = {}
"""backend -> URL of a database made for this test session, so concurrent suites never collide."""


def _session_database(name: str) -> str:
    if name not in _DATABASES:
        server = sa.make_url(BACKENDS[name] or "")
        own = f"crmsync_t{os.getpid()}"
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {own}"))
                conn.execute(sa.text(f"CREATE DATABASE {own}"))
        finally:
            engine.dispose()
        _DATABASES[name] = server.set(database=own).render_as_string(hide_password=False)
    return _DATABASES[name]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for name, url in _DATABASES.items():
        server = sa.make_url(BACKENDS[name] or "")
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {sa.make_url(url).database}"))
        except sa.exc.DBAPIError:
            pass
        finally:
            engine.dispose()


def _reset(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            meta = sa.MetaData()
            meta.reflect(conn)
            meta.drop_all(conn)
    finally:
        engine.dispose()


def backend_url(name: str, tmp_path: Path) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    try:
        url = _session_database(name)
        _reset(url)
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not reachable under CI=true: {exc}")
        pytest.skip(f"{name} not reachable: {exc}")
    return url


@pytest.fixture(params=list(BACKENDS))
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty state database on each backend."""
    yield backend_url(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return backend_url("sqlite", tmp_path)


@pytest.fixture
def state_url_for(tmp_path: Path) -> object:
    """A function giving a fresh state database URL for a named backend."""

    def _url(name: str) -> str:
        return backend_url(name, tmp_path)

    return _url


EXAMPLE_CONNECTOR = Path(__file__).parents[1] / "examples" / "crmsync-jsonfile"


@pytest.fixture(scope="session")
def example_plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example connector pip-installed into its own folder: an environment whose PYTHONPATH makes
    its entry point visible to a `crmsync` subprocess, exactly like an installed third-party plugin."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE_CONNECTOR)], check=True, capture_output=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    return env
