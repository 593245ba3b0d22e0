"""Generated clients take the OpenAPI schema unchanged (issue 17, item 1).

A Python client made by ``openapi-python-client`` drives the served app through what an
integrator does first; ``openapi-typescript`` and ``tsc --noEmit`` accept the same schema (skipped
where Node.js is missing, except in CI). Both generators run on the schema as /openapi.json
serves it, with no overrides. They run once, in the SQLite half (see conftest.py).
"""

import importlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.demo.loader import DEMO_CERTIFICATES, DEMO_ORGS
from tests.cli import ROOT
from tests.integration.conftest import ADMIN_PASSWORD, OFFICE, Served, sqlite_half_only

PACKAGE = "onex_1x_pilot_service_client"
NPM_TOOLS = ROOT / "tests" / "integration" / "npm"
BIN = Path(sys.executable).parent
APPLICATIONS_2022 = (
    "序号\t本科/高职/中职\t申报试点证书名称\t申报级别\t申报专业\t申报年级\t申报人数\n"
    "1\t高职\tWeb前端开发\t中级\t软件技术\t2020级\t40\n"
)


def _schema(served: Served, directory: Path) -> Path:
    path = directory / "openapi.json"
    path.write_text(httpx.get(f"{served.url}/openapi.json", timeout=30).text, encoding="utf-8")
    return path


def _npm_tools() -> Path | None:
    """node_modules/.bin with openapi-typescript and tsc (installed once, pinned); None: no Node."""
    if not (shutil.which("node") and shutil.which("npm")):
        if os.environ.get("CI"):
            pytest.fail("Node.js (node, npm) is missing in CI; .ci/run installs it")
        return None
    bin_dir = NPM_TOOLS / "node_modules" / ".bin"
    if not (bin_dir / "openapi-typescript").exists() or not (bin_dir / "tsc").exists():
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NPM_TOOLS,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert installed.returncode == 0, installed.stderr
    return bin_dir


def _start_typescript(schema: Path, out: Path) -> subprocess.Popen[str] | None:
    """openapi-typescript, then tsc on a small usage file, in the background."""
    bin_dir = _npm_tools()
    if bin_dir is None:
        return None
    shutil.copy(NPM_TOOLS / "usage.ts", out / "usage.ts")
    script = (
        f"{bin_dir / 'openapi-typescript'} {schema} -o {out / 'schema.d.ts'} && "
        f"{bin_dir / 'tsc'} --noEmit --strict --target es2020 --module esnext "
        f"--moduleResolution bundler {out / 'usage.ts'} {out / 'schema.d.ts'}"
    )
    return subprocess.Popen(
        ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _generate_python(schema: Path, out: Path) -> None:
    config = out / "config.json"
    config.write_text(json.dumps({"post_hooks": []}), encoding="utf-8")
    generated = subprocess.run(
        [
            *(str(BIN / "openapi-python-client"), "generate", "--path", str(schema)),
            *("--meta", "none", "--config", str(config)),
        ],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "Warning" not in output, output


def _drive(out: Path, served: Served) -> None:
    """Everything through the generated package, unchanged."""
    sys.path.insert(0, str(out))
    try:
        client_module = importlib.import_module(PACKAGE)
        api = importlib.import_module(f"{PACKAGE}.api")
        models = importlib.import_module(f"{PACKAGE}.models")
        types = importlib.import_module(f"{PACKAGE}.types")
        for group in ("auth", "imports", "applications", "audit"):
            importlib.import_module(f"{PACKAGE}.api.{group}")
        mods: dict[str, Any] = {}
        for name in (
            "auth.auth_token",
            "imports.imports_template",
            "imports.imports_upload",
            "applications.applications_list",
            "audit.events_feed",
        ):
            mods[name] = importlib.import_module(f"{PACKAGE}.api.{name}")
        del api

        anonymous = client_module.Client(base_url=served.url)
        token = mods["auth.auth_token"].sync(
            client=anonymous,
            body=models.BodyAuthToken(username=OFFICE, password=ADMIN_PASSWORD),
        )
        assert isinstance(token, models.Token), token
        client = client_module.AuthenticatedClient(base_url=served.url, token=token.access_token)

        feed = mods["audit.events_feed"].sync(client=client, after=0, limit=500)
        assert isinstance(feed, models.ChangeFeed), feed
        cursor = feed.next_after

        template = mods["imports.imports_template"].sync(kind="majors", client=client)
        assert isinstance(template, types.File), template
        assert template.payload.read(2) == b"PK"  # an .xlsx is a zip file

        def upload(kind: str, name: str, content: bytes, **options: Any) -> Any:
            body = models.BodyImportsUpload(
                file=types.File(payload=io.BytesIO(content), file_name=name)
            )
            return mods["imports.imports_upload"].sync(
                kind=kind, client=client, body=body, **options
            )

        majors = (ROOT / "app" / "demo" / "fixtures" / "majors-sample.tsv").read_bytes()
        dry = upload("majors", "majors.tsv", majors, dry_run=True)
        assert isinstance(dry, models.ImportReport), dry
        assert (dry.dry_run, dry.written, dry.created) == (True, False, 37)
        real = upload("majors", "majors.tsv", majors)
        assert (real.written, real.created) == (True, 37)
        assert upload("evaluation-orgs", "orgs.csv", DEMO_ORGS.encode()).written
        assert upload("certificates", "certificates.csv", DEMO_CERTIFICATES.encode()).written
        applications = upload("applications", "2022.tsv", APPLICATIONS_2022.encode(), year=2022)
        assert isinstance(applications, models.ImportReport), applications
        assert applications.created == 1, applications

        page = mods["applications.applications_list"].sync(client=client, year=2022)
        assert isinstance(page, models.PageApplicationPublic), page
        assert page.total == 1
        assert page.items[0].year == 2022

        changes = mods["audit.events_feed"].sync(client=client, after=cursor, limit=500)
        assert isinstance(changes, models.ChangeFeed), changes
        assert changes.items, "the uploads left no event in the change feed"
        assert all(item.id != cursor for item in changes.items)
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_generated_clients_take_the_schema_unchanged(served: Served, tmp_path: Path) -> None:
    sqlite_half_only()
    schema = _schema(served, tmp_path)
    typescript = _start_typescript(schema, tmp_path)

    _generate_python(schema, tmp_path)
    assert (tmp_path / PACKAGE / "__init__.py").is_file()
    _drive(tmp_path, served)

    if typescript is None:
        pytest.skip("node/npm not installed: the TypeScript generator was not tried")
    output, _ = typescript.communicate(timeout=300)
    assert typescript.returncode == 0, output
