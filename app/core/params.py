"""Typed path and query parameters shared by every router."""

from typing import Annotated

from fastapi import Path

MAX_DB_ID = 2**31 - 1

DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="The record's id")]
