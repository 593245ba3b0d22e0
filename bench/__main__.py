"""Run every benchmark: ``python -m bench`` (all), or ``python -m bench
import|export|serve|writes|scale|reconcile|lists``; options after the names (``--database-url …``)
are read by the benchmarks that take them."""

import sys

from bench import export, import_students, lists, reconcile, scale, serve, writes

BENCHMARKS = {
    "import": import_students.main,
    "export": export.main,
    "serve": serve.main,
    "writes": writes.main,
    "scale": scale.main,
    "reconcile": reconcile.main,
    "lists": lists.main,
}


def main() -> None:
    names = [arg for arg in sys.argv[1:] if not arg.startswith("-")]
    if any(arg.startswith("-") for arg in sys.argv[1:]):
        names = names[:1]
    names = names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        BENCHMARKS[name]()


if __name__ == "__main__":
    main()
