"""The ``crmsync`` command line (click), with rich tables and progress.

Exit codes: 0 success; 1 finished with rejected records (dead letters); 2 usage or configuration
error; 3 another run holds the pipeline lock; 4 a connector or the state database was unreachable.
Plugins add commands through the ``register_commands`` hook.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmsync import __version__
from crmsync.config import STARTER_CONFIG, Config, load_config
from crmsync.errors import ConfigError, CrmsyncError
from crmsync.logs import setup_logging
from crmsync.plugins import get_host

EXIT_CODES = """\b
Exit codes:
  0  success
  1  finished, but some records were rejected (see `crmsync deadletters list`)
  2  usage or configuration error
  3  another run holds the pipeline lock
  4  a connector or the state database was unreachable"""

console = Console()
err_console = Console(stderr=True)


class _Context:
    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    def store(self) -> Any:
        from crmsync.state import StateStore

        return StateStore(self.config.state_url)


pass_ctx = click.make_pass_decorator(_Context)


class _Group(click.Group):
    """Turns crmsync errors into a clear message and the documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrmsyncError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, epilog=EXIT_CODES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crmsync")
@click.option("-c", "--config", "config_path", type=click.Path(path_type=Path), default="crmsync.yaml",
              envvar="CRMSYNC_CONFIG", show_default=True, help="Configuration file (env CRMSYNC_CONFIG).")
@click.option("--log-level", default="WARNING", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--log-format", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="json: one JSON object per line, with the run id, for log shippers.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, log_level: str, log_format: str) -> None:
    """crmsync keeps customer master data in sync, both ways, between SAP, Salesforce and spreadsheets.

    Every endpoint is mapped to one canonical customer ledger kept in the state database;
    `crmsync sync PIPELINE` reads what changed at each endpoint, merges it field by field and
    writes the result to the others. Start with `crmsync init`, then `crmsync check`.
    `crmsync demo` runs a complete two-way sync against bundled fake servers.
    """
    setup_logging(log_level, log_format)
    ctx.obj = _Context(config_path)


