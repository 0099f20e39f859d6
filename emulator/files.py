"""Writing files that readers must never see half-written (exports of the emulator's state)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write data to path so that path holds either its old content or all of data, even if the
    process or the machine dies meanwhile: a temporary file in path's directory (os.replace must stay
    on one file system), on disk before it takes path's name.

    A file that already exists keeps its permissions; a new one is its owner's only (mkstemp's 0600),
    since an export holds the projects' client secrets. OSError (a missing directory, no permission,
    a full disk) reaches the caller, and the temporary file is gone.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    # The rename is an entry in the directory: without this, a crash could bring back the old file.
    if os.name != "posix":  # Windows cannot open a directory; its rename is as durable as it gets
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
