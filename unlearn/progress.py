"""Progress reporting that neither the engine nor the methods tie to a terminal or a web page.

Long work calls ``progress(stage, done, total)``; the CLI passes :class:`TqdmProgress` (one bar per stage),
the console passes a callback that moves a Streamlit progress bar, tests pass nothing.
"""

from __future__ import annotations

from typing import Protocol

from tqdm import tqdm


class ProgressCallback(Protocol):
    def __call__(self, stage: str, done: int, total: int) -> None: ...


def no_progress(stage: str, done: int, total: int) -> None:
    """The silent default."""


class TqdmProgress:
    """One tqdm bar per stage name, closed when the stage reaches its total."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        bar = self._bars.get(stage)
        if bar is None or bar.disable or done < bar.n:  # a stage name that comes round again gets a new bar
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="step", leave=True, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
