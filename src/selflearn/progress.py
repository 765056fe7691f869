"""Progress reporting that library stages accept as a collaborator: silent by default, rich bars in the CLI."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Protocol


class Task(Protocol):
    def advance(self, n: int = 1) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: int | None) -> "contextmanager[Task]": ...


class _NullTask:
    def advance(self, n: int = 1) -> None:
        pass


class SilentProgress:
    """Reports nothing (tests, library use)."""

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        yield _NullTask()


class RichProgress:
    """One rich progress display on stderr; each stage adds a bar."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as _Progress, TextColumn, TimeElapsedColumn

        self._progress = _Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                   TimeElapsedColumn(), console=Console(stderr=True), transient=False)

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    @contextmanager
    def task(self, description: str, total: int | None) -> Iterator[Task]:
        task_id = self._progress.add_task(description, total=total)
        progress = self._progress

        class _Task:
            def advance(self, n: int = 1) -> None:
                progress.advance(task_id, n)

        yield _Task()