@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default="crmsync.yaml")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented starter configuration to PATH (default crmsync.yaml)."""
    if path.exists() and not force:
        raise ConfigError("already exists; use --force to overwrite", file=str(path))
    path.write_text(STARTER_CONFIG, encoding="utf-8")
    console.print(f"wrote {path}: edit the endpoints, set the secrets' environment variables, "
                  "then run `crmsync check`.")


@cli.command()
def plugins() -> None:
    """List loaded plugins, the connectors, converters and conflict policies they provide."""
    host = get_host()
    table = Table(title="plugins (entry-point group 'crmsync')")
    for col in ("name", "module", "distribution", "version", "status"):
        table.add_column(col)
    for info in host.plugins:
        status = "disabled" if info.disabled else f"[red]failed: {info.error}[/]" if info.error else "loaded"
        table.add_row(info.name, info.module, info.distribution, info.version, status)
    console.print(table)
    connectors = Table(title="connectors")
    for col in ("name", "objects", "capabilities", "class"):
        connectors.add_column(col)
    for name, cls in sorted(host.connectors.items()):
        connectors.add_row(name, ", ".join(cls.objects) or "any", ", ".join(sorted(cls.capabilities)),
                           f"{cls.__module__}.{cls.__qualname__}")
    console.print(connectors)
    console.print("converters: " + ", ".join(sorted(host.converters)))
    console.print("conflict policies: " + ", ".join(sorted(host.conflict_policies)))


@cli.command()
@click.option("--no-connect", is_flag=True, help="Skip the connectivity and describe checks.")
@pass_ctx
def check(obj: _Context, no_connect: bool) -> None:
    """Check the configuration, the mappings (against the endpoints' field metadata) and connectivity."""
    from crmsync.engine import open_endpoint
    from crmsync.mapping import check_mapping

    config = obj.config
    host = get_host()
    problems = 0
    console.print(f"config {config.path}: ok ({len(config.endpoints)} endpoints, {len(config.pipelines)} pipelines)")
    for name, endpoint_config in config.endpoints.items():
        describe = None
        cls = host.connector_class(endpoint_config.connector)
        if not no_connect:
            try:
                endpoint = open_endpoint(endpoint_config, host)
                describe = endpoint.connector.describe()
                endpoint.connector.close()
                console.print(f"endpoint {name}: reachable, {len(describe)} fields described")
            except CrmsyncError as exc:
                problems += 1
                console.print(f"[red]endpoint {name}: {exc}[/]")
        found = check_mapping(endpoint_config.mapping, describe=describe, capabilities=cls.capabilities,
                              converters=host.converters)
        for problem in found:
            console.print(f"[{'red' if problem.severity == 'error' else 'yellow'}]{escape(str(problem))}[/]")
        problems += sum(1 for p in found if p.severity == "error")
        if not found:
            console.print(f"mapping {endpoint_config.mapping.name}: ok")
    store = obj.store()
    console.print(f"state {store!r}: revision {store.current_revision()}")
    if problems:
        raise ConfigError(f"{problems} problem(s) found; each line above names the fix")


@cli.command()
@click.argument("pipeline")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing anywhere (state included).")
@click.option("--full", is_flag=True,
              help="Re-read everything from the start and reconcile: records the cursor missed are synced, "
                   "records gone from the source are handled by the endpoint's delete policy.")
@click.option("--allow-mass-delete", is_flag=True,
              help="Go on even if more than the pipeline's mass_delete_threshold of an endpoint is gone.")
@pass_ctx
def sync(obj: _Context, pipeline: str, dry_run: bool, full: bool, allow_mass_delete: bool) -> None:
    """Run PIPELINE once: read changes from every endpoint, merge, and write them to the others."""
    summary = run_pipeline(obj.config, pipeline, dry_run=dry_run, full=full, allow_mass_delete=allow_mass_delete)
    if summary.status == "rejected":
        sys.exit(1)


def run_pipeline(config: Config, pipeline: str, *, dry_run: bool = False, full: bool = False,
                 allow_mass_delete: bool = False, quiet: bool = False) -> Any:
    """Run a pipeline with progress on a terminal (plain lines otherwise) and print its summary."""
    from crmsync.engine import SyncEngine

    interactive = err_console.is_terminal and not quiet
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} records"),
                  TimeElapsedColumn(), console=err_console, disable=not interactive) as progress:
        tasks: dict[tuple[str, str], TaskID] = {}

        totals: dict[tuple[str, str], int] = {}

        def on_progress(endpoint: str, action: str, n: int) -> None:
            key = (endpoint, action)
            totals[key] = totals.get(key, 0) + n
            if not interactive:
                if not quiet:
                    err_console.print(f"{endpoint}: {action} {totals[key]} records", highlight=False)
                return
            if key not in tasks:
                tasks[key] = progress.add_task(f"{endpoint}: {action}", total=None)
            progress.advance(tasks[key], n)

        engine = SyncEngine(config, pipeline, progress=on_progress, allow_mass_delete=allow_mass_delete)
        summary = engine.run(dry_run=dry_run, full=full)
    if not quiet:
        print_summary(summary)
    return summary


def print_summary(summary: Any) -> None:
    actions = ["read", "unchanged", "hub_created", "matched", "hub_filled", "hub_updated", "deleted_at_source",
               "created", "updated", "deleted", "conflicts_held", "conflicts_resolved", "owned_rejected",
               "dead_letters", "failed", "retry_later", "would_create", "would_update", "would_delete"]
    used = [a for a in actions if summary.total(a)]
    endpoints = list(summary.counts)
    table = Table(title=f"{'DRY RUN ' if summary.dry_run else ''}run {summary.run_id} "
                        f"({summary.pipeline}): {summary.status}, {summary.duration:.2f}s")
    table.add_column("")
    for endpoint in endpoints:
        table.add_column(endpoint, justify="right")
    for action in used:
        table.add_row(action.replace("_", " "), *[str(summary.counts[e].get(action, 0)) for e in endpoints])
    table.add_row("API calls", *[str(summary.api_calls.get(e, 0)) for e in endpoints])
    console.print(table)
    if summary.dry_run and summary.plan:
        plan = Table(title="plan (nothing was written)")
        for col in ("endpoint", "action", "hub id", "external id", "changes"):
            plan.add_column(col)
        for item in summary.plan[:200]:
            changes = "; ".join(f"{f}: {old!r} -> {new!r}" for f, (old, new) in item.changes.items())
            plan.add_row(item.endpoint, item.action, item.hub_id, item.external_id or "-", changes)
        console.print(plan)
        if len(summary.plan) > 200:
            console.print(f"... and {len(summary.plan) - 200} more planned writes")


