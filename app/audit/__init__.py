"""The audit trail and the change feed, read over HTTP."""
