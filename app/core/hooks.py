"""Hooks: how an earlier domain lets a later one take part in its work without importing it.

Domains import one way (see docs/architecture.md): exams may not import credits or funding. When
exams' work must reach a later domain — a revoked certificate reverses its credits, a pass turned
fail first checks its subsidy payment — exams declares a :class:`Hook` and calls it; the later
domain registers its handler in its ``flows.py``, which ``app.main`` imports at start-up.

A hook declared ``required`` refuses to run with no handler registered (a missing import would
otherwise skip the later domain's rule silently).
"""

from collections.abc import Callable
from typing import Generic, ParamSpec

P = ParamSpec("P")


class Hook(Generic[P]):
    """A named point in a domain's work where later domains' handlers run, in registration
    order, inside the caller's transaction; a handler refuses by raising."""

    def __init__(self, name: str, *, required: bool = True) -> None:
        self.name = name
        self.required = required
        self._handlers: list[Callable[P, None]] = []

    def register(self, handler: Callable[P, None]) -> Callable[P, None]:
        """Add ``handler`` (usable as a decorator); registering it twice adds it once."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        if self.required and not self._handlers:
            raise RuntimeError(f"hook {self.name!r} has no handler: is its flows module imported?")
        for handler in self._handlers:
            handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Hook({self.name!r}, handlers={len(self._handlers)})"
