"""A small harness: run each measurement in a fresh child process, report time and peak memory."""

import multiprocessing
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Measurement:
    name: str
    seconds: float
    peak_rss_mb: float
    extra: dict[str, Any]


def _current_rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _child(target: Callable[[], dict[str, Any]], queue: Any) -> None:
    try:
        baseline_kb = _current_rss_kb()
        started = time.perf_counter()
        extra = target()
        seconds = time.perf_counter() - started
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        queue.put((seconds, max(0, peak_kb - baseline_kb) / 1024, extra))
    except BaseException as exc:
        queue.put(exc)
        raise


def measure(name: str, target: Callable[[], dict[str, Any]], repeat: int = 3) -> Measurement:
    """The best of ``repeat`` runs (each in its own child) and the highest peak memory."""
    runs = [_measure_once(name, target) for _ in range(repeat)]
    best = min(runs, key=lambda run: run.seconds)
    best.peak_rss_mb = max(run.peak_rss_mb for run in runs)
    return best


def measure_in_turns(
    targets: list[tuple[str, Callable[[], dict[str, Any]]]], repeat: int = 3
) -> list[Measurement]:
    """Like :func:`measure` for several targets that take turns (a floor, its case, the floor
    again, …), so that a busy moment of a shared machine falls on each of them alike."""
    runs: dict[str, list[Measurement]] = {name: [] for name, _target in targets}
    for _ in range(repeat):
        for name, target in targets:
            runs[name].append(_measure_once(name, target))
    best = []
    for name, _target in targets:
        fastest = min(runs[name], key=lambda run: run.seconds)
        fastest.peak_rss_mb = max(run.peak_rss_mb for run in runs[name])
        best.append(fastest)
    return best


def _measure_once(name: str, target: Callable[[], dict[str, Any]]) -> Measurement:
    """Run ``target`` in a forked child (so peak memory is its own) and time it there;
    ``extra["seconds"]``, when given, replaces the child's own timing."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, queue))
    process.start()
    result = queue.get()
    process.join()
    if isinstance(result, BaseException):
        raise RuntimeError(f"benchmark {name} failed: {result!r}")
    seconds, peak_mb, extra = result
    if process.exitcode != 0:
        raise RuntimeError(f"benchmark {name} failed with exit code {process.exitcode}")
    return Measurement(name, extra.pop("seconds", seconds), peak_mb, extra)


def report(
    title: str,
    rows: list[Measurement],
    floor: Measurement,
    count: int,
    *,
    floors: dict[str, Measurement] | None = None,
) -> None:
    """Print ``rows`` beside ``floor``; ``floors`` gives some rows (by name) a floor of their
    own, named in the last column."""
    floors = floors or {}
    print(f"\n{title}")
    print(f"{'case':<44}{'seconds':>9}{'rows/s':>10}{'+peak MB':>9}{'x floor':>9}  floor")
    for row in [floor, *rows]:
        own = floors.get(row.name, floor)
        print(
            f"{row.name:<44}{row.seconds:>9.2f}{count / row.seconds:>10,.0f}"
            f"{row.peak_rss_mb:>9.0f}{row.seconds / own.seconds:>9.2f}"
            + (f"  {own.name}" if row is not floor and own is not floor else "")
        )
