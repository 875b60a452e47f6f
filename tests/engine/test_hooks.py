"""One test per hook, named after it, plus a check that every hook has a test and a docs section."""

from __future__ import annotations

import inspect
import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import click
import pytest
import requests
from click.testing import CliRunner

from crmsync import hookspecs
from crmsync.errors import ErrorKind, PermanentError
from crmsync.mapping import Converter, compile_mapping
from crmsync.merge import Conflict, Resolution
from crmsync.plugins import create_host, hookimpl
from crmsync.retry import RetryPolicy, call
from crmsync.testing import memory_table

HOOKS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
               if hasattr(fn, "crmsync_spec"))


def seed_one() -> None:
    memory_table("erp").put("E1", name="Hook GmbH", country="DE", vat="DE1", city="Ulm")


def test_every_hook_has_a_docs_section_and_a_test() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    tests = {name for name in globals() if name.startswith("test_hook_")}
    assert len(HOOKS) == 10
    for hook in HOOKS:
        assert re.search(rf"^## {hook}$", docs, re.MULTILINE), f"docs/plugins.md lacks a section for {hook}"
        assert f"test_hook_{hook}" in tests, f"no test named test_hook_{hook}"
        assert (getattr(hookspecs, hook).__doc__ or "").strip(), f"hookspec {hook} has no docstring"


def test_hook_register_connectors() -> None:
    class Nothing:
        name = "nothing"

    class Plugin:
        @hookimpl
        def register_connectors(self, register: Any) -> None:
            register(Nothing)

    assert create_host(extra_plugins=(Plugin(),)).connector_class("nothing") is Nothing


def test_hook_register_converters(tmp_path: Path) -> None:
    class Plugin:
        @hookimpl
        def register_converters(self, register: Any) -> None:
            register(Converter("reverse", "Reverses text.", lambda v, a: v[::-1], lambda v, a: v[::-1]))

    host = create_host(extra_plugins=(Plugin(),))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("connector: memory\nobject: x\nkey: id\nfields:\n"
                       "  organization_name: {source: name, convert: [reverse]}\n")
    compiled = compile_mapping(mapping, host.converters)
    assert compiled.load({"id": "1", "name": "abc"})["organization_name"] == "cba"
    assert compiled.dump({"organization_name": "cba"})["name"] == "abc"


class AlwaysCrm:
    @hookimpl
    def register_conflict_policies(self, register: Any) -> None:
        register("always_crm", lambda c: Resolution(
            c.incoming.value if c.incoming.endpoint == "crm" else c.current.value, "crm", "crm always wins"))


@pytest.mark.parametrize("extra_plugins", [[AlwaysCrm()]])
def test_hook_register_conflict_policies(run: Any) -> None:
    seed_one()
    run(conflicts={"policy": "always_crm"})
    crm = memory_table("crm")
    crm_id = next(iter(crm.records))
    crm.put(crm_id, city="Köln")
    memory_table("erp").put("E1", city="Hamburg")
    summary = run(conflicts={"policy": "always_crm"})
    assert summary.total("conflicts_resolved") == 1
    assert memory_table("erp").records["E1"]["city"] == "Köln"


def test_hook_register_commands() -> None:
    @click.group()
    def root() -> None:
        pass

    class Plugin:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command()
            def hello() -> None:
                click.echo("hello from a plugin")

    create_host(extra_plugins=(Plugin(),)).hook.register_commands(cli=root)
    result = CliRunner().invoke(root, ["hello"])
    assert result.output.strip() == "hello from a plugin"


class NoUlm:
    @hookimpl
    def validate_record(self, record: dict[str, Any], endpoint: str) -> list[str]:
        return ["city Ulm is not served"] if record.get("billing_address.city") == "Ulm" else []


@pytest.mark.parametrize("extra_plugins", [[NoUlm()]])
def test_hook_validate_record(run: Any) -> None:
    seed_one()
    memory_table("erp").put("E2", name="Other AG", country="DE", city="Bonn")
    summary = run()
    assert summary.counts["erp"]["dead_letters"] == 1
    assert [r["name"] for r in memory_table("crm").records.values()] == ["Other AG"]


class MatchByCity:
    hub_id: str | None = None
    calls: list[int] = []

    @hookimpl
    def match_customer(self, record: dict[str, Any], candidates: list[dict[str, Any]]) -> str | None:
        self.calls.append(len(candidates))
        return self.hub_id if record.get("billing_address.city") == "Ulm" else None


