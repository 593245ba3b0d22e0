"""``python -m app upload KIND FILE``: a bulk upload over HTTP, for scripts and cron jobs.

It talks to any deployment through the imports API (``POST /api/v1/imports/{kind}``) with the API
key in ``ONEX_API_KEY``, prints the report and exits 0 (written, or a clean dry run), 1 (the
service refused the upload: bad rows, a bad key, a kind that does not exist) or 2 (usage, or the
service could not be reached). A ``503`` (the per-worker request cap) or ``429`` is retried
after its ``Retry-After``, a bounded number of times. Re-running is safe: rows are matched by
their natural key, so rows already written are reported ``unchanged``.
"""

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

API_KEY_VARIABLE = "ONEX_API_KEY"
RETRY_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER = 60.0  # seconds; a longer Retry-After is cut to this
DEFAULT_RETRY_AFTER = 1.0

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or environment (exit 2)."""


@dataclass
class Upload:
    url: str
    kind: str
    path: Path
    api_key: str
    dry_run: bool = False
    options: dict[str, str] = field(default_factory=dict)
    retries: int = 5
    timeout: float = 300.0


def parse_options(pairs: list[str]) -> dict[str, str]:
    """``--option year=2022`` pairs as the query parameters of the upload."""
    options: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--option takes NAME=VALUE, not {pair!r}")
        options[name] = value
    return options


def retry_after(headers: Mapping[str, str]) -> float:
    """The seconds a ``Retry-After`` header asks for, bounded; 1 s if it is missing or a date."""
    try:
        seconds = float(headers.get("retry-after", DEFAULT_RETRY_AFTER))
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def send(
    upload: Upload,
    *,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
    err: TextIO = sys.stderr,
) -> httpx.Response:
    """POST the file, retrying 503 and 429 after their Retry-After (``httpx.HTTPError`` on
    connection failures)."""
    content = upload.path.read_bytes()
    params: dict[str, str] = {**upload.options, "dry_run": "true" if upload.dry_run else "false"}
    endpoint = f"{upload.url.rstrip('/')}/api/v1/imports/{upload.kind}"
    own = client is None
    http = client or httpx.Client(timeout=upload.timeout)
    try:
        attempt = 0
        while True:
            attempt += 1
            response = http.post(
                endpoint,
                params=params,
                headers={"X-API-Key": upload.api_key, "Accept": "application/json"},
                files={"file": (upload.path.name, content)},
            )
            if response.status_code not in RETRY_STATUSES or attempt > upload.retries:
                return response
            wait = retry_after(response.headers)
            print(
                f"{response.status_code} from the service; retrying in {wait:g} s "
                f"({attempt}/{upload.retries})",
                file=err,
            )
            sleep(wait)
    finally:
        if own:
            http.close()


def _rows(count: int) -> str:
    return "1 row" if count == 1 else f"{count} rows"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def format_report(report: Mapping[str, Any]) -> str:
    """The report as a script's log shows it: counts, then the bad rows as a table."""
    mode = (
        "dry run, nothing written"
        if report.get("dry_run")
        else ("written" if report.get("written") else "nothing written")
    )
    lines = [
        f"{report.get('kind')} {report.get('file_name')}: {_rows(report.get('rows', 0))}, "
        f"{report.get('created', 0)} created, {report.get('updated', 0)} updated, "
        f"{report.get('unchanged', 0)} unchanged ({mode})"
    ]
    also = report.get("also_created") or {}
    if also:
        lines.append("also created: " + ", ".join(f"{n} {k}" for k, n in sorted(also.items())))
    if report.get("batch_id") is not None:
        lines.append(f"import batch {report['batch_id']}")
    errors = report.get("errors") or []
    if errors:
        total = report.get("errors_total", len(errors))
        lines.append(f"{total} problem(s):")
        rows = [["row", "column", "value", "reason"]]
        for error in errors:
            rows.append(
                [
                    "" if error.get("row") is None else str(error["row"]),
                    error.get("column") or "",
                    error.get("value") or "",
                    error.get("reason") or error.get("message") or "",
                ]
            )
        lines.append(_table(rows))
        if total > len(errors):
            lines.append(f"... and {total - len(errors)} more")
    return "\n".join(lines)


def outcome(response: httpx.Response, out: TextIO, err: TextIO) -> int:
    """Print what the service answered; the exit status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict):
        print(format_report(body), file=out)
        # A dry run with bad rows exits 1 too: the real upload would be refused.
        return EXIT_REJECTED if body.get("errors") else EXIT_OK
    if isinstance(body, dict) and body.get("code") == "import_rejected":
        print(format_report(body), file=out)
        print(f"error: {body.get('detail')}", file=err)
        return EXIT_REJECTED
    detail = body.get("detail") if isinstance(body, dict) else response.text[:200]
    print(f"error: {response.status_code} {detail}", file=err)
    if response.status_code in RETRY_STATUSES:
        return EXIT_USAGE  # the service stayed busy: try again later
    return EXIT_REJECTED


def run(upload: Upload, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if not upload.path.is_file():
        print(f"error: no such file: {upload.path}", file=err)
        return EXIT_USAGE
    try:
        response = send(upload, err=err)
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {upload.url}: {exc or type(exc).__name__}", file=err)
        return EXIT_USAGE
    return outcome(response, out, err)