@cli.group()
def db() -> None:
    """State database maintenance."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(obj: _Context) -> None:
    """Apply pending migrations to the state database (also done on first use)."""
    store = obj.store()
    console.print(f"state database at revision {store.upgrade()}")


@db.command("current")
@pass_ctx
def db_current(obj: _Context) -> None:
    """Show the state database's migration revision."""
    store = obj.store()
    console.print(f"current {store.current_revision()}, head {store.head_revision()}")


@cli.group()
def runs() -> None:
    """Run history."""


@runs.command("list")
@click.option("--pipeline", help="Only this pipeline.")
@click.option("--limit", default=20, show_default=True)
@pass_ctx
def runs_list(obj: _Context, pipeline: str | None, limit: int) -> None:
    """List recent runs, newest first."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        rows = views.list_runs(conn, pipeline, limit)
    table = Table(title="runs")
    for col in ("run", "pipeline", "status", "started", "duration s", "read", "written", "records/s"):
        table.add_column(col)
    for r in rows:
        written = sum(c.get("created", 0) + c.get("updated", 0) for c in r["counts"].values())
        read = sum(c.get("read", 0) for c in r["counts"].values())
        table.add_row(r["id"], r["pipeline"], r["status"], f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
                      f"{r['duration_s']:.2f}" if r["duration_s"] is not None else "-", str(read), str(written),
                      str(r["records_per_s"] or "-"))
    console.print(table)


@runs.command("show")
@click.argument("run_id")
@pass_ctx
def runs_show(obj: _Context, run_id: str) -> None:
    """Counts per endpoint and action, duration, API calls, dead letters and conflicts of RUN_ID."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        run = views.get_run(conn, run_id)
    if run is None:
        raise ConfigError(f"no run {run_id!r}; see `crmsync runs list`")
    console.print(f"run {run['id']} ({run['pipeline']}): {run['status']}, started {run['started_at']:%Y-%m-%d %H:%M:%S}"
                  f", {run['duration_s'] or 0:.2f}s, {run['records_per_s'] or 0} records/s")
    if run["error"]:
        console.print(f"[red]error: {run['error']}[/]")
    table = Table()
    table.add_column("endpoint")
    table.add_column("action")
    table.add_column("count", justify="right")
    for endpoint, counts in run["counts"].items():
        for action, n in sorted(counts.items()):
            table.add_row(endpoint, action, str(n))
    console.print(table)
    console.print(f"API calls: {run['api_calls']}; dead letters: {run['dead_letters']}; conflicts: {run['conflicts']}")
    console.print(f"mapping hashes: {run['mapping_hashes']}")


@runs.command("revert")
@click.argument("run_id")
@click.option("--apply", "apply_now", is_flag=True, help="Perform it (default: only show what would change).")
@pass_ctx
def runs_revert(obj: _Context, run_id: str, apply_now: bool) -> None:
    """Undo RUN_ID: restore on every endpoint the field values it changed.

    Fields changed again since RUN_ID become conflicts in the inbox instead. Without --apply
    nothing changes; with it the hub is restored (recorded in the audit trail) and the pipeline
    runs to write the values out.
    """
    from crmsync.state import records, views
    from crmsync.state.store import utcnow

    store = obj.store()
    with store.transaction() as conn:
        run = views.get_run(conn, run_id)
        if run is None:
            raise ConfigError(f"no run {run_id!r}; see `crmsync runs list`")
        plan = records.revert_run(conn, run_id, run["pipeline"], utcnow(), apply=apply_now)
    table = Table(title=f"{'revert' if apply_now else 'revert plan (nothing changed; use --apply)'} of {run_id}")
    for col in ("customer", "field", "back to", "now", "action"):
        table.add_column(col)
    for item in plan:
        table.add_row(item["hub_id"], item["field"], _show(item["restore"]), _show(item["current"]), item["action"])
    console.print(table)
    if apply_now and plan:
        run_pipeline(obj.config, run["pipeline"])


