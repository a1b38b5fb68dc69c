"""Files that are whole or absent: written under a fresh name beside the target, fsynced, renamed, and the
rename itself fsynced, so neither a crash nor a power cut leaves half a file or loses a file already replaced.

The temporary name is random and created exclusively (never a symlink someone planted at a name they could
guess), with the usual mode (0666 less the umask), so every file sparktensor writes gets the same permissions.
"""
import os
import secrets


def temporary_beside(path):
    """``(fd, name)`` of a new, empty, exclusively created file in ``path``'s directory, opened for writing."""
    directory = os.path.dirname(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        name = os.path.join(directory, f".tmp-{secrets.token_hex(8)}-{os.path.basename(path)}")
        try:
            return os.open(name, flags, 0o666), name
        except FileExistsError:
            continue


def fsync_file(path):
    """Flush ``path``'s data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(directory):
    """Flush ``directory``'s entries (a rename or a new file in it) to the disk; a no-op where directories
    cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(written, path):
    """Rename the complete file ``written`` to ``path`` so that after a crash ``path`` is the old file or the
    new one: the data is fsynced before the rename, the directory after it."""
    fsync_file(written)
    os.replace(written, path)
    fsync_directory(os.path.dirname(os.path.abspath(path)))


def write_atomically(path, data):
    """Write ``data`` (bytes or str, as UTF-8) to ``path`` whole or not at all (see the module docstring)."""
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        replace_durably(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
