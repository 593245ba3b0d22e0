"""Hooks run their handlers in order, refuse by raising, and a required hook never runs empty."""

import pytest

from app.core.hooks import Hook


def test_handlers_run_in_registration_order_once_each() -> None:
    seen: list[str] = []
    hook: Hook[[str]] = Hook("test.order")

    def first(value: str) -> None:
        seen.append(f"first:{value}")

    def second(value: str) -> None:
        seen.append(f"second:{value}")

    hook.register(first)
    hook.register(second)
    hook.register(first)
    hook("x")
    assert seen == ["first:x", "second:x"]


def test_a_required_hook_without_handlers_refuses_to_run() -> None:
    hook: Hook[[]] = Hook("test.required")
    with pytest.raises(RuntimeError, match=r"test\.required"):
        hook()


def test_an_optional_hook_without_handlers_does_nothing() -> None:
    hook: Hook[[]] = Hook("test.optional", required=False)
    hook()


def test_a_handler_refuses_by_raising() -> None:
    hook: Hook[[int]] = Hook("test.refuse")

    @hook.register
    def refuse(amount: int) -> None:
        if amount > 1:
            raise ValueError("too much")

    hook(1)
    with pytest.raises(ValueError, match="too much"):
        hook(2)
