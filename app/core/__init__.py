"""Shared plumbing: configuration, database, security, errors, pagination, audit."""
