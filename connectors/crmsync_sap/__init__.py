"""Built-in crmsync connector package crmsync_sap (work in progress)."""
