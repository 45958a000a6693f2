"""An expected problem is a value: where it is and what to do, collected and reported together."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Path_ = Sequence[str | int]


def dotted(path: Path_) -> str:
    """`launch.config.overrides` for keys, `entry_point[1]` for list items; odd keys quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("-", "_").isidentifier():
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


@dataclass(frozen=True, order=True)
class Problem:
    """A mistake (or a warning) at a place in a file."""

    file: str  # repository-relative, forward slashes
    line: int  # 1-based; 0 when the problem is about the whole file
    column: int
    message: str
    path: str = ""  # the JSON path inside the document, dotted
    warning: bool = False  # shown, but the spec stays valid (YAML 1.1 readings worth a second look)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        at = f"{self.path}: " if self.path else ""
        return f"{where}: {at}{self.message}"
