"""Fire real concurrent requests at the app: the sync handlers run on the server's thread pool,
each with its own database session, so races reach the database as they would in production."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI


@dataclass
class Call:
    method: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)


async def _fire(
    app: FastAPI, calls: Sequence[Call], max_in_flight: int | None
) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        start = asyncio.Event()
        gate = asyncio.Semaphore(max_in_flight or len(calls) or 1)

        async def one(call: Call) -> httpx.Response:
            await start.wait()
            async with gate:
                return await client.request(call.method, call.url, **call.kwargs)

        tasks = [asyncio.create_task(one(call)) for call in calls]
        await asyncio.sleep(0)
        start.set()
        return list(await asyncio.gather(*tasks))


def fire_concurrently(
    app: FastAPI, calls: Sequence[Call], *, max_in_flight: int | None = None
) -> list[httpx.Response]:
    """Send every call at once and return the responses in the order of ``calls``.

    ``max_in_flight`` bounds the requests the app serves at the same moment: more than its
    connection pool (30 on PostgreSQL) would leave requests that hold a connection waiting
    for a thread while threads wait for a connection, until the pool times out."""
    return asyncio.run(_fire(app, calls, max_in_flight))
