"""The bare peer of ``python -m bench lists``: a plain Starlette app that answers the students and
applications list pages by replaying the SQL the service sent for them (read from the file named
by ``BENCH_PEER_SPEC``) through ``sqlite3`` and writing the JSON by hand with ``json.dumps``.

No auth, no ORM, no pydantic per request: only the SQL, a dict per row and one ``json.dumps``.
The enum name → value tables, the allowed actions of a status and the cursor's encoding are
taken from the service once, at start-up (they are the contract's values, not work)."""

import json
import os
import sqlite3
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.applications.models import ApplicationStatus, PlanStatus, Tier
from app.applications.service import allowed_actions
from app.core.cursor import Cursor, encode
from app.core.pagination import COUNT_LIMIT
from app.reference.models import Level


def _total(results: list[list[Any]], count_at: int | None, shown: int) -> int | None:
    """The page's total: from the count the service's statement gave (it stops one row past
    the limit: past it, the total is not shown), or, when the service sent none (a last page),
    the rows shown."""
    total = results[count_at][0][0] if count_at is not None else shown
    return None if total > COUNT_LIMIT else total


def _parts(statements: list[list[Any]]) -> tuple[int, int | None, list[int]]:
    """Where the page's statement, its count (None: not sent) and its links are among the
    service's statements, the principal's look-up first; by what each reads, so that the
    service may send them in any order."""
    rest = [i for i, (sql, _p) in enumerate(statements) if not sql.startswith("SELECT users.")]
    counts = [i for i in rest if statements[i][0].startswith("SELECT count(*)")]
    page, *links = [i for i in rest if i not in counts]
    return page, (counts[0] if counts else None), links


def _json(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _names(enum: Any) -> dict[str, str]:
    """What a stored enum reads back as (its value, or its name), to its JSON value."""
    return {**{m.name: m.value for m in enum}, **{m.value: m.value for m in enum}}


TIERS, LEVELS, STATUSES, PLANS = (_names(e) for e in (Tier, Level, ApplicationStatus, PlanStatus))
ACTIONS = {stored: allowed_actions(ApplicationStatus(value)) for stored, value in STATUSES.items()}


def _moment(value: str) -> str:
    """A stored UTC moment (``2026-12-02 20:29:36.862677``) as the API writes it."""
    text = value.replace(" ", "T")
    if text.endswith(".000000"):
        text = text[:-7]
    return text + "Z"


def _union(link_sets: list[list[Any]]) -> list[Any]:
    """The page's links as the one ``UNION ALL`` statement reads them (application, major
    columns, cohort), also from a service that sent the majors and the cohorts apart (the
    code before issue 14's list work, for a before/after in one harness)."""
    if len(link_sets) == 1:
        return link_sets[0]
    majors, cohorts = link_sets
    return [(*m, None) for m in majors] + [(a, *[None] * 7, c) for a, c in cohorts]


def _grouped(links: list[Any]) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[int]]]:
    """The page's majors (by code) and cohorts (in order) by application, from the rows of the
    service's one links statement (a major row's cohort is NULL, a cohort row's major is)."""
    majors: dict[int, list[dict[str, Any]]] = defaultdict(list)
    cohorts: dict[int, list[int]] = defaultdict(list)
    for app_id, m_id, code, name, c_id, c_name, plan_id, plan_status, cohort in links:
        if cohort is not None:
            cohorts[app_id].append(cohort)
            continue
        majors[app_id].append(
            {
                "id": m_id,
                "code": code,
                "name": name,
                "college_id": c_id,
                "college_name": c_name,
                "plan_id": plan_id,
                "plan_status": PLANS[plan_status] if plan_status is not None else None,
            }
        )
    for listed in majors.values():
        listed.sort(key=lambda m: (m["code"], m["id"]))
    for years in cohorts.values():
        years.sort()
    return majors, cohorts


