"""The per-image cache of view maps: each map is stored under a key that covers everything it depends on, so a
change of any of them misses and nothing stale is ever reused; a killed or extended run labels only what is new.

The key of image ``name`` in one view is the SHA-256 of

- what the whole view shares (:func:`view_context`): the cache format, the labelling code (the sources of the
  wssam modules the stage runs, :func:`labelling_code_fingerprint`), the versions of the libraries that compute
  the maps, the labeler's name, its params section and what it resolved at run time (device, precision), the
  content of its files (the SAM checkpoint, :func:`remembered_digest`), the prompt settings and seed where the
  labeler samples points and a box from the strokes (SAM; the random walker walks the strokes themselves), and the
  view as geometry (flip, quarter turns, scale: ``vflip`` and ``hflip_rot180`` are one view);
- the image's name (it seeds the prompts), its sparse-label kind, the bytes of its image and sparse files, and
  what the labeler reads for it alone (the ``folder`` labeler: its mask file).

Layout of the cache folder (``pseudo_label.cache_dir``; it may be shared between runs, clones and machines):

- ``maps/<k[:2]>/<k>.png``: the 8-bit map of key ``k``, exactly the bytes the stage puts into its output;
- ``files/<hash of the path>.json``: a file's SHA-256 remembered with its path, size and modification time, so a
  2.5 GB checkpoint is hashed once, not for every image or view;
- ``tmp/``: entries being written; each entry is written there and renamed into ``maps/`` the moment it is done
  (a SIGKILL loses at most the maps in flight; leftovers older than an hour are removed).

Deleting the folder (or any part of ``maps/``) is always safe: what is missing is labelled again.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from wssam.io import InputError
from wssam.pseudo_label.config import PseudoLabelConfig
from wssam.pseudo_label.views import View
from wssam.staging import TEMP_MARK, current_umask

#: bump when the meaning of a key or of an entry changes
CACHE_FORMAT = 1
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
#: where the labelling starts: the stage module, and through its imports every module it runs
STAGE_MODULE = PACKAGE_ROOT / "pseudo_label" / "stage.py"
STALE_TEMPORARY_S = 3600.0
_CHUNK = 1 << 20


def file_digest(path: str | os.PathLike[str], fix: str = "run the stage that writes it first") -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks; a missing or unreadable file is an :class:`InputError`
    naming it and ``fix``."""
    if not Path(path).is_file():
        raise InputError(f"{path}: file not found; {fix}")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror}); {fix}") from error
    return digest.hexdigest()


def _module_file(name: str) -> Path | None:
    """The source file of the wssam module ``name`` (``wssam.a.b``), found by path alone (nothing is imported)."""
    parts = name.split(".")[1:]
    base = PACKAGE_ROOT.joinpath(*parts) if parts else PACKAGE_ROOT
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_sources(start: Path) -> list[Path]:
    """``start`` and the wssam source files it imports, transitively (imports inside functions too), sorted."""
    seen: set[Path] = set()
    pending = [start.resolve()]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wssam":
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.split(".")[0] == "wssam"]
            pending += [found.resolve() for found in map(_module_file, names) if found is not None]
    return sorted(seen)


