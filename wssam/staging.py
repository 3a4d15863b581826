"""Writing outputs so that an interrupted stage never leaves a half-written one that a rerun would trust.

Every write goes to a temporary first and is moved into place with ``os.replace``: a sibling named
``.<name>.<random>.wssam-tmp...`` (ignored by DVC through ``.dvcignore`` and by git), or, under DVC, a file in the
repository's DVC area (:data:`DVC_TEMPORARY_AREA`, out of the data folders: a killed stage's outputs may be restored
from DVC's cache without the stage running again to tidy up). Ctrl-C and SIGTERM remove them; stale ones that
SIGKILL left are removed when their target is written again. Written files get the user's umask. A stage with
several outputs stages its folders and puts them in place together with its files (:func:`staged_outputs`), the
stop signals held off for that moment (:func:`signals_held`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: marks every temporary file and folder wssam writes (see ``.dvcignore``)
TEMP_MARK = ".wssam-tmp"

#: set by DVC for every stage command it runs: the repository root
DVC_ROOT_ENV = "DVC_ROOT"
#: under DVC, temporaries go here (below the repository root), out of the data folders
DVC_TEMPORARY_AREA = Path(".dvc") / "tmp" / "wssam"


def _temporary_places(target: Path) -> list[tuple[Path, str]]:
    """(folder, name prefix) of where ``target``'s temporaries are made (first) and may have been left.

    Beside the target: ``.<name>.<random>.wssam-tmp...``. Under DVC, when :data:`DVC_TEMPORARY_AREA` is on the target's
    filesystem (renames stay atomic), temporaries are made there instead (``.<name>.<hash of the path>.<random>...``):
    DVC restores a killed stage's outputs from its cache without running it, so nothing would ever remove a
    leftover sibling from the data folders.
    """
    target = Path(os.path.abspath(target))
    beside = (target.parent, f".{target.name}.")
    root = os.environ.get(DVC_ROOT_ENV)
    if not root:
        return [beside]
    area = Path(root) / DVC_TEMPORARY_AREA
    key = hashlib.sha256(str(target).encode("utf-8")).hexdigest()[:12]
    try:
        area.mkdir(parents=True, exist_ok=True)
        same_filesystem = area.stat().st_dev == target.parent.stat().st_dev
    except OSError:
        same_filesystem = False
    return [(area, f".{target.name}.{key}."), beside] if same_filesystem else [beside]


def is_temporary(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a wssam temporary (a staging folder, a half-written file or a replaced old output)."""
    name = Path(path).name
    return name.startswith(".") and TEMP_MARK in name


def remove_temporaries(*targets: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries that an interrupted writer of each target left behind; returns them.

    Stages call this for their outputs when they start; :func:`atomic_path` and :func:`staged_folder` call it for
    their target. Nothing but the target's own ``.<name>.*.wssam-tmp*`` (beside it, or in the DVC area) is touched.
    """
    removed = []
    for target in targets:
        for folder, prefix in _temporary_places(Path(target)):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.name.startswith(prefix) and is_temporary(path):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def current_umask() -> int:
    """The process's file-creation mask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _give_umask_mode(path: Path, *, directory: bool) -> None:
    """``mkstemp``/``mkdtemp`` create 0600/0700 whatever the umask: give the mode a plain ``open`` would."""
    path.chmod((0o777 if directory else 0o666) & ~current_umask())


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path for ``path`` (beside it, or in the DVC area); on success move it onto ``path``.

    On an exception (or Ctrl-C / SIGTERM) the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(target)
    folder, prefix = _temporary_places(target)[0]
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=TEMP_MARK + target.suffix, dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _give_umask_mode(tmp, directory=False)
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def staged_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary folder (beside ``target``, or in the DVC area); on success it replaces ``target``.

    On an exception (or Ctrl-C / SIGTERM) the temporary folder is deleted and ``target`` is left as it was, so an
    interrupted run never leaves a half-written folder that a rerun would trust.
    """
    target = Path(target)
    tmp = _new_staging_folder(target)
    try:
        yield tmp
        _swap_into_place(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _new_staging_folder(target: Path) -> Path:
    """A fresh temporary folder for ``target`` where :func:`staged_folder` makes it (leftovers of ``target`` removed
    first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(target)
    folder, prefix = _temporary_places(target)[0]
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=TEMP_MARK, dir=folder))
    _give_umask_mode(tmp, directory=True)
    return tmp


@dataclass(frozen=True)
class StagedOutputs:
    """The staging folders of a stage's folder outputs (see :func:`staged_outputs`): ``staged[target]`` is where
    ``target``'s new content is written."""

    folders: dict[Path, Path]

    def __getitem__(self, target: str | os.PathLike[str]) -> Path:
        return self.folders[Path(target)]

    @contextmanager
    def commit(self) -> Iterator[None]:
        """Put every staged folder in place, then run the block (which writes the files that go with them), with
        Ctrl-C, SIGTERM and SIGHUP held off throughout (:func:`signals_held`)."""
        with signals_held():
            for target, new in self.folders.items():
                _swap_into_place(new, target)
            yield


@contextmanager
def staged_outputs(*folders: str | os.PathLike[str]) -> Iterator[StagedOutputs]:
    """Stage several folder outputs that must change together with some files.

    Yields :class:`StagedOutputs`: write each folder's new content into ``staged[folder]``, then, inside
    ``with staged.commit():``, write the files that go with them. On an exception (or a stop before the commit)
    the staging folders are deleted and every output is left as it was; after the commit all are new: never a mix
    of old and new outputs that a rerun would trust.
    """
    staged = StagedOutputs({})
    try:
        for folder in folders:
            staged.folders[Path(folder)] = _new_staging_folder(Path(folder))
        yield staged
    finally:
        for tmp in staged.folders.values():
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


#: the stop signals :func:`signals_held` holds off
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_completed_commits = 0  # blocks of signals_held that ran to their end in this process


def completed_commits() -> int:
    """How many times this process has put outputs in place under :func:`signals_held` (to its end): a stop that
    was held off until then comes after the new outputs, not before."""
    return _completed_commits


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold off Ctrl-C, SIGTERM and SIGHUP while a stage puts its several outputs in place, so that a stop comes
    before all of them or after all of them, never between two; one that arrives meanwhile acts at the end (and
    :func:`completed_commits` has counted the block by then). Only the main thread handles signals (elsewhere: no
    effect).

    The signals' handlers are replaced for the block by ones that note the signal, which is raised again once the
    old handlers are back. (Blocking the signals in the main thread would not do: the kernel hands a signal sent to
    the process to any thread that does not block it, torch's worker threads included, and Python then runs the
    handler in the main thread all the same.)
    """
    global _completed_commits
    if threading.current_thread() is not threading.main_thread():
        yield
        _completed_commits += 1
        return
    arrived: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _: arrived.append(signum)) for signum in HELD_SIGNALS}
    try:
        yield
        _completed_commits += 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if arrived:
            signal.raise_signal(arrived[0])


def _swap_into_place(new: Path, target: Path) -> None:
    """Replace ``target`` (file or folder, or absent) by ``new``; an interruption between the two renames puts the
    old ``target`` back. The old one is renamed to a temporary first, then deleted."""
    old = None
    if target.exists() or target.is_symlink():
        folder, prefix = _temporary_places(target)[0]
        old = folder / f"{prefix}{uuid.uuid4().hex[:8]}{TEMP_MARK}"
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        remove_temporaries(target)
