"""What every stage script shares: one line instead of a traceback, clean stops, progress bars, rounded figures.

:func:`reports_input_errors` wraps each typer command so that

- a user's mistake (:class:`~wssam.io.InputError`) prints ``error: <one line>`` and exits with code 2;
- running out of memory prints one line saying what to lower, exit code 2;
- Ctrl-C, SIGTERM (what ``timeout``, Slurm and ``docker stop`` send) and SIGHUP stop the stage the same way: the
  temporary files of the writes in progress are removed, outputs are left as they were (or, when the stop came
  while the stage put its outputs in place, held off until all were new), one line says which, and the exit code
  is 128 + the signal number (130 for Ctrl-C, 143 for SIGTERM);
- under DVC (``DVC_STAGE`` set), a watcher thread stops the stage the same way when the ``dvc`` process that
  started it is gone (killed): otherwise the orphan would finish later and overwrite outputs that a new ``dvc``
  command had restored. A stage started by hand is not watched (``nohup`` keeps working).

Progress bars (:func:`progress`) show the rate and the time left; ``--quiet`` or ``WSSAM_QUIET=1`` turns them off
so CI logs stay short. Light on purpose: no torch here (the params check imports it).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Annotated, Any, TypeVar

import psutil
import typer
from tqdm import tqdm

from wssam.io import InputError
from wssam.staging import completed_commits

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

USER_ERROR_EXIT_CODE = 2
QUIET_ENV = "WSSAM_QUIET"
#: signals handled like Ctrl-C
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: set by DVC for every stage command it runs
DVC_STAGE_ENV = "DVC_STAGE"
#: set by :mod:`wssam.launcher` to the process id of a stage script that runs torchrun's agent for its processes:
#: they look past it for the ``dvc`` process that started them
LAUNCHER_PID_ENV = "WSSAM_LAUNCHER_PID"
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "busybox"})
WATCH_INTERVAL_S = 1.0
MEMORY_ADVICE = (
    "lower what the stage holds at once (pseudo_label.random_walker.max_side, train.batch_size, "
    "train.image_size, predict.batch_size) or the images' size"
)

#: the --quiet option every stage script takes (also WSSAM_QUIET=1)
Quiet = Annotated[bool, typer.Option("--quiet", "-q", envvar=QUIET_ENV, help="No progress bars (also: WSSAM_QUIET=1).")]


class Stopped(KeyboardInterrupt):
    """The stage was asked to stop (``signum``); ``reason`` says why when it was not a person or a scheduler."""

    def __init__(self, signum: int, reason: str = "") -> None:
        super().__init__(signum, reason)
        self.signum = signum
        self.reason = reason


_stop_reason = ""
_stopping = False


def _raise_stopped(signum: int, frame: Any) -> None:
    """Raise :class:`Stopped` once; a second SIGTERM/SIGHUP (a watcher, a scheduler's repeat) is ignored so that it
    cannot cut short the removal of temporaries that the first one started."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    raise Stopped(signum, _stop_reason)


@contextmanager
def signals_stop_the_stage() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` (a KeyboardInterrupt) in the main thread, as Ctrl-C does, so every
    ``finally`` runs (temporaries removed); the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    global _stopping
    _stopping = False
    previous = {signum: signal.signal(signum, _raise_stopped) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _dvc_process() -> psutil.Process | None:
    """The ``dvc`` process that started this stage (the nearest ancestor that is neither a shell nor the torchrun
    agent the stage became, see :mod:`wssam.launcher`), or None when the stage does not run under DVC or its
    ancestors cannot be read."""
    if not os.environ.get(DVC_STAGE_ENV):
        return None
    launcher = os.environ.get(LAUNCHER_PID_ENV, "")
    try:
        process = psutil.Process().parent()
        while process is not None and (process.name() in SHELLS or str(process.pid) == launcher):
            process = process.parent()
    except psutil.Error:
        return None
    return process


def _alive(process: psutil.Process) -> bool:
    """Whether ``process`` still runs; a process that cannot be inspected (access denied) counts as alive."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True


@contextmanager
def stops_when_dvc_is_gone(interval_s: float = WATCH_INTERVAL_S) -> Iterator[None]:
    """Under DVC, watch the ``dvc`` process from a daemon thread; when it is gone, send this process SIGTERM
    (handled by :func:`signals_stop_the_stage`). Outside DVC, do nothing."""
    watched = _dvc_process()
    if watched is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    done = threading.Event()

    def watch() -> None:
        global _stop_reason
        while not done.wait(interval_s):
            if not _alive(watched):
                _stop_reason = f"the dvc process (pid {watched.pid}) that started this stage is gone"
                os.kill(os.getpid(), signal.SIGTERM)
                return

    thread = threading.Thread(target=watch, name="wssam-dvc-watch", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()


def _is_out_of_memory(error: BaseException) -> bool:
    """numpy's MemoryError, torch's OutOfMemoryError and its CPU allocator's failure (no torch import here)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def reports_input_errors(command: F) -> F:
    """Wrap a typer command: one line and exit code 2 for an InputError or running out of memory; Ctrl-C, SIGTERM,
    SIGHUP and (under DVC) a vanished ``dvc`` process stop it cleanly with one line (see the module docstring)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        commits_before = completed_commits()
        try:
            with signals_stop_the_stage(), stops_when_dvc_is_gone():
                return command(*args, **kwargs)
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(USER_ERROR_EXIT_CODE) from None
        except KeyboardInterrupt as stop:
            signum = stop.signum if isinstance(stop, Stopped) else signal.SIGINT
            reason = stop.reason if isinstance(stop, Stopped) and stop.reason else f"{signal.Signals(signum).name}"
            outputs = "all outputs new" if completed_commits() > commits_before else "outputs left as they were"
            print(f"stopped ({reason}): {outputs}, temporary files removed", file=sys.stderr)
            raise SystemExit(128 + signum) from None
        except Exception as error:
            if not _is_out_of_memory(error):
                raise
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"error: out of memory ({detail}); {MEMORY_ADVICE}", file=sys.stderr)
            raise SystemExit(USER_ERROR_EXIT_CODE) from None

    return wrapper  # type: ignore[return-value]


def progress(
    items: Iterable[T],
    *,
    desc: str,
    unit: str = "img",
    total: int | None = None,
    enabled: bool = True,
    leave: bool = True,
) -> Iterable[T]:
    """``items`` with a progress bar on stderr (count, rate, time left), or ``items`` unchanged when not enabled.
    ``leave``: keep the finished bar on screen."""
    if not enabled:
        return items
    return tqdm(items, desc=desc, unit=unit, total=total, mininterval=0.5, dynamic_ncols=True, leave=leave)


def figure(value: float | None, digits: int = 4) -> str:
    """A number for people: ``digits`` significant digits (``0.6909``, ``181.1``, ``1e-06``); None as ``n/a``."""
    return "n/a" if value is None else f"{value:.{digits}g}"