def labelling_code_fingerprint(start: Path = STAGE_MODULE) -> str:
    """SHA-256 over the relative paths and bytes of :func:`imported_sources` of ``start``: any edit of the code the
    stage runs (labelers, views, prompts, reading and writing images) gives new keys."""
    digest = hashlib.sha256()
    for path in imported_sources(start):
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Installed version of each distribution in ``names`` (``absent`` where it is not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def view_geometry(view: View) -> dict[str, Any]:
    """The view as what it does (flip, quarter turns, scale), not as it was spelled."""
    return {"hflip": view.hflip, "k": view.k, "scale": repr(float(view.scale))}


def view_context(
    config: PseudoLabelConfig,
    view: View,
    *,
    resolved: dict[str, Any],
    files: dict[str, str],
    libraries: tuple[str, ...],
    code: str,
    samples_prompts: bool = True,
) -> str:
    """SHA-256 of what every map of ``view`` shares (see the module docstring): ``resolved`` is what the labeler
    decided at run time, ``files`` the digests of its files by role, ``libraries`` the distributions whose versions
    count, ``code`` the labelling code's fingerprint, ``samples_prompts`` whether the prompt settings and seed count."""
    shared = {
        "format": CACHE_FORMAT,
        "code": code,
        "libraries": library_versions(libraries),
        "labeler": config.labeler,
        "section": getattr(config, config.labeler).to_dict(),
        "resolved": resolved,
        "files": files,
        "view": view_geometry(view),
    }
    if samples_prompts:
        shared |= {"seed": config.seed, "prompts": config.prompts.to_dict()}
    return hashlib.sha256(json.dumps(shared, sort_keys=True).encode("utf-8")).hexdigest()


def map_key(context: str, *, name: str, kind: str, image: str, sparse: str, labeler_input: str = "") -> str:
    """The key of image ``name``'s map: ``context`` (:func:`view_context`), the image name and sparse kind, and
    the digests of its image, its sparse labels and what the labeler reads for it alone."""
    parts = (context, name, kind, image, sparse, labeler_input)
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _give_umask_mode(path: Path) -> None:
    path.chmod(0o666 & ~current_umask())


class MapCache:
    """The cache folder (layout in the module docstring). Entries are complete PNG files or absent."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.maps = self.folder / "maps"
        self.tmp = self.folder / "tmp"
        for sub in (self.maps, self.tmp, self.folder / "files"):
            sub.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives (whether or not it exists)."""
        return self.maps / key[:2] / f"{key}.png"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, key: str, data: bytes) -> Path:
        """Store ``data`` as the entry of ``key``: written under ``tmp/``, flushed to the disk and renamed into place
        in one step, so readers (other processes, other machines) see the whole entry or none, and an entry that
        outlives a crash of the machine is whole (an entry is trusted by its name for as long as it exists)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{key}.", suffix=TEMP_MARK, dir=self.tmp)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            _give_umask_mode(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def copy_to(self, key: str, target: str | os.PathLike[str]) -> None:
        """Copy the entry of ``key`` to ``target`` (the stage's output stays its own file: nothing edits the cache
        through it)."""
        shutil.copyfile(self.path(key), target)

    def remembered_digest(self, path: str | os.PathLike[str]) -> str:
        """SHA-256 of the file at ``path``, computed once and remembered by its absolute path, size, modification
        and change times, inode and device: a rewritten or touched file is hashed again, and so is one replaced by
        a copy that kept the old size and modification time (``cp -p``, ``rsync -a``, ``tar x``, another machine
        sharing the cache), whose change time and inode are new; nobody can set those."""
        path = Path(os.path.abspath(path))
        stat = path.stat()
        facts = {
            "path": str(path),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "ctime_ns": stat.st_ctime_ns,
            "inode": stat.st_ino,
            "device": stat.st_dev,
        }
        memo = self.folder / "files" / f"{hashlib.sha256(str(path).encode('utf-8')).hexdigest()[:32]}.json"
        try:
            saved = json.loads(memo.read_text(encoding="utf-8"))
            if {key: saved.get(key) for key in facts} == facts and isinstance(saved.get("sha256"), str):
                return saved["sha256"]
        except (OSError, ValueError):
            pass
        digest = file_digest(path)
        self._write_small(memo, json.dumps({**facts, "sha256": digest}, indent=2))
        return digest

    def _write_small(self, target: Path, text: str) -> None:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_MARK, dir=self.tmp)
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
            _give_umask_mode(tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _remove_stale_temporaries(self) -> None:
        """Entries a killed run was writing (in ``tmp/`` only, and only old ones: another run may be writing)."""
        limit = time.time() - STALE_TEMPORARY_S
        for path in self.tmp.iterdir():
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
            except OSError:
                pass
