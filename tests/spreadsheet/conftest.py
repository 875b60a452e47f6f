from crmsync_spreadsheet.fixtures import spreadsheet_endpoint  # noqa: F401
