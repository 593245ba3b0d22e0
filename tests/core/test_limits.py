"""At most N requests at once per process; the excess gets a 503 problem+json at once."""

import asyncio

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from app.core.config import Settings
from app.core.limits import ConcurrencyLimitMiddleware
from app.main import create_app


def _slow_app(release: asyncio.Event, entered: asyncio.Queue[str]) -> Starlette:
    async def slow(request: Request) -> PlainTextResponse:
        await entered.put(request.url.path)
        await release.wait()
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/slow", slow), Route("/health", slow)])
    app.add_middleware(ConcurrencyLimitMiddleware, limit=2)
    return app


async def _scenario() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
    release: asyncio.Event = asyncio.Event()
    entered: asyncio.Queue[str] = asyncio.Queue()
    transport = httpx.ASGITransport(app=_slow_app(release, entered))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        for _ in range(2):
            await asyncio.wait_for(entered.get(), 5)
        refused = await client.get("/slow")
        health = asyncio.create_task(client.get("/health"))
        await asyncio.wait_for(entered.get(), 5)  # /health got in although two are in flight
        release.set()
        answered = [await task for task in held]
        after = await client.get("/slow")
        await health
        return answered, refused, after


def test_requests_beyond_the_limit_get_503_problem_at_once_and_later_ones_get_in() -> None:
    answered, refused, after = asyncio.run(_scenario())

    assert [r.status_code for r in answered] == [200, 200]
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    body = refused.json()
    assert body["code"] == "overloaded"
    assert "2 requests at once" in body["detail"]
    assert after.status_code == 200


def _limit_of(app: FastAPI) -> int:
    (entry,) = [m for m in app.user_middleware if m.cls is ConcurrencyLimitMiddleware]
    limit: int = entry.kwargs["limit"]
    return limit


def test_the_limit_defaults_to_pool_plus_overflow_and_can_be_set(settings: Settings) -> None:
    default = settings.model_copy(
        update={"max_concurrent_requests": None, "db_pool_size": 4, "db_max_overflow": 6}
    )
    chosen = settings.model_copy(update={"max_concurrent_requests": 3})

    assert _limit_of(create_app(default)) == 10
    assert _limit_of(create_app(chosen)) == 3
