"""Built-in crmsync connector package crmsync_salesforce (work in progress)."""