@cli.command()
@click.argument("record")
@pass_ctx
def history(obj: _Context, record: str) -> None:
    """Every change of one customer, field by field, with run and source (RECORD: hub or external id)."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        hub_id = views.resolve_customer(conn, record)
        if hub_id is None:
            raise ConfigError(f"no customer {record!r} (give a hub id or any endpoint's external id)")
        rows = views.history(conn, hub_id)
    table = Table(title=f"history of {hub_id}")
    for col in ("at", "run", "field", "old", "new", "from", "to"):
        table.add_column(col)
    for r in rows:
        table.add_row(f"{r['at']:%Y-%m-%d %H:%M:%S}", r["run_id"], r["field"], _show(r["old"]), _show(r["new"]),
                      r["source"], r["target"] or "hub")
    console.print(table)


def _print_found(item: dict[str, Any] | None, missing: str) -> None:
    """Print one stored item as JSON, or fail with ``missing``."""
    if item is None:
        raise ConfigError(missing)
    console.print_json(json.dumps(item, default=str, ensure_ascii=False))


def _show(value: Any) -> str:
    return "" if value is None else str(value)


@cli.group()
def customers() -> None:
    """The customer ledger."""


@customers.command("show")
@click.argument("ident")
@pass_ctx
def customers_show(obj: _Context, ident: str) -> None:
    """The 360-degree view of one customer; IDENT is a hub id or any endpoint's external id."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        hub_id = views.resolve_customer(conn, ident)
        if hub_id is None:
            raise ConfigError(f"no customer {ident!r} (give a hub id or any endpoint's external id)")
        view = views.customer_view(conn, hub_id)
    print_customer(view)


def print_customer(view: dict[str, Any]) -> None:
    table = Table(title=f"customer {view['id']} (rev {view['rev']})")
    for col in ("field", "value", "source", "changed at"):
        table.add_column(col)
    for name, entry in sorted(view["fields"].items()):
        table.add_row(name, _show(entry["value"]), entry["source"] or "", entry["at"] or "")
    console.print(table)
    console.print("ids: " + ", ".join(f"{k}={v}" for k, v in sorted(view["external_ids"].items())))
    for c in view["conflicts"]:
        console.print(f"[yellow]open conflict #{c['id']} on {c['field']}: {c['sides']}[/]")
    for d in view["dead_letters"]:
        console.print(f"[red]dead letter #{d['id']} ({d['endpoint']}, {d['direction']}): {d['error']}[/]")


@cli.group()
def deadletters() -> None:
    """Records that failed mapping, validation or the target's checks."""


@deadletters.command("list")
@click.option("--status", default="open", show_default=True,
              type=click.Choice(["open", "retry", "retried", "superseded", "discarded", "all"]))
@click.option("--endpoint")
@pass_ctx
def deadletters_list(obj: _Context, status: str, endpoint: str | None) -> None:
    """List dead letters."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        rows = views.list_dead_letters(conn, status, endpoint)
    table = Table(title=f"dead letters ({status})")
    for col in ("id", "endpoint", "dir", "record", "error", "attempts", "run"):
        table.add_column(col)
    for d in rows:
        table.add_row(str(d["id"]), d["endpoint"], d["direction"], d["external_id"] or d["hub_id"] or "",
                      d["error"][:120], str(d["attempts"]), d["run_id"])
    console.print(table)


@deadletters.command("show")
@click.argument("letter_id", type=int)
@pass_ctx
def deadletters_show(obj: _Context, letter_id: int) -> None:
    """Show one dead letter with its payload and problems."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        _print_found(views.get_dead_letter(conn, letter_id), f"no dead letter {letter_id}")


@deadletters.command("retry")
@click.argument("letter_ids", type=int, nargs=-1, required=True)
@pass_ctx
def deadletters_retry(obj: _Context, letter_ids: tuple[int, ...]) -> None:
    """Queue dead letters for the next run, which maps them again with the current mapping."""
    from crmsync.state import views

    with obj.store().transaction() as conn:
        n = views.set_dead_letter_status(conn, list(letter_ids), "retry")
    console.print(f"{n} dead letter(s) queued for the next run")


@deadletters.command("discard")
@click.argument("letter_ids", type=int, nargs=-1, required=True)
@pass_ctx
def deadletters_discard(obj: _Context, letter_ids: tuple[int, ...]) -> None:
    """Discard dead letters (kept for the record, never retried)."""
    from crmsync.state import views

    with obj.store().transaction() as conn:
        n = views.set_dead_letter_status(conn, list(letter_ids), "discarded")
    console.print(f"{n} dead letter(s) discarded")


@cli.group()
def conflicts() -> None:
    """The conflict inbox: fields changed on two sides that the policy left to a person."""


@conflicts.command("list")
@click.option("--status", default="open", show_default=True,
              type=click.Choice(["open", "deferred", "resolved", "superseded", "all"]))
