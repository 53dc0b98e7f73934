"""Atomic file and folder writes: a reader never sees a half-written output."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: written by babelir into every folder it creates with ``atomic_dir`` (JSON, listing the files
#: it wrote): only such a folder, holding no other files, or an empty one, is ever replaced
MARKER = ".babelir-output"
MARKER_NOTE = ("written by babelir: writing the same output again replaces this folder whole, "
               "unless it holds files that are not listed here")
STALE_SECONDS = 2 * 24 * 3600  # leftovers of another machine (or unknown origin) older than this
LOCK_TIMEOUT_S = 600.0


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _protected_reason(final: Path) -> str | None:
    """Why ``final`` may never be an output folder (None when it may)."""
    if final.name in ("", ".", ".."):
        return f"{str(final)!r} names no folder of its own"
    resolved = final.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd:
        return "it is the current working folder"
    if resolved in cwd.parents:
        return "it holds the current working folder"
    if resolved == Path(resolved.anchor):
        return "it is the root of the filesystem"
    try:
        if resolved == Path.home().resolve():
            return "it is the home folder"
    except RuntimeError:  # no home folder known
        pass
    return None


def is_babelir_output(folder: str | os.PathLike,
                      legacy: Callable[[Path], bool] | None = None) -> bool:
    """Whether ``folder`` holds babelir's marker (or, for outputs written before the marker
    existed, passes the caller's ``legacy`` test)."""
    folder = Path(folder)
    return (folder / MARKER).is_file() or bool(legacy is not None and legacy(folder))


def check_output_folder(final: str | os.PathLike,
                        legacy: Callable[[Path], bool] | None = None) -> None:
    """BabelirError unless ``final`` may be (re)written whole by babelir: it does not exist,
    is an empty folder, or is a babelir output folder. ``.``/``..``, the working folder and
    its parents, the home folder and the filesystem root are always refused."""
    from babelir.errors import BabelirError

    final = Path(final)
    reason = _protected_reason(final)
    if reason is not None:
        raise BabelirError(f"refusing to write an output folder at {final}: {reason}; "
                           "choose another --out")
    if final.is_symlink():
        raise BabelirError(f"{final} is a symbolic link, not a babelir output folder; "
                           "choose another --out or remove it yourself")
    if not final.exists():
        return
    if not final.is_dir():
        raise BabelirError(f"{final} is a file, not a babelir output folder; choose another "
                           "--out or remove it yourself")
    if (final / MARKER).is_file():
        foreign = _unlisted_files(final)
        if not foreign:
            return
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5
                                           else "")
        raise BabelirError(f"{final} is a babelir output folder, but holds files babelir did "
                           f"not write ({shown}); move them away, choose another --out, or "
                           "remove the folder yourself")
    if is_babelir_output(final, legacy) or not any(final.iterdir()):
        return
    raise BabelirError(f"{final} is not a babelir output folder (it holds files babelir did "
                       f"not write, and no {MARKER}); choose another --out or remove it "
                       "yourself")


#: key of the Parquet schema metadata in every table babelir writes (``write_parquet``)
PARQUET_KEY = b"babelir"


def is_babelir_parquet(path: str | os.PathLike) -> bool:
    """Whether the Parquet file at ``path`` carries babelir's metadata key."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception:  # not Parquet at all (pyarrow raises several types): not babelir's
        return False
    return PARQUET_KEY in metadata


def check_output_file(final: str | os.PathLike,
                      ours: Callable[[Path], bool] = is_babelir_parquet) -> None:
    """BabelirError unless the file ``final`` may be (re)written by babelir: it does not
    exist, or ``ours`` recognises it as a file babelir wrote. A user's own file is never
    replaced: the message says to choose another --out or remove it yourself."""
    from babelir.errors import BabelirError

    final = Path(final)
    if final.is_dir():
        raise BabelirError(f"{final} is a folder; --out names a file here")
    if final.is_symlink() or (final.exists() and not ours(final)):
        raise BabelirError(f"{final} exists and babelir did not write it; refusing to "
                           "replace it: choose another --out or remove it yourself")


def write_parquet(frame, path: str | os.PathLike) -> None:
    """Write a DataFrame to Parquet atomically, with babelir's metadata key (so that writing
    the same output again may replace it, and a user's own file never is)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = {**(table.schema.metadata or {}), PARQUET_KEY: b"written by babelir"}
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def _files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name != MARKER)


