"""Run every benchmark: ``python -m bench`` (all), or ``python -m bench import|export|writes``."""

import sys

from bench import export, import_students, writes

BENCHMARKS = {"import": import_students.main, "export": export.main, "writes": writes.main}


def main() -> None:
    names = sys.argv[1:] or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
