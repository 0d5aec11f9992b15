"""The label join's spill directory (``labels.spill_dir``) and files: private to the worker's user.

A spill file read back by the worker must be one the worker wrote, so the directory is created ``0700`` and an
existing one is refused (:class:`~streamdrift.errors.ConfigError`) when another user could put or change files
in it: owned by another user, group- or world-writable, a symbolic link, not a directory, or inside a directory
that others may write to without the sticky bit (they could rename it and put their own in its place). An
existing directory that others may only read is accepted: the files in it are created ``0600``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Final

from streamdrift.errors import ConfigError

DIR_MODE: Final[int] = 0o700
PARENT_MODE: Final[int] = 0o755  # of missing parents created on the way
FILE_MODE: Final[int] = 0o600
_OTHERS_WRITE: Final[int] = stat.S_IWGRP | stat.S_IWOTH


def private_directory(path: str | Path, what: str = "labels.spill_dir") -> Path:
    """``path``, created ``0700`` (its missing parents ``0755``) when it does not exist; ConfigError when it
    exists but is not private to this user (see the module docs). ``what`` names the setting in errors."""
    directory = Path(path).absolute()
    try:
        missing = [p for p in (directory, *directory.parents) if not os.path.lexists(p)]
        for parent in reversed(missing[1:]):  # at most 0755 (the umask may take more): not writable by others
            os.mkdir(parent, PARENT_MODE)
        directory.mkdir(mode=DIR_MODE)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"{what}: cannot create {directory}: {exc}") from exc
    check_private_directory(directory, what)
    return directory


def check_private_directory(directory: Path, what: str = "labels.spill_dir") -> None:
    """ConfigError unless ``directory`` is a real directory of this user that no one else may write to."""
    try:
        st = os.lstat(directory)
        parent = os.stat(directory.parent)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot inspect {directory}: {exc}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise ConfigError(f"{what}: {directory} is a symbolic link; give the directory it points to")
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{what}: {directory} exists and is not a directory")
    if st.st_uid != os.geteuid():
        raise ConfigError(f"{what}: {directory} is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}): "
                          "another user could change the spill files the worker reads back; use a directory of "
                          "its own (it is created 0700 when missing)")
    if st.st_mode & _OTHERS_WRITE:
        raise ConfigError(f"{what}: {directory} is writable by its group or by others (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); chmod go-w it (0700 is what the worker creates)")
    if parent.st_mode & _OTHERS_WRITE and not parent.st_mode & stat.S_ISVTX:
        raise ConfigError(f"{what}: {directory.parent} (the parent of {directory}) is writable by others without "
                          "the sticky bit: they could replace the spill directory; use one in a directory they "
                          "cannot write to")


def create_private_file(path: Path) -> IO[bytes]:
    """A new file ``0600`` (whatever the umask), open for writing; FileExistsError when ``path`` exists (also
    as a symbolic link: it is never followed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    return os.fdopen(fd, "wb")


def touch_private_file(path: Path) -> None:
    """Create ``path`` empty and ``0600`` unless it exists (SQLite then opens it, and gives its journal and
    WAL files the same mode); a symbolic link is never followed."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