@pytest.mark.parametrize("extra_plugins", [[MatchByCity()]])
def test_hook_match_customer(run: Any, state_url: str) -> None:
    from crmsync.state import StateStore, views

    seed_one()
    crm = memory_table("crm")
    crm.reject["*"] = "crm is closed today"  # so the hub is not bound in crm yet
    run()
    store = StateStore(state_url)
    with store.connect() as conn:
        MatchByCity.hub_id = views.resolve_customer(conn, "E1")
    store.dispose()
    crm.reject.clear()
    crm.put("C9", name="Completely Different Ltd", country="GB", city="Ulm")
    summary = run()
    assert summary.counts["crm"]["matched"] == 1, (summary.counts, MatchByCity.hub_id, MatchByCity.calls)
    assert summary.counts["crm"].get("hub_created", 0) == 0
    crm.put("C10", name="Another One Ltd", country="GB", city="Ulm")
    again = run()
    assert again.counts["crm"]["hub_created"] == 1, "a hub already bound in crm is not matched twice"


class ErpWinsCity:
    @hookimpl
    def resolve_conflict(self, conflict: Conflict) -> Resolution | None:
        if conflict.field != "billing_address.city":
            return None
        side = conflict.incoming if conflict.incoming.endpoint == "erp" else conflict.current
        return Resolution(side.value, "erp", "plugin: ERP keeps cities")


@pytest.mark.parametrize("extra_plugins", [[ErpWinsCity()]])
def test_hook_resolve_conflict(run: Any) -> None:
    seed_one()
    run(conflicts={"policy": "manual"})
    crm = memory_table("crm")
    crm_id = next(iter(crm.records))
    memory_table("erp").put("E1", city="Hamburg")
    crm.put(crm_id, city="Köln")
    summary = run(conflicts={"policy": "manual"})
    assert summary.total("conflicts_held") == 0
    assert crm.records[crm_id]["city"] == "Hamburg"


def test_hook_classify_error() -> None:
    class Flaky(Exception):
        pass

    class Plugin:
        @hookimpl
        def classify_error(self, error: BaseException, context: dict[str, Any]) -> ErrorKind | None:
            return ErrorKind.RETRYABLE if isinstance(error, Flaky) else None

    host = create_host(extra_plugins=(Plugin(),))
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Flaky("try again")
        return "done"

    waits: list[float] = []
    result = call(flaky, RetryPolicy(sleep=waits.append), endpoint="x", operation="op",
                  classifier=lambda e, c: host.hook.classify_error(error=e, context=c))
    assert result == "done" and len(attempts) == 3 and len(waits) == 2
    waits.clear()
    with pytest.raises(PermanentError, match="op failed: HTTPError"):  # not retried, message not echoed
        call(lambda: (_ for _ in ()).throw(requests.HTTPError("400 secret-in-url")), RetryPolicy(sleep=waits.append),
             endpoint="x", operation="op", classifier=lambda e, c: host.hook.classify_error(error=e, context=c))
    assert waits == []


class BatchSpy:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @hookimpl(wrapper=True)
    def sync_batch(self, batch: dict[str, Any]) -> Generator[None, Any, Any]:
        before = dict(batch)
        outcome = yield
        self.seen.append({"before": before, "after": dict(batch)})
        return outcome


SPY = BatchSpy()


@pytest.mark.parametrize("extra_plugins", [[SPY]])
def test_hook_sync_batch(run: Any) -> None:
    SPY.seen.clear()
    seed_one()
    run()
    [call_] = SPY.seen
    assert call_["before"]["endpoint"] == "crm" and call_["before"]["size"] == 1
    assert call_["after"]["results"] == {"ok": 1, "failed": 0}


class FinishedSpy:
    runs: list[dict[str, Any]] = []

    @hookimpl
    def sync_finished(self, run: dict[str, Any]) -> None:
        self.runs.append(run)


@pytest.mark.parametrize("extra_plugins", [[FinishedSpy()]])
def test_hook_sync_finished(run: Any) -> None:
    FinishedSpy.runs.clear()
    seed_one()
    summary = run()
    [report] = FinishedSpy.runs
    assert report["run_id"] == summary.run_id and report["status"] == "ok"
    assert report["counts"]["crm"]["created"] == 1


def test_retries_stop_when_the_run_budget_is_spent() -> None:
    from crmsync.errors import RetryableError

    waits: list[float] = []
    policy = RetryPolicy(max_attempts=50, initial_wait=1, max_wait=4, max_total=10_000, max_run_total=20,
                         sleep=waits.append)

    def always_down() -> None:
        raise RetryableError("503", endpoint="x")

    with pytest.raises(RetryableError):
        call(always_down, policy, endpoint="x", operation="first")
    assert 20 <= sum(waits) < 24 and len(waits) < 49
    before = len(waits)
    with pytest.raises(RetryableError):
        call(always_down, policy, endpoint="x", operation="second")
    assert len(waits) == before, "the run's retry budget is spent: the next call fails at once"
