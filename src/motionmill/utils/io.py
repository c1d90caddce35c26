"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.

A reader never sees a half-written file, and a crash leaves either the old file or the new one. Folders are
replaced the same way (`atomic_folder`), so a rewritten folder keeps nothing of its old contents.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["atomic_folder", "atomic_path", "atomic_write", "npy_bytes"]


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is fsynced and renamed to `path`.

    Use it for writers that want a file name (ffmpeg, Pillow). `suffix` defaults to the target's suffix so tools
    that pick a format from the extension still do.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else path.suffix
    tmp_path = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
    tmp_path.touch(exist_ok=False)  # created with the process umask, like any other file
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write bytes or text to `path` atomically."""
    with atomic_path(path) as tmp:
        mode = "w" if isinstance(data, str) else "wb"
        with open(tmp, mode, encoding="utf-8" if mode == "w" else None) as f:
            f.write(data)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success its files are fsynced and it replaces `path`.

    Whatever `path` held before is removed, not merged: a folder written twice holds only the second write. A crash
    while writing leaves `path` as it was; one between the two renames leaves the old folder under a hidden name
    beside it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        yield tmp
        for file in (f for f in tmp.rglob("*") if f.is_file()):
            with open(file, "rb") as fh:
                os.fsync(fh.fileno())
        old = tmp.with_name(tmp.name + ".old")
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def npy_bytes(arr: np.ndarray) -> bytes:
    """The bytes of `np.save(arr)`, for atomic writes of .npy files."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()
