"""Files in the tagging cache (trained heads, token weights), written so no reader sees half of one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable


def write_atomically(path: Path, save: Callable[[Path], None]) -> None:
    """``save(tmp)`` to a temporary name beside ``path`` (its own per process and call, so
    workers writing at once never share one), then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    save(tmp)
    tmp.replace(path)