@pass_ctx
def conflicts_list(obj: _Context, status: str) -> None:
    """List conflicts."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        rows = views.list_conflicts(conn, status)
    print_conflicts(rows)


@conflicts.command("show")
@click.argument("conflict_id", type=int)
@pass_ctx
def conflicts_show(obj: _Context, conflict_id: int) -> None:
    """Show one conflict: the base, each side's value, when and in which run they changed."""
    from crmsync.state import views

    with obj.store().connect() as conn:
        _print_found(views.get_conflict(conn, conflict_id), f"no conflict {conflict_id}; see `crmsync conflicts list`")


@conflicts.command("resolve")
@click.argument("conflict_id", type=int)
@click.option("--take", "take", metavar="ENDPOINT", help="Keep this endpoint's value.")
@click.option("--value", help="Enter the value yourself (JSON for lists, numbers as text).")
@click.option("--defer", is_flag=True, help="Decide later; the field stays held.")
@click.option("--apply", "apply_now", is_flag=True, help="Run the pipeline now to write the value out.")
@pass_ctx
def conflicts_resolve(obj: _Context, conflict_id: int, take: str | None, value: str | None, defer: bool,
                      apply_now: bool) -> None:
    """Resolve a held conflict by taking a side, entering a value, or deferring it.

    The hub gets the value at once (recorded in the audit trail); the next run of the pipeline
    (or this command with --apply) writes it to every endpoint.
    """
    from crmsync.state import records, views
    from crmsync.state.store import utcnow

    if sum(bool(x) for x in (take, value is not None, defer)) != 1:
        raise click.UsageError("give exactly one of --take ENDPOINT, --value VALUE, --defer")
    store = obj.store()
    with store.transaction() as conn:
        conflict = views.get_conflict(conn, conflict_id)
        if conflict is None or conflict["status"] not in ("open", "deferred"):
            raise ConfigError(f"no open conflict {conflict_id}; see `crmsync conflicts list`")
        if defer:
            records.defer_conflict(conn, conflict_id)
            console.print(f"conflict {conflict_id} deferred; {conflict['field']} stays held")
            return
        if take is not None:
            if take not in conflict["sides"]:
                raise ConfigError(f"--take must be one of {', '.join(conflict['sides'])}")
            chosen, winner = conflict["sides"][take]["value"], take
        else:
            try:
                chosen = json.loads(value or "")
            except json.JSONDecodeError:
                chosen = value
            chosen = chosen if isinstance(chosen, list) else value
            winner = "value"
        done = records.resolve_conflict(conn, conflict_id, chosen, winner, utcnow())
    console.print(f"conflict {conflict_id}: {done['field']} of {done['hub_id']} set to {done['value']!r}")
    if apply_now:
        run_pipeline(obj.config, conflict["pipeline"])


def print_conflicts(rows: list[dict[str, Any]]) -> None:
    table = Table(title="conflict inbox")
    for col in ("id", "customer", "field", "base", "sides", "run"):
        table.add_column(col)
    for c in rows:
        sides = "; ".join(f"{ep}={s['value']!r}" for ep, s in c["sides"].items())
        table.add_row(str(c["id"]), c["hub_id"], c["field"], _show(c["base"]), sides, c["run_id"])
    console.print(table)


@cli.group("fake-server")
def fake_server() -> None:
    """Run a bundled fake server (Salesforce, SAP OData, SAP SOAP) on 127.0.0.1 for rehearsals and tests.

    Each prints one line of JSON with its URL and credentials, then serves until stopped.
    """


@cli.command()
@click.option("--records", default=12, show_default=True, help="Customers generated on each fake side.")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Where to put the demo config, state and spreadsheet (default: a temp folder).")
def demo(records: int, workdir: Path | None) -> None:
    """Run a real two-way sync between fake SAP and Salesforce servers and a spreadsheet, and explain it."""
    from crmsync.demo import run_demo

    run_demo(console, records=records, workdir=workdir)


def _load_plugin_commands() -> None:
    from crmsync.mapping.cli import mappings

    cli.add_command(mappings)
    try:
        get_host().hook.register_commands(cli=cli)
    except Exception as exc:  # a broken plugin must not take the CLI down
        logging.getLogger(__name__).error("a plugin's register_commands failed: %s", exc)


_load_plugin_commands()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="crmsync")


__all__ = ["cli", "main", "run_pipeline"]
