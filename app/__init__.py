"""The 1+X certificate pilot service."""

__version__ = "0.1.0"