def create_app() -> Starlette:
    spec = json.loads(Path(os.environ["BENCH_PEER_SPEC"]).read_text(encoding="utf-8"))
    database = spec.pop("database")
    local = threading.local()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            local.db = sqlite3.connect(database, check_same_thread=False)
        return local.db  # type: ignore[no-any-return]

    students = spec.get("/api/v1/students?limit=100", [])
    applications = spec.get("/api/v1/applications?year=2022", [])

    def replay(statements: list[list[Any]]) -> list[list[Any]]:
        db = connection()
        return [db.execute(sql, parameters).fetchall() for sql, parameters in statements]

    # The service's session opens a transaction (``BEGIN``): the peer reads in autocommit.
    students = [s for s in students if not s[0].startswith("BEGIN")]
    applications = [s for s in applications if not s[0].startswith("BEGIN")]

    def students_page(_request: Request) -> Response:
        results = replay(students)
        rows, limit = results[students_page_at], 100
        page = rows[:limit]
        total = _total(results, students_count_at, len(page))
        items = [
            {
                "id": r[0],
                "student_no": r[1],
                "name": r[2],
                "major_id": r[3],
                "major_code": r[4],
                "major_name": r[5],
                "college_id": r[6],
                "college_name": r[7],
                "cohort": r[8],
                "class_name": r[9],
                "version": r[10],
                "created_at": _moment(r[11]),
                "updated_at": _moment(r[12]),
            }
            for r in page
        ]
        following = None
        if len(rows) > limit:
            last = page[-1]
            following = encode(Cursor(key=(last[1], last[0]), total=total))
        body = {"items": items, "total": total, "limit": limit, "offset": 0, "next": following}
        headers = {}
        if following is not None:
            url = request_url(_request, following)
            headers["Link"] = f'<{url}>; rel="next"'
        return Response(_json(body), media_type="application/json", headers=headers)

    def applications_page(_request: Request) -> Response:
        results = replay(applications)
        rows = results[page_at]
        links = _union([results[i] for i in links_at])
        majors, cohorts = _grouped(links)
        items = []
        for r in rows:
            row = dict(zip(applications_columns, r, strict=False))
            items.append(
                {
                    "id": row["id"],
                    "year": row["year"],
                    "tier": TIERS[row["tier"]],
                    "certificate_id": row["certificate_id"],
                    "certificate_name": row["certificate_name"],
                    "level": LEVELS[row["level"]],
                    "majors": majors.get(row["id"], []),
                    "cohorts": cohorts.get(row["id"], []),
                    "headcount": row["headcount"],
                    "contact": row["contact"],
                    "notes": row["notes"],
                    "status": STATUSES[row["status"]],
                    "rejection_reason": row["rejection_reason"],
                    "allowed_actions": ACTIONS[row["status"]],
                    "version": row["version"],
                    "created_at": _moment(row["created_at"]),
                    "updated_at": _moment(row["updated_at"]),
                }
            )
        body = {
            "items": items,
            "total": _total(results, count_at, len(rows)),
            "limit": 50,
            "offset": 0,
            "next": None,
        }
        return Response(_json(body), media_type="application/json")

    # The page statement's columns, by name, as the service selected them.
    students_page_at, students_count_at, _none = _parts(students) if students else (0, None, [])
    page_at, count_at, links_at = _parts(applications) if applications else (0, None, [])
    page_sql = applications[page_at][0] if applications else ""
    applications_columns = [
        "certificate_name" if part.startswith("certificates.") else part.rsplit(".", 1)[-1]
        for part in page_sql.split("\nFROM ", 1)[0].removeprefix("SELECT ").strip().split(", ")
    ]

    def request_url(request: Request, cursor: str) -> str:
        return str(request.url.remove_query_params("offset").include_query_params(cursor=cursor))

    return Starlette(
        routes=[
            Route("/api/v1/students", students_page),
            Route("/api/v1/applications", applications_page),
        ]
    )
