"""Built-in crmsync connector package crmsync_spreadsheet (work in progress)."""
