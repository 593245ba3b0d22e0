"""The standard endpoints of a resource, declared once: list (JSON page, CSV or XLSX), create,
read one, change, delete and workflow actions.

A router says *what* a resource is (its path, public model, list and service functions) and
:class:`Routes` writes the endpoints, so every resource answers the same way: a create is a
201 with ``Location`` and ``ETag``; a read sends the ``ETag`` a ``PATCH`` returns in
``If-Match``; a write answers the row as a read would show it. The endpoints keep the names
they had when they were written by hand (``colleges_list``, ``plans_file``, …), so OpenAPI
operation ids do not move; the summaries the docs show are Chinese, made from ``noun`` or
given as ``summary``.

Service functions have one shape, whatever the resource::

    read(session, principal, id) -> Public | row
    create(session, principal, data) -> row             # has .id and .version
    update(session, principal, id, data, if_match) -> row | Public
    delete(session, principal, id) -> None
    action(session, principal, id[, data][, if_match]) -> row | Public

A write that already returns the public model is answered as it is; otherwise the row is read
again through ``read`` (scoped like every read).
"""

import asyncio
import inspect
import weakref
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from anyio import CapacityLimiter
from anyio.to_thread import run_sync
from fastapi import APIRouter, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlmodel import Session

from app.core.auth import Credential, CurrentPrincipal, deferred, writers
from app.core.context import read_only
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.export import EXPORT_RESPONSES
from app.core.listing import ListDep, Listing
from app.core.pagination import Page
from app.core.params import DbId
from app.core.responses import (
    ACTION_RESPONSES,
    CREATE_RESPONSES,
    DELETE_RESPONSES,
    GET_RESPONSES,
    WRITE_RESPONSES,
)
from app.core.roles import Role
from app.core.versions import IfMatch, set_created, set_etag

Responses = dict[int | str, dict[str, Any]]

_KW = inspect.Parameter.KEYWORD_ONLY


_read_lanes: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, CapacityLimiter]]"
_read_lanes = weakref.WeakKeyDictionary()


def _read_lane(threads: int) -> CapacityLimiter:
    """The running event loop's limiter of ``threads`` threads for short reads.

    Under load every thread that runs Python takes turns at the interpreter lock with the
    others and the event loop; anyio's pool lets 40 do so. Short reads share a few threads
    instead (docs/performance.md, "Request threads"). No read waits for a lock a write holds
    (SQLite's readers do not, and a read takes no row lock), so a write is never held up by
    a read waiting for a thread; writes keep anyio's pool."""
    lanes = _read_lanes.setdefault(asyncio.get_running_loop(), {})
    lane = lanes.get(threads)
    if lane is None:
        lane = lanes[threads] = CapacityLimiter(threads)
    return lane


async def _read_in_one_hop(
    session: Session, credential: Credential, read: Callable[[Any], Any], *, short: bool = True
) -> Any:
    """``read(principal)`` and the principal's look-up in one hop to a thread, the session
    closed there too unless the answer streams from it (an export); the answer is then
    checked and written out on the event loop. Plain functions would hop for the principal,
    for the endpoint and for the session's close. A ``short`` read runs on the read threads
    (:func:`_read_lane`), a long one (an export, a deep page) on anyio's pool."""

    def run() -> Any:
        answer = read(credential.principal(session))
        if not isinstance(answer, StreamingResponse):
            session.close()  # the session's own teardown then has no I/O left
        return answer

    lane = _read_lane(credential.settings.read_thread_limit) if short else None
    return await run_sync(run, limiter=lane)


def domain_router(prefix: str, tag: str) -> APIRouter:
    """A router for the resources under ``prefix`` (``"/exam-sessions"``, or ``""``), shown
    under ``tag`` in the API docs, whose every endpoint may answer 401, 403 and 422."""
    return APIRouter(prefix=prefix, tags=[tag], responses=problem_responses(401, 403, 422))


def _signed(endpoint: Callable[..., Any], params: dict[str, Any]) -> Callable[..., Any]:
    """Give ``endpoint`` (which takes ``**kwargs``) the typed signature FastAPI reads."""
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, _KW, annotation=annotation) for name, annotation in params.items()]
    )
    return endpoint


def _doc(doc: str | None) -> str | None:
    return inspect.cleandoc(doc) if doc else None


