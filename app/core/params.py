"""Typed path and query parameters shared by every router."""

from typing import Annotated

from fastapi import Path, Query

MAX_DB_ID = 2**31 - 1
MAX_SEARCH_LENGTH = 100

DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="The record's id")]

FilterId = Annotated[int | None, Query(ge=1, le=MAX_DB_ID)]
"""An optional filter on a referenced row's id (``?college_id=3``)."""

Search = Annotated[
    str | None, Query(max_length=MAX_SEARCH_LENGTH, description="Part of a code, number or name")
]
"""The free-text ``q`` of a list."""
