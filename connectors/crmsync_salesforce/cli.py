"""``crmsync fake-server salesforce``: run the fake Salesforce org until SIGTERM.

Prints one JSON line (url, client_id, client_secret, access_token, username, api_version)
so scripts and the demo can point a pipeline at it.
"""

from __future__ import annotations

import click

from crmsync.testing import serve_until_stopped


@click.command(help="Serve a fake Salesforce org (REST, OAuth, Bulk API 2.0) on 127.0.0.1.")
@click.option("--port", type=int, default=0, show_default=True, help="TCP port; 0 picks a free one.")
@click.option("--records", type=click.IntRange(min=0), default=0, show_default=True,
              help="Generate this many deterministic Account records.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for generated records.")
@click.option("--data", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON file of Account records to load (a list or {\"records\": [...]}).")
@click.option("--daily-quota", type=click.IntRange(min=1), default=None,
              help="Daily API request limit before 403 REQUEST_LIMIT_EXCEEDED.")
@click.option("--api-version", default="v60.0", show_default=True)
@click.option("--client-id", default=None, help="Consumer key the fake accepts (default: a fixed one).")
@click.option("--client-secret", envvar="CRMSYNC_FAKE_SF_CLIENT_SECRET", default=None,
              help="Consumer secret the fake accepts (default: a random one, printed in the info line).")
def fake_salesforce_command(port: int, records: int, seed: int, data: str | None, daily_quota: int | None,
                            api_version: str, client_id: str | None, client_secret: str | None) -> None:
    from crmsync_salesforce.fake import DEFAULT_CLIENT_ID, DEFAULT_DAILY_QUOTA, FakeSalesforce

    server = FakeSalesforce(port=port, records=records, seed=seed, data=data, api_version=api_version,
                            daily_quota=daily_quota or DEFAULT_DAILY_QUOTA, client_secret=client_secret,
                            client_id=client_id or DEFAULT_CLIENT_ID)
    serve_until_stopped(server, echo=click.echo)


__all__ = ["fake_salesforce_command"]
