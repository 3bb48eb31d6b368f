"""Writing output files so that nothing is ever left half-written: a temporary file in the
target's folder, then a rename. An existing file is kept unless ``force``.

- Without ``force`` the temporary file is *linked* to the target name, which fails when the
  name exists: of many runs racing for one new file exactly one wins, the others exit 2.
- A new file gets the permissions the umask allows (``0666 & ~umask``); a file replaced with
  ``force`` keeps its mode (and, where allowed, its owner and group).
- Temporary files are named ``.NAME.cpucompat-tmp-PID``. SIGTERM, SIGHUP and SIGINT remove
  them before the process ends; one left by a killed run (SIGKILL) is removed by a later
  write to the same folder once its process is gone.
- Only regular files are written through a temporary file; character devices (``/dev/null``)
  are written directly, and a FIFO, socket, folder or block device is refused, never waited on.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .errors import CpuCompatError

STDOUT = "-"
#: What marks cpucompat's temporary files: ``.NAME`` + TEMP_MARK + ``PID`` (+ ``.N``).
TEMP_MARK = ".cpucompat-tmp-"
_CLEANUP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_temps: set[str] = set()
_lock = threading.Lock()


def refuse_existing(path: str | os.PathLike, force: bool) -> None:
    """CpuCompatError when ``path`` is an existing regular file and ``force`` is not given,
    or something that is neither a regular file nor a character device."""
    if str(path) == STDOUT:
        return
    kind = _kind(Path(path))
    if kind == "file" and not force:
        raise CpuCompatError(f"{path}: exists; use --force to replace it")
    if kind not in (None, "file", "device"):
        raise CpuCompatError(f"{path}: is a {kind}; output goes to a regular file (or - for stdout)")


def _kind(path: Path) -> str | None:
    """None (nothing there), ``file``, ``device`` (character device) or what else it is."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return None  # the write reports it
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISCHR(mode):
        return "device"
    return {stat.S_IFDIR: "folder", stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket",
            stat.S_IFBLK: "block device"}.get(stat.S_IFMT(mode), "special file")


def replace_atomically(path: str | os.PathLike, write: Callable[[str], None], force: bool = False) -> None:
    """Let ``write(temp_path)`` fill a temporary file, then put it at ``path``.

    Without ``force`` an existing ``path`` is kept (CpuCompatError), even one that appears
    while ``write`` runs; with ``force`` it is replaced and its permissions are kept.
    """
    target = Path(path)
    refuse_existing(target, force)
    remove_stale_temps(target)
    installed = _install_handlers()
    try:
        _write_into_place(target, write, force)
    except OSError as error:
        if TEMP_MARK not in str(error.filename or ""):
            raise
        # the user named the target, not our temporary file beside it (a missing folder, no permission)
        raise CpuCompatError(f"{target}: cannot write: {error.strerror or error}") from None
    finally:
        _restore_handlers(installed)


def _write_into_place(target: Path, write: Callable[[str], None], force: bool) -> None:
    temp = _create_temp(target)
    try:
        write(temp)
        _set_mode(temp, target if force else None)
        if force:
            os.replace(temp, target)
        else:
            _link_new(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        _forget(temp)


def _create_temp(target: Path) -> str:
    """An empty temporary file beside ``target``, registered for removal on signals."""
    for n in range(1000):
        name = f".{target.name}{TEMP_MARK}{os.getpid()}" + (f".{n}" if n else "")
        temp = str(target.parent / name)
        with _lock:
            try:
                os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue
            _temps.add(temp)
            return temp
    raise CpuCompatError(f"{target}: cannot create a temporary file beside it")


def _forget(temp: str) -> None:
    with _lock:
        _temps.discard(temp)


def _set_mode(temp: str, replaced: Path | None) -> None:
    """The mode the umask allows for a new file; a replaced file's mode (and owner) kept."""
    if replaced is not None:
        with contextlib.suppress(FileNotFoundError):
            old = os.stat(replaced)
            if stat.S_ISREG(old.st_mode):
                with contextlib.suppress(PermissionError):
                    os.chown(temp, old.st_uid, old.st_gid)
                os.chmod(temp, stat.S_IMODE(old.st_mode))
                return
    os.chmod(temp, 0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _link_new(temp: str, target: Path) -> None:
    """Give ``temp`` the name ``target`` unless that name exists (atomic: exactly one racer wins)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise CpuCompatError(f"{target}: exists; use --force to replace it") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        # No hard links here (some FUSE and FAT file systems): reserve the name, then rename.
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            raise CpuCompatError(f"{target}: exists; use --force to replace it") from None
        os.replace(temp, target)


def remove_stale_temps(target: Path) -> None:
    """Remove ``.NAME.cpucompat-tmp-PID`` files beside ``target`` whose process is gone."""
    prefix = f".{target.name}{TEMP_MARK}"
    try:
        entries = [e.name for e in os.scandir(target.parent or ".") if e.name.startswith(prefix)]
    except OSError:
        return
    for name in entries:
        pid = name[len(prefix):].partition(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(target.parent / name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, another user's
    return True


def _remove_temps() -> None:
    for temp in list(_temps):
        with contextlib.suppress(OSError):
            os.unlink(temp)
    _temps.clear()


def _on_signal(signum, frame) -> None:
    """Remove temporary files, then end the way the signal would have."""
    _remove_temps()
    previous = _previous.get(signum)
    if callable(previous):  # Python's own SIGINT handler: KeyboardInterrupt, "Aborted!"
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


_previous: dict[int, object] = {}


def _install_handlers() -> bool:
    """Signal handlers that remove temporary files while one exists (main thread only)."""
    if _previous or threading.current_thread() is not threading.main_thread():
        return False
    for signum in _CLEANUP_SIGNALS:
        current = signal.getsignal(signum)
        if current in (signal.SIG_IGN, None):
            continue
        with contextlib.suppress(OSError, ValueError):
            signal.signal(signum, _on_signal)
            _previous[signum] = current
    return True


def _restore_handlers(installed: bool) -> None:
    if installed:
        for signum, handler in list(_previous.items()):
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(signum, handler)
        _previous.clear()


def _write_synced(temp: str, text: str) -> None:
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_text(path: str | os.PathLike, text: str, force: bool = False) -> None:
    """Write text atomically; ``-`` is stdout, and a character device (/dev/null) is written directly."""
    if str(path) == STDOUT:
        sys.stdout.write(text)
        return
    target = Path(path)
    refuse_existing(target, force)
    if _kind(target) == "device":
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    replace_atomically(target, lambda temp: _write_synced(temp, text), force)
