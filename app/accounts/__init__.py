"""Accounts: users, API keys, logins."""