def _unlisted_files(folder: Path) -> list[str]:
    """Files in a marked folder that its marker does not list (an older, unlisted marker:
    none)."""
    try:
        listed = json.loads((folder / MARKER).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        listed = None
    if not isinstance(listed, list):
        return []
    return sorted(set(_files_in(folder)) - set(listed))


def mark_output(folder: str | os.PathLike, list_files: bool = False) -> None:
    """Write babelir's marker into ``folder`` (so babelir may later replace it); with
    ``list_files`` it lists the files there, and a file added later blocks the replacement."""
    folder = Path(folder)
    record = {"babelir": MARKER_NOTE}
    if list_files:
        record["files"] = _files_in(folder)
    (folder / MARKER).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


@contextlib.contextmanager
def output_lock(final: str | os.PathLike, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``.NAME.lock`` beside ``final``: writers of the same
    folder take turns. The lock file is removed on release (a waiter that locked a removed
    file notices and locks the new one)."""
    from babelir.errors import BabelirError

    final = Path(final)
    path = final.parent / f".{final.name}.lock"
    deadline = time.monotonic() + timeout
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise BabelirError(f"another process has been writing {final} for "
                                           f"{timeout:.0f} s (lock {path}); try again later")
                    time.sleep(0.05)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)  # the holder before us removed that file: lock the current one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)  # releases the lock


_OURS = re.compile(r"(tmp|old)-([0-9a-f]{8})-(\d+)-[0-9a-f]{8}")
_OLDER = re.compile(r"tmp-[a-z0-9_]{8}|old-\d+")  # the names of babelir before the host tag


def _stale_owner_gone(path: Path) -> bool:
    """Whether the process that made ``path`` (``.NAME.tmp-<host>-<pid>-<random>``) is gone:
    dead on this machine; on another machine, or named by an older babelir, when older than
    STALE_SECONDS. Any other name is not babelir's: never."""
    suffix = path.name.rsplit(".", 1)[-1]
    ours = _OURS.fullmatch(suffix)
    if ours is None and not _OLDER.fullmatch(suffix):
        return False
    if ours is not None and ours.group(2) == _host_tag():
        pid = int(ours.group(3))
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False
    try:
        return time.time() - path.lstat().st_mtime > STALE_SECONDS
    except FileNotFoundError:
        return False


def clean_stale(final: str | os.PathLike) -> None:
    """Remove ``.NAME.tmp-*`` / ``.NAME.old-*`` beside ``final`` left by a killed process.
    Call it holding ``output_lock(final)``. A killed swap that had moved ``final`` aside
    (``final`` missing, an ``old`` there) is undone: the old folder is put back."""
    final = Path(final)
    if not final.parent.is_dir():
        return
    name = glob.escape(final.name)
    stale = [p for pattern in (f".{name}.tmp-*", f".{name}.old-*")
             for p in final.parent.glob(pattern) if _stale_owner_gone(p)]
    olds = sorted((p for p in stale if ".old-" in p.name), key=lambda p: p.lstat().st_mtime)
    if olds and not os.path.lexists(final) and (olds[-1] / MARKER).is_file():
        os.replace(olds[-1], final)
        stale.remove(olds[-1])
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def _sibling(final: Path, kind: str) -> Path:
    return final.parent / (f".{final.name}.{kind}-{_host_tag()}-{os.getpid()}-"
                           f"{uuid.uuid4().hex[:8]}")


def _swap_in(tmp: Path, final: Path) -> None:
    """Put ``tmp`` at ``final``; the previous ``final`` is moved aside first and removed last
    (put back if the second rename fails)."""
    old = None
    if os.path.lexists(final):
        old = _sibling(final, "old")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *,
               legacy: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; on success it replaces ``final``.

    ``final`` must be absent, empty, or a babelir output folder holding only the files babelir
    wrote there (``check_output_folder``; ``legacy`` recognises outputs written before the
    marker existed): anything else is refused before any work, and checked again at the swap.
    The temporary folder gets the marker (listing its files once complete), and is removed on
    any failure (``final`` is then untouched). Concurrent writers of the same ``final`` swap
    in turn under ``output_lock``: each swap is whole, the last wins. Leftovers of killed
    processes are cleaned first (``clean_stale``).
    """
    from babelir.errors import BabelirError

    final = Path(final)
    check_output_folder(final, legacy)
    tmp = _sibling(final, "tmp")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with output_lock(final):
            clean_stale(final)
        tmp.mkdir(mode=0o777)  # the usual permissions (umask applies)
    except OSError as exc:
        raise BabelirError(f"cannot write the output folder {final}: {exc}") from None
    try:
        mark_output(tmp)
        yield tmp
        mark_output(tmp, list_files=True)
        with output_lock(final):
            clean_stale(final)
            check_output_folder(final, legacy)  # another process may have written it since
            _swap_in(tmp, final)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file path beside ``final``; on success it is renamed to ``final``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.tmp-", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj: object) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save a numpy array atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def sha256_of(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit() -> str | None:
    """The commit of the babelir checkout that is running (None outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def read_yaml_settings(path: str | os.PathLike, known, what: str) -> dict:
    """A YAML mapping of settings; a clear error for an unreadable file or unknown keys."""
    import yaml

    from babelir.errors import BabelirError

    try:
        values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BabelirError(f"cannot read {what} {path}: {exc}") from exc
    if not isinstance(values, dict):
        raise BabelirError(f"{what} {path}: expected a mapping of settings")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise BabelirError(f"{what} {path}: unknown setting(s) {', '.join(unknown)}; "
                           f"known: {', '.join(known)}")
    return values
