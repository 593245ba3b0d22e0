#!/usr/bin/env bash
# Run the pytest suite twice: on SQLite (a temporary file, ONEX_TEST_DATABASE_URL unset), then
# on a throw-away PostgreSQL server (scripts/with-postgres.sh). Extra arguments go to pytest in
# both halves, e.g. `scripts/test.sh -x -k login` or `scripts/test.sh -n auto`.
# Exits non-zero if either half fails (pytest's "no tests collected", exit code 5, included).
# The PostgreSQL half is skipped when PostgreSQL is not installed, unless REQUIRE_POSTGRES=1.
# The interpreter is $PYTEST_PYTHON, else .venv/bin/python, else python3.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

if [[ -n "${PYTEST_PYTHON:-}" ]]; then
    py=$PYTEST_PYTHON
elif [[ -x .venv/bin/python ]]; then
    py=.venv/bin/python
else
    py=python3
fi

banner() { printf '\n===== %s =====\n' "$*"; }

describe() {
    case $1 in
        0) echo "passed" ;;
        5) echo "FAILED (no tests were collected)" ;;
        skipped) echo "skipped (PostgreSQL not installed)" ;;
        *) echo "FAILED (pytest exit code $1)" ;;
    esac
}

# Coverage of app/ is measured in both halves and checked once, combined, against the floor
# in pyproject.toml ([tool.coverage.report] fail_under).
rm -f .coverage .coverage.sqlite .coverage.postgresql
cov=(--cov=app --cov-report= --cov-fail-under=0)

# The two halves are independent (each its own database and coverage file), so on a machine
# with two or more CPUs they run at the same time, each line of output prefixed with its half;
# TEST_JOBS=1 runs them one after the other.
jobs=${TEST_JOBS:-$( (nproc 2>/dev/null || echo 1) | awk '{print ($1 >= 2) ? 2 : 1}')}

run_sqlite() {
    env -u ONEX_TEST_DATABASE_URL COVERAGE_FILE=.coverage.sqlite "$py" -m pytest "${cov[@]}" "$@"
}
run_postgres() {
    COVERAGE_FILE=.coverage.postgresql bash scripts/with-postgres.sh "$py" -m pytest "${cov[@]}" "$@"
}
want_postgres=0
if bash scripts/with-postgres.sh --find >/dev/null || [[ "${REQUIRE_POSTGRES:-0}" == "1" ]]; then
    want_postgres=1
fi
pg_rc=skipped

if [[ $jobs -ge 2 && $want_postgres == 1 ]]; then
    banner "pytest on SQLite [sqlite] and on PostgreSQL [postgresql], side by side"
    (run_sqlite "$@" 2>&1 | sed -u 's/^/[sqlite] /') &
    sqlite_pid=$!
    (run_postgres "$@" 2>&1 | sed -u 's/^/[postgresql] /') &
    pg_pid=$!
    wait "$sqlite_pid"
    sqlite_rc=$?
    wait "$pg_pid"
    pg_rc=$?
else
    banner "pytest on SQLite (1/2)"
    run_sqlite "$@"
    sqlite_rc=$?
    banner "pytest on PostgreSQL (2/2)"
    if [[ $want_postgres == 1 ]]; then
        run_postgres "$@"
        pg_rc=$?
    else
        echo "PostgreSQL not installed: skipping the PostgreSQL half (REQUIRE_POSTGRES=1 makes this an error)"
    fi
fi

banner "coverage of app/ (both halves combined)"
coverage_rc=0
if [[ $sqlite_rc == 0 ]]; then
    files=(.coverage.sqlite)
    [[ -f .coverage.postgresql ]] && files+=(.coverage.postgresql)
    "$py" -m coverage combine --quiet "${files[@]}"
    total=$("$py" -m coverage report --format=total)
    coverage_rc=$?
    echo "app/ covered: ${total}% (the floor is fail_under in pyproject.toml)"
else
    coverage_rc=skipped
fi

banner "summary"
echo "SQLite:     $(describe "$sqlite_rc")"
echo "PostgreSQL: $(describe "$pg_rc")"
echo "Coverage:   $([[ $coverage_rc == 0 ]] && echo "above the floor" || echo "BELOW THE FLOOR ($coverage_rc)")"

if [[ $sqlite_rc != 0 ]]; then
    exit 1
fi
if [[ $pg_rc != 0 && $pg_rc != skipped ]]; then
    exit 1
fi
if [[ $coverage_rc != 0 ]]; then
    exit 1
fi
exit 0