class Routes:
    """One resource's endpoints on ``router``.

    ``prefix`` is the resource's path below the router's prefix (``"/colleges"``, or ``""``
    when the router's prefix is the resource); the two make the collection of a created
    row's ``Location`` and, dashes as underscores, the endpoints' name stem (``colleges_list``)
    unless ``name`` is given. ``id_name`` is the path parameter (``"college_id"``) and
    ``read(session, principal, id)`` the scoped read of one row. ``context`` names
    dependencies the read needs as well (``{"today": Today}``): every endpoint that answers
    a row takes them and hands them to ``read`` by keyword. ``principal`` is the dependency
    that resolves the caller (``AdminPrincipal`` refuses everyone else before anything).
    ``writers`` are the roles that may call its write endpoints (create, change, delete,
    actions; an endpoint may name its own): any other role is refused 403 before the body is
    read (:func:`app.core.auth.writers`).

    ``noun`` names the resource in Chinese (``"学生"``) for the API docs: the standard
    endpoints are summarised 学生列表 / 新建学生 / 查看学生 / 修改学生 / 删除学生 unless an endpoint
    gives its own ``summary``; a workflow action always gives its own (提交申报). Summaries are
    what Swagger UI shows on each line; operation ids come from the endpoint names only.
    """

    def __init__(
        self,
        router: APIRouter,
        public: type[BaseModel],
        *,
        id_name: str,
        read: Callable[..., Any] | None = None,
        prefix: str = "",
        name: str | None = None,
        context: dict[str, Any] | None = None,
        principal: Any = CurrentPrincipal,
        noun: str | None = None,
        writers: Iterable[Role] | None = None,
    ) -> None:
        self.router = router
        self.writers = frozenset(writers) if writers is not None else None
        self.noun = noun
        self.public = public
        self.id_name = id_name
        self.prefix = prefix
        self.item_path = f"{prefix}/{{{id_name}}}"
        self.location = f"{router.prefix}{prefix}".strip("/")
        self.name = name or self.location.replace("-", "_")
        self._read = read
        self.context = context or {}
        self.principal = principal
        self.credential = deferred(principal)
        """What a read (list, read one) takes instead of ``principal``: it resolves the
        principal in the hop that runs its statements (see :class:`~app.core.auth.Credential`)."""

    # --- helpers -----------------------------------------------------------------------------

    def answer(self, kw: dict[str, Any], row_id: int, written: Any = None) -> Any:
        """What an endpoint answers: the public model a write returned, or the row read
        (again) with the endpoint's arguments ``kw``."""
        if isinstance(written, self.public):
            return written
        if self._read is None:
            return self.public.model_validate(written)
        context = {k: kw[k] for k in self.context}
        with read_only():  # after a write's commit: SQLite's write lock is not taken again
            row = self._read(kw["session"], kw["principal"], row_id, **context)
        return self.public.model_validate(row)

    def _add(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        method: str,
        name: str,
        doc: str | None,
        summary: str | None,
        roles: Iterable[Role] | None = None,
        **options: Any,
    ) -> None:
        if method != "GET":
            roles = self.writers if roles is None else roles
            if roles is not None:
                options.update(writers(roles))
        self.router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=name,
            summary=summary,
            description=_doc(doc),
            **options,
        )

    def _summary(self, summary: str | None, pattern: str) -> str | None:
        """``summary`` as given, else ``pattern`` (``"新建{}"``) made with the noun."""
        if summary is not None:
            return summary
        return pattern.format(self.noun) if self.noun else None

    # --- the standard endpoints --------------------------------------------------------------

    def list(
        self,
        listing: Listing[Any, Any],
        doc: str | None = None,
        *,
        item: type[BaseModel] | None = None,
        responses: Responses | None = None,
        summary: str | None = None,
    ) -> "Routes":
        """``GET <prefix>``: the list as a JSON page, or CSV/XLSX with ``format``."""

        async def endpoint(**kw: Any) -> Any:
            session = kw["session"]
            return await _read_in_one_hop(
                session,
                kw["principal"],
                lambda principal: listing.respond(session, principal, kw["filters"], kw["params"]),
                short=kw["params"].light,
            )

        params = {
            "session": SessionDep,
            "principal": self.credential,
            "filters": Annotated[listing.filters, Query()],
            "params": ListDep,
        }
        self._add(
            self.prefix,
            _signed(endpoint, params),
            method="GET",
            name=f"{self.name}_list",
            doc=doc,
            summary=self._summary(summary, "{}列表"),
            response_model=Page[item or self.public],  # type: ignore[misc]
            responses={**EXPORT_RESPONSES, **(responses or {})},
        )
        return self

    def create(
        self,
        body: type[BaseModel],
        create: Callable[..., Any],
        doc: str | None = None,
        *,
        responses: Responses = CREATE_RESPONSES,
        extra: dict[str, Any] | None = None,
        summary: str | None = None,
        roles: Iterable[Role] | None = None,
    ) -> "Routes":
        """``POST <prefix>``: 201 with ``Location`` and ``ETag``, the row as a read shows it.
        ``extra`` names further parameters (a dependency such as ``Today``) passed on to
        ``create`` by keyword."""
        extra = extra or {}

        def endpoint(**kw: Any) -> Any:
            row = create(kw["session"], kw["principal"], kw["data"], **{k: kw[k] for k in extra})
            set_created(kw["response"], self.location, row.id, row.version)
            return self.answer(kw, row.id, row)

        params = {
            "session": SessionDep,
            "principal": self.principal,
            "data": body,
            "response": Response,
            **self.context,
            **extra,
        }
        self._add(
            self.prefix,
            _signed(endpoint, params),
            method="POST",
            name=f"{self.name}_create",
            doc=doc,
            summary=self._summary(summary, "新建{}"),
            response_model=self.public,
            status_code=status.HTTP_201_CREATED,
            responses=responses,
            roles=roles,
        )
        return self

    def get(
        self,
        doc: str | None = None,
        *,
        etag: bool = True,
        responses: Responses = GET_RESPONSES,
        summary: str | None = None,
    ) -> "Routes":
        """``GET <prefix>/{id}``: one row, with its ``ETag``."""
        assert self._read is not None, "Routes.get needs read="

        async def endpoint(**kw: Any) -> Any:
            row = await _read_in_one_hop(
                kw["session"],
                kw["principal"],
                lambda principal: self.answer({**kw, "principal": principal}, kw[self.id_name]),
            )
            if etag:
                set_etag(kw["response"], row.version)
            return row

        self._add(
            self.item_path,
            _signed(endpoint, self._item_params(response=True, reads=True)),
            method="GET",
            name=f"{self.name}_get",
            doc=doc,
            summary=self._summary(summary, "查看{}"),
            response_model=self.public,
            responses=responses,
        )
        return self

    def update(
        self,
        body: type[BaseModel],
        update: Callable[..., Any],
        doc: str | None = None,
        *,
        method: str = "PATCH",
        extra: dict[str, Any] | None = None,
        responses: Responses = WRITE_RESPONSES,
        summary: str | None = None,
        roles: Iterable[Role] | None = None,
    ) -> "Routes":
        """``PATCH <prefix>/{id}`` with ``If-Match``: the row as a read shows it after."""
        return self.action(
            "",
            update,
            doc,
            summary=self._summary(summary, "修改{}"),
            name=f"{self.name}_update",
            body=body,
            if_match=True,
            extra=extra,
            method=method,
            responses=responses,
            roles=roles,
        )

    def delete(
        self,
        delete: Callable[..., Any],
        doc: str | None = None,
        *,
        responses: Responses = DELETE_RESPONSES,
        summary: str | None = None,
        roles: Iterable[Role] | None = None,
    ) -> "Routes":
        """``DELETE <prefix>/{id}``: 204."""

        def endpoint(**kw: Any) -> None:
            delete(kw["session"], kw["principal"], kw[self.id_name])

        self._add(
            self.item_path,
            _signed(endpoint, self._item_params()),
            method="DELETE",
            name=f"{self.name}_delete",
            doc=doc,
            summary=self._summary(summary, "删除{}"),
            status_code=status.HTTP_204_NO_CONTENT,
            responses=responses,
            roles=roles,
        )
        return self

    def action(
        self,
        suffix: str,
        act: Callable[..., Any],
        doc: str | None = None,
        *,
        name: str | None = None,
        body: type[BaseModel] | None = None,
        if_match: bool = False,
        extra: dict[str, Any] | None = None,
        creates: bool = False,
        method: str = "POST",
        responses: Responses = ACTION_RESPONSES,
        summary: str | None = None,
        roles: Iterable[Role] | None = None,
    ) -> "Routes":
        """``POST <prefix>/{id}/<suffix>``: a workflow step on one row; answers the row as a
        read shows it after, with its new ``ETag``. ``act`` gets ``data`` when there is a
        ``body`` and ``if_match`` when asked for, in that order, then ``extra`` by keyword.

        A step that writes a new row (a reversal entry) says ``creates``: 201 with the new
        row's ``Location``. A step that answers another row than the one named (a rule's new
        version) sends that row's ``Location`` too."""
        extra = extra or {}

        def endpoint(**kw: Any) -> Any:
            session, principal, row_id = kw["session"], kw["principal"], kw[self.id_name]
            args = [kw[k] for k in ("data", "if_match") if k in kw]
            written = act(session, principal, row_id, *args, **{k: kw[k] for k in extra})
            written_id = getattr(written, "id", None) or row_id
            out = self.answer(kw, written_id, written)
            response = kw["response"]
            if creates or written_id != row_id:
                response.headers["Location"] = f"/api/v1/{self.location}/{written_id}"
            version = getattr(out, "version", None)
            if version is not None:
                set_etag(response, version)
            return out

        params = self._item_params(response=True)
        if body is not None:
            params["data"] = body
        if if_match:
            params["if_match"] = IfMatch
        params.update(extra)
        self._add(
            f"{self.item_path}/{suffix}" if suffix else self.item_path,
            _signed(endpoint, params),
            method=method,
            name=name or f"{self.name}_{suffix.replace('-', '_')}",
            doc=doc,
            summary=summary,
            response_model=self.public,
            status_code=status.HTTP_201_CREATED if creates else status.HTTP_200_OK,
            responses=responses,
            roles=roles,
        )
        return self

    def _item_params(self, *, response: bool = False, reads: bool = False) -> dict[str, Any]:
        """The parameters of an item endpoint; a read (``reads``) takes the credential."""
        params: dict[str, Any] = {
            "session": SessionDep,
            "principal": self.credential if reads else self.principal,
            self.id_name: DbId,
        }
        if response:
            params["response"] = Response
            params.update(self.context)
        return params
