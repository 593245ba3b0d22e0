"""README.md and docs/ stay a short front door and a set of commands that run as written.

Every shell example must work on a fresh clone: it points at nothing outside the repository,
defines every variable it uses, sends files that exist, and gives the command line valid
arguments.
"""

import re
import shlex
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from app.__main__ import main
from app.accounts.models import Username

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
SHELL_BLOCK = re.compile(r"```(?:sh|bash|shell)\n(.*?)```", re.DOTALL)


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _shell_examples(page: Path) -> list[str]:
    return SHELL_BLOCK.findall(page.read_text(encoding="utf-8"))


def _commands(example: str) -> list[str]:
    """The example's commands, continuation lines joined, comments dropped."""
    joined = example.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_is_a_front_door() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move the details to docs/"


def test_every_domain_has_its_chapter() -> None:
    names = {page.name for page in DOCS}
    assert {"architecture.md", "performance.md"} <= names
    for domain in ("reference", "applications", "trainings", "exams", "credits", "funding"):
        assert f"{domain}.md" in names


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_nothing_points_outside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "../" not in text
    assert "/shared" not in text
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{_name(page)} links to missing {target}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_shell_variable_is_defined_in_its_example(page: Path) -> None:
    for example in _shell_examples(page):
        defined: set[str] = set()
        for command in _commands(example):
            unquoted = re.sub(r"'[^']*'", "''", command)
            used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", unquoted))
            assert used <= defined, f"{_name(page)}: {sorted(used - defined)} in {command!r}"
            defined |= set(re.findall(r"(?:^|[\s;(])([A-Za-z_][A-Za-z0-9_]*)=", unquoted))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_uploaded_file_ships_with_the_repository(page: Path) -> None:
    for example in _shell_examples(page):
        for path in re.findall(r"=@([^\s\"']+)", example):
            assert (ROOT / path).is_file(), f"{_name(page)} uploads {path}, not in the repository"


def _cli_calls(page: Path) -> list[list[str]]:
    calls = []
    for example in _shell_examples(page):
        for command in _commands(example):
            command = command.split("#", 1)[0].split(">", 1)[0]
            if "python -m app" not in command:
                continue
            words = shlex.split(command.split("python -m app", 1)[1])
            calls.append(words)
    return calls


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_command_line_example_is_valid(page: Path) -> None:
    for words in _cli_calls(page):
        if words == ["--help"]:
            continue
        # argparse checks the subcommand, the options and their values up to --help, then exits 0.
        with pytest.raises(SystemExit) as stop:
            main([*words, "--help"])
        assert stop.value.code == 0, f"{_name(page)}: invalid arguments {words}"
        if words[0] == "create-user":
            try:
                TypeAdapter(Username).validate_python(words[1])
            except ValidationError as exc:
                raise AssertionError(f"{_name(page)}: invalid username {words[1]!r}") from exc


def test_the_readme_reads_the_password_the_demo_command_writes() -> None:
    cli = (ROOT / "app" / "__main__.py").read_text(encoding="utf-8")
    match = re.search(r"s/\^([^/]+)//p", README.read_text(encoding="utf-8"))
    assert match is not None
    prefix = match.group(1)
    assert f'f"{prefix}{{password}}"' in cli


# Files a shell example may name without shipping them: what `make install` / `make run` make.
MADE_BY_MAKE = (".venv/", "data/")
PATH_WORD = re.compile(r"^[A-Za-z0-9_.][\w.-]*(?:/[\w.-]+)*$")
FILE_SUFFIX = re.compile(r"\.(?:py|tsv|csv|xlsx|md|ya?ml|txt|sh|toml|ini|json|cfg)$")
OUTPUT_OPTIONS = {"-o", "--output", ">", ">>"}


def _named_files(command: str) -> list[str]:
    """The relative file paths a command reads (not those it writes with -o or >)."""
    spaced = re.sub(r"(>>?)", r" \1 ", command)
    try:
        words = shlex.split(spaced, comments=True)
    except ValueError:
        return []
    files = []
    for previous, word in zip(["", *words], words, strict=False):
        word = word.split("=@", 1)[-1].rstrip(")")
        if previous in OUTPUT_OPTIONS or not PATH_WORD.match(word):
            continue
        if "/" in word or FILE_SUFFIX.search(word):
            files.append(word)
    return files


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_file_a_shell_example_names_is_in_the_repository(page: Path) -> None:
    for example in _shell_examples(page):
        for command in _commands(example):
            for path in _named_files(command):
                if path.startswith(MADE_BY_MAKE):
                    continue
                assert (ROOT / path).exists(), f"{_name(page)}: {path!r} in {command!r}"


def test_the_files_make_run_creates_are_the_ones_examples_may_assume() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "VENV := .venv" in makefile
    assert "mkdir -p data" in makefile
    assert _named_files("cat docs/none.md > out.json; curl -o x.xlsx y") == ["docs/none.md"]


def _documented_variables() -> set[str]:
    """Settings (``.env.example``) and the variables the docs say a command reads."""
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"\b(ONEX_[A-Z0-9_]+)=", example))
    return names | {"ONEX_API_KEY", "ONEX_TEST_DATABASE_URL"}


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_onex_variable_in_a_shell_example_is_documented(page: Path) -> None:
    documented = _documented_variables()
    for example in _shell_examples(page):
        used = set(re.findall(r"\b(ONEX_[A-Z0-9_]+)\b", example))
        defined = set(re.findall(r"(?:^|[\s;(])(ONEX_[A-Z0-9_]+)=", example))
        assert used - defined <= documented, (
            f"{_name(page)}: undocumented {sorted(used - defined - documented)}"
        )
