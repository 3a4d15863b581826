"""What the SAM labeler needs settled before torch is imported: the checkpoint file and the process's memory
allocator.

Checkpoints are the official segment-anything releases; this project never downloads them. The user fetches one,
for example with ``dvc import-url https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth
data/labelers/sam/sam_vit_h_4b8939.pth``, and names the file in ``pseudo_label.sam.checkpoint``.

On CPU the SAM image encoder allocates large tensors; glibc's default allocator returns them to the system after
every call and page-faults them back, which roughly doubles the encoder's time. The tunables in
:data:`ALLOCATOR_TUNABLES` stop that, but glibc reads them only when a process starts, so
:func:`reexec_with_allocator_tunables` restarts the current process once with them set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from wssam.io import InputError

OFFICIAL_CHECKPOINTS = {
    "vit_h": "sam_vit_h_4b8939.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_b": "sam_vit_b_01ec64.pth",
}
OFFICIAL_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
ALLOCATOR_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"
_REEXEC_MARK = "WSSAM_ALLOCATOR_REEXEC"


def official_checkpoint(model_type: str) -> str:
    """The official file name of the ``model_type`` checkpoint (e.g. ``sam_vit_h_4b8939.pth``)."""
    return OFFICIAL_CHECKPOINTS.get(model_type, f"sam_{model_type}_<hash>.pth")


def check_checkpoint(model_type: str, checkpoint: str | os.PathLike[str]) -> Path:
    """Return ``checkpoint`` as a Path if it is a file, else one-line InputError saying where to get it."""
    path = Path(checkpoint)
    if path.is_file():
        return path
    file_name = official_checkpoint(model_type)
    raise InputError(
        f"{path}: SAM checkpoint not found (pseudo_label.sam.checkpoint); {model_type} needs the official file "
        f"{file_name} from the segment-anything release, e.g. `dvc import-url {OFFICIAL_URL}{file_name} "
        f"{path.parent / file_name}`, or set pseudo_label.labeler: random_walker"
    )


def reexec_with_allocator_tunables() -> None:
    """Restart this process once (same interpreter and argv) with :data:`ALLOCATOR_TUNABLES` in its environment.

    Does nothing when ``GLIBC_TUNABLES`` is already set (the user's choice wins), off Linux, or after one restart.
    Only a script run as ``__main__`` may call it (it replaces the process), and as early as it knows SAM is
    needed: what ran before is repeated once after the restart.
    """
    if not sys.platform.startswith("linux") or "GLIBC_TUNABLES" in os.environ or _REEXEC_MARK in os.environ:
        return
    env = dict(os.environ, GLIBC_TUNABLES=ALLOCATOR_TUNABLES, **{_REEXEC_MARK: "1"})
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
