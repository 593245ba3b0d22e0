"""Command line: ``python -m app serve|migrate|create-user|demo|openapi|audit``."""

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from app.core.config import get_settings

if TYPE_CHECKING:
    from pydantic import ValidationError


def _serve(args: argparse.Namespace) -> int:
    from app.core.serving import serve

    settings = get_settings()
    return serve(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        access_log=False,
        # Forwarded headers are read only from the configured proxies; with none configured
        # (the default) not at all, whatever uvicorn's own default would trust.
        proxy_headers=settings.trusts_proxies,
        forwarded_allow_ips=settings.forwarded_allow_ips if settings.trusts_proxies else None,
    )


def _migrate(_args: argparse.Namespace) -> int:
    from app.core.migrations import upgrade_to_head

    settings = get_settings()
    upgrade_to_head(settings.database_url)
    print(f"database migrated to head: {_safe_url(settings.database_url)}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _create_user(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from app.accounts import service
    from app.accounts.models import UserCreate
    from app.core.db import create_db_engine
    from app.core.errors import AppError

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():
        print(
            "error: no terminal to ask for the password; pipe it in with --password-stdin",
            file=sys.stderr,
        )
        return 2
    else:
        try:
            password = getpass.getpass(f"Password for {args.username}: ")
        except (EOFError, KeyboardInterrupt):
            print("\nerror: no password given", file=sys.stderr)
            return 2
    try:
        data = UserCreate(
            username=args.username,
            password=password,
            role=args.role,
            full_name=args.full_name or "",
            college_id=args.college_id,
            teacher_id=args.teacher_id,
            student_id=args.student_id,
            evaluation_org_id=args.evaluation_org_id,
        )
    except ValidationError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    engine = create_db_engine(get_settings().database_url)
    with Session(engine, expire_on_commit=False) as session:
        try:
            user = service.create_user(session, None, data)
        except AppError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
    print(f"created user {user.username} (id {user.id}, role {user.role.value})")
    return 0


def _one_line(exc: "ValidationError") -> str:
    """A validation error as one line: ``field: message; field: message``."""
    return "; ".join(
        f"{'.'.join(map(str, error['loc'])) or 'input'}: {error['msg']}" for error in exc.errors()
    )


def _demo(args: argparse.Namespace) -> int:
    from app.accounts.service import random_password
    from app.core.db import create_db_engine
    from app.demo.loader import credentials_file, load_demo, remember_password

    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    admin = settings.bootstrap_admin_username or "admin"
    password = settings.bootstrap_admin_password or random_password()
    creds = credentials_file(settings.database_url)
    with Session(engine, expire_on_commit=False) as session:
        result = load_demo(session, admin, password)
    if result.created:
        lines = [
            f"Demo data loaded. Open {args.url}/docs, click Authorize and log in as:",
            *(f"  {name:<12} {role.value:<16} {full}" for name, role, full in result.logins),
            f"Password for all of them: {password}",
        ]
        text = "\n".join(lines) + "\n"
        if not settings.bootstrap_admin_password:
            remember_password(creds, text)
        print(text, end="")
    elif creds.exists():
        # The remembered text minus its first line ("Demo data loaded. ..."): nothing was loaded.
        logins = creds.read_text(encoding="utf-8").split("\n", 1)[-1]
        print(
            f"The database already has data; nothing loaded. Open {args.url}/docs, click "
            "Authorize and log in as:\n" + logins,
            end="",
        )
    else:
        print(
            "The database already has users; log in with yours "
            "(or add one: python -m app create-user NAME --role admin)."
        )
    return 0


def _upload(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from app.upload_client import API_KEY_VARIABLE, Upload, UsageError, parse_options, run

    api_key = os.environ.get(API_KEY_VARIABLE, "").strip()
    if not api_key:
        print(f"error: set {API_KEY_VARIABLE} to an API key of the service", file=sys.stderr)
        return 2
    try:
        options = parse_options(args.option)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    upload = Upload(
        url=args.url,
        kind=args.kind,
        path=Path(args.file),
        api_key=api_key,
        dry_run=args.dry_run,
        options=options,
        retries=args.retries,
    )
    return run(upload)


def _openapi(_args: argparse.Namespace) -> int:
    from app.main import create_app

    json.dump(create_app().openapi(), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def _unreadable(exc: Exception) -> str:
    return (
        f"error: the audit trail could not be read ({exc.__class__.__name__}); "
        "is the database migrated? (python -m app migrate)"
    )


def _on_audit_chain(work: Callable[[Any, str], str], broken: str) -> int:
    """Run ``work(engine, secret key)`` on the configured database and print what it says: 0;
    a broken chain is said after ``broken`` (1), an unreadable database explained (2)."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.audit.chain import ChainBroken
    from app.core.db import create_db_engine

    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    try:
        said = work(engine, settings.secret_key)
    except ChainBroken as exc:
        print(f"{broken}: {exc.message}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(_unreadable(exc), file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(said)
    return 0


def _audit_seal(_args: argparse.Namespace) -> int:
    from app.audit.chain import seal

    def work(engine: Any, key: str) -> str:
        result = seal(engine, key)
        return f"audit chain sealed: {result.sealed} events added, {result.last_seq} sealed in all"

    return _on_audit_chain(work, "audit chain not sealed")


def _audit_verify(args: argparse.Namespace) -> int:
    from app.audit.chain import ChainBroken, parse_checkpoint, seal, verify

    try:
        expect = parse_checkpoint(args.expect) if args.expect else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def work(engine: Any, key: str) -> str:
        if not args.no_seal:
            with suppress(ChainBroken):  # the walk below names the first bad event
                seal(engine, key)
        return verify(engine, key, expect=expect).summary()

    return _on_audit_chain(work, "audit trail broken")


def _i18n(args: argparse.Namespace) -> int:
    from app.core import catalogue
    from app.core.i18n import CATALOGUE

    if args.i18n_command == "update":
        total, untranslated, dropped = catalogue.update()
        print(
            f"{CATALOGUE.relative_to(catalogue.APP_DIR.parent)}: {total} messages, "
            f"{untranslated} to translate, {dropped} unused dropped"
        )
        return 0
    result = catalogue.check()
    for message in result.untranslated:
        print(f"untranslated: {message!r}", file=sys.stderr)
    for message in result.unused:
        print(f"unused: {message!r}", file=sys.stderr)
    if not result.ok:
        print("run `python -m app i18n update`, then translate every empty msgstr", file=sys.stderr)
        return 1
    print("every message has its translation; no unused entries")
    return 0


def main(argv: list[str] | None = None) -> int:
    from app.core.roles import Role

    parser = argparse.ArgumentParser(prog="python -m app", description="The 1+X pilot service")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true")
    serve.set_defaults(func=_serve)

    commands.add_parser("migrate", help="upgrade the database to the latest schema").set_defaults(
        func=_migrate
    )

    create_user = commands.add_parser("create-user", help="create a user account")
    create_user.add_argument("username")
    create_user.add_argument("--role", required=True, choices=[r.value for r in Role])
    create_user.add_argument("--full-name")
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    for scope in ("college-id", "teacher-id", "student-id", "evaluation-org-id"):
        create_user.add_argument(f"--{scope}", type=int)
    create_user.set_defaults(func=_create_user)

    demo = commands.add_parser("demo", help="load demo data into a new database")
    demo.add_argument("--url", default="http://127.0.0.1:8000", help="where the service will run")
    demo.set_defaults(func=_demo)
    commands.add_parser("openapi", help="print the OpenAPI schema").set_defaults(func=_openapi)

    audit = commands.add_parser(
        "audit", help="the tamper-evident audit trail: verify it, or seal what is final"
    )
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify",
        help="seal, then check every event against its hash and the chain; exit 1 naming the "
        "first event changed, deleted or inserted out of order",
    )
    verify.add_argument(
        "--no-seal", action="store_true", help="only read: do not seal new events first"
    )
    verify.add_argument(
        "--expect",
        metavar="LENGTH:HASH",
        help="the checkpoint an earlier verify printed: fail unless the chain still holds it",
    )
    verify.set_defaults(func=_audit_verify)
    audit_commands.add_parser(
        "seal", help="add the events whose place in the change feed is final to the chain"
    ).set_defaults(func=_audit_seal)
    i18n = commands.add_parser(
        "i18n", help="the message catalogue: check it against the code, or bring it in step"
    )
    i18n.add_argument("i18n_command", choices=["check", "update"])
    i18n.set_defaults(func=_i18n)
    upload = commands.add_parser(
        "upload",
        help="upload a .xlsx/.csv/.tsv to a running service (API key in ONEX_API_KEY)",
        description="Exit status: 0 written (or a clean dry run), 1 refused by the service "
        "(bad rows, key or kind), 2 usage or connection problems.",
    )
    upload.add_argument("kind", help="e.g. students, majors, applications")
    upload.add_argument("file")
    upload.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
    upload.add_argument("--dry-run", action="store_true", help="check and report only")
    upload.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a kind's own query parameter, e.g. --option year=2022 for applications",
    )
    upload.add_argument(
        "--retries", type=int, default=5, help="retries of a 503 or 429 (after Retry-After)"
    )
    upload.set_defaults(func=_upload)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
