"""The run's output folder: checks before writing, a lock, atomic model folders, metrics.

A run folder holds a marker file (``.thinc-fast-run``), a lock file
(``.thinc-fast.lock``), ``config.cfg``, ``metrics.jsonl`` and the model
folders ``model-last/`` and ``model-best/``.

- **One writer at a time.** :class:`RunLock` holds an advisory lock
  (``flock``) on the lock file while a run writes; a second ``train`` into the
  same folder is refused with a message naming the process that holds it. The
  kernel releases the lock when its process ends, however it ends; the file
  then still names that process (a clean exit empties it), which is how a
  stale lock is recognised and reported when the next run takes it over.
- **Atomic model folders.** A model folder is built beside its target
  (``.model-last.new-*``, its files written atomically, ``meta.json`` last) and
  swapped in with two renames (the old folder is first moved into
  ``.model-last.old-*``). A kill between the two renames leaves no
  ``model-last``: :func:`recover_output`, run under the lock when a run starts
  in the folder, moves the complete new folder (or else the old one) into
  place, and removes what interrupted saves left behind.
- **One owner.** :class:`RunFolder` runs these in one order for every run:
  check (nothing written), lock, recover (``--resume``), check again under the
  lock, then prepare (``config.cfg``, ``metrics.jsonl``, ``data.json``);
  then the model folders and metrics rows as the run goes; then release.
- **Usual modes.** Files and folders get ``0o666``/``0o777`` less the umask,
  as files made by ``open``/``mkdir`` do, so that a team can share a model.
"""
import datetime
import fcntl
import json
import math
import os
import shutil
import socket
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .._io import atomic_write, make_temp_dir
from ..checkpoint import save_checkpoint
from ..config import Config, ConfigValidationError, registry
from ..errors import UserError
from ..model import Model
from ..optimizers import Optimizer
from .config import load_config
from .provenance import read_data_record, write_data_record

RUN_MARKER = ".thinc-fast-run"
LOCK_FILE = ".thinc-fast.lock"
MODEL_DIRS = ("model-last", "model-best")
_OURS = {RUN_MARKER, LOCK_FILE}


def prepare_output(output: Optional[Path], resume: bool, overwrite: bool) -> Optional[Path]:
    """Check the output folder (new, empty, or a run of ours to resume or
    overwrite) without writing anything."""
    if output is None:
        if resume:
            raise UserError("--resume needs --output, the folder of the run to continue")
        return None
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} exists and is not a folder")
    ours = (output / RUN_MARKER).exists()
    contents = [p.name for p in output.iterdir() if p.name not in _OURS] if output.is_dir() else []
    if resume:
        if not ours:
            raise UserError(f"--resume: {output} holds no thinc-fast run to continue")
        if not any((output / name / "checkpoint.bin").is_file() for name in MODEL_DIRS) \
                and not _leftovers(output):
            raise UserError(f"--resume: {output} holds no model-last to continue from (the run "
                            "was stopped before its first evaluation); start it again with "
                            "--overwrite")
        return output
    if contents and not ours:
        raise UserError(f"--output {output} is not empty and is not a thinc-fast run folder "
                        f"(it holds {', '.join(sorted(contents)[:5])}{'...' if len(contents) > 5 else ''}). "
                        "Choose a new or empty folder; nothing was written.")
    if ours and not overwrite:
        holder = _live_holder(output)
        if holder is not None:
            raise UserError(_in_use(output, holder))
        raise UserError(f"--output {output} already holds a thinc-fast run. Use --resume to continue "
                        "it, or --overwrite to start over in it.")
    return output


def _in_use(folder: Path, holder: str) -> str:
    return (f"--output {folder} is in use by another thinc-fast run ({holder}). Two runs must not "
            "write into one folder: wait for it to finish, stop it (Ctrl-C), or choose another "
            "--output. Nothing was written.")


def _live_holder(folder: Path) -> Optional[str]:
    """Who holds the folder's lock: the lock file's text when it names a live
    process of this host, "another process" when the folder's own lock is
    held but the file says nothing (deleted), else None. Only for messages:
    :class:`RunLock` is what keeps runs apart."""
    if _folder_is_locked(folder):
        try:
            text = (folder / LOCK_FILE).read_text(encoding="utf8", errors="replace").strip()
        except OSError:
            text = ""
        return text or "another process"
    try:
        text = (folder / LOCK_FILE).read_text(encoding="utf8", errors="replace").strip()
        words = text.split()
        pid = int(words[1]) if len(words) > 3 and words[0] == "pid" else None
    except (OSError, ValueError):
        return None
    if pid is None or words[3].rstrip(",") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return text


def create_output(output: Path) -> None:
    """Create the folder (if needed) and mark it as a thinc-fast run."""
    output.mkdir(parents=True, exist_ok=True)
    (output / RUN_MARKER).write_text("thinc-fast training run\n")


# --------------------------------------------------------------------- lock
class RunLock:
    """An advisory lock (``flock``) held while a run writes into a folder: on
    the folder itself (which cannot be swapped out from under the holder, so
    deleting the lock file does not let a second run in) and on its lock
    file, which names the holder (pid, host, start time). ``release`` (or the
    end of the process) frees both."""

    def __init__(self, folder: Path, fd: int, stale: Optional[str],
                 unsupported: Optional[str] = None, dir_fd: Optional[int] = None) -> None:
        self.folder = folder
        self.fd: Optional[int] = fd
        self.dir_fd = dir_fd
        self.stale = stale  # what a holder that died without releasing left in the file
        self.unsupported = unsupported  # why the file system gave no lock (then none is held)

    @classmethod
    def acquire(cls, folder: Path) -> "RunLock":
        """Lock `folder` (which must exist); UserError if another process holds it."""
        dir_fd = _lock_folder(Path(folder))
        try:
            lock = cls._acquire_file(Path(folder))
        except BaseException:
            if dir_fd is not None:
                os.close(dir_fd)
            raise
        lock.dir_fd = dir_fd
        return lock

    @classmethod
    def _acquire_file(cls, folder: Path) -> "RunLock":
        path = Path(folder) / LOCK_FILE
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_fd(fd).strip() or "another process"
                os.close(fd)
                raise UserError(_in_use(Path(folder), holder)) from None
            except OSError as err:  # a file system without locks (ENOLCK, EOPNOTSUPP)
                return cls(Path(folder), fd, None, unsupported=str(err))
            try:
                same_file = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same_file = False
            if same_file:
                break
            os.close(fd)  # the file was replaced while we waited: lock the new one
        stale = _read_fd(fd).strip() or None
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode(), 0)
        return cls(Path(folder), fd, stale)

    def release(self) -> None:
        """Empty the lock file (a clean exit) and free the locks."""
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        finally:
            os.close(self.fd)
            self.fd = None
            if self.dir_fd is not None:
                os.close(self.dir_fd)
                self.dir_fd = None


def _folder_is_locked(folder: Path) -> bool:
    """Whether another process holds `folder`'s flock (tested, then let go)."""
    try:
        fd = _lock_folder(folder)
    except UserError:
        return True
    if fd is not None:
        os.close(fd)  # closing the fd drops the lock it took
    return False


def _lock_folder(folder: Path) -> Optional[int]:
    """An fd of `folder` holding its flock; UserError naming the holder when
    another process has it; None where folders cannot be locked (the lock
    file's own lock still applies)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        try:
            holder = (folder / LOCK_FILE).read_text(encoding="utf8", errors="replace").strip()
        except OSError:
            holder = ""
        raise UserError(_in_use(folder, holder or "another process")) from None
    except OSError:
        os.close(fd)
        return None
    return fd


def _read_fd(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf8", "replace")
    except OSError:
        return ""


# ------------------------------------------------------------ the owner
class RunFolder:
    """The output folder of one run, from its first check to the release of
    its lock: the one caller of :func:`prepare_output`, :class:`RunLock`,
    :func:`recover_output` and the folder's writes.

    Every run goes through the same steps, in this order:

    1. **check** (:meth:`open`): the folder is new, empty, or a run of ours
       to resume or overwrite; nothing is written, so a run refused later
       (a bad config, bad data) leaves no folder behind;
    2. **lock**: at once when the folder already holds a run (before its
       config or checkpoint is read); a new or empty folder only when the run
       has passed its checks and is about to write (:meth:`claim`);
    3. **recover** (``--resume``): repair what a kill during a save left;
    4. **check again**, under the lock: what is there now stays so;
    5. **prepare** (:meth:`prepare`): a new run's marker, ``config.cfg`` and
       empty ``metrics.jsonl`` (an overwritten run's models removed first);
       a resumed run's metrics rows after its checkpoint dropped; the data
       record (:mod:`~thinc_fast.training.provenance`);

    then :meth:`save` and :meth:`append_metrics` while training, and
    :meth:`release`. With no output (`path` None) each step does nothing.
    """

    def __init__(self, path: Optional[Path], *, resume: bool, overwrite: bool,
                 log: Callable[[str], None] = print) -> None:
        self.path = path
        self.resume = resume
        self.overwrite = overwrite
        self.log = log
        self.lock: Optional[RunLock] = None

    @classmethod
    def open(cls, output: Optional[Path], *, resume: bool, overwrite: bool,
             log: Callable[[str], None] = print) -> "RunFolder":
        """Check `output` (steps 1-4 for a folder that holds a run, step 1 else);
        UserError when it cannot take this run. The caller releases it."""
        folder = cls(prepare_output(output, resume, overwrite), resume=resume,
                     overwrite=overwrite, log=log)
        if folder.path is not None and (folder.path / RUN_MARKER).exists():
            folder._take()
        return folder

    def claim(self) -> None:
        """Steps 2-4 for a new or empty folder, just before the run writes:
        create it, lock it and check it again (another run may have started in
        it since :meth:`open`). Nothing to do for a folder already locked."""
        if self.path is None or self.lock is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._take()

    def _take(self) -> None:
        """Lock, recover (on resume), check again; the lock is let go on failure."""
        assert self.path is not None
        self.lock = RunLock.acquire(self.path)
        try:
            if self.lock.unsupported:
                self.log(f"Note: {self.path} cannot be locked ({self.lock.unsupported}): make "
                         "sure no other run writes into it.")
            if self.lock.stale:
                self.log(f"Note: the lock on {self.path} was left by a run that ended without "
                         f"releasing it ({self.lock.stale}); taking it over.")
            if self.resume:
                recover_output(self.path, self.log)
            prepare_output(self.path, self.resume, self.overwrite)  # a model-last to go on from
        except BaseException:
            self.release()
            raise

    @property
    def config_file(self) -> Path:
        """The run's ``config.cfg`` (only with an output)."""
        assert self.path is not None
        return self.path / "config.cfg"

    def data_record(self) -> Optional[Dict[str, Any]]:
        """What ``data.json`` says the run trained on (None: no output, or no record)."""
        return None if self.path is None else read_data_record(self.path)

    def prepare(self, config: Config, fingerprint: str, sources: Dict[str, str], *,
                step: int, rewrite_config: bool, other_data: bool) -> None:
        """Step 5, after :meth:`claim`. A new run (or ``--overwrite``): clear the
        earlier run's models, mark the folder, write `config` and an empty
        ``metrics.jsonl``. A resumed run (at `step`): drop the metrics rows
        after its checkpoint, and write `config` again when `rewrite_config`
        (``--set`` changed it). The data record (`fingerprint`, `sources`) is
        written for a new run, for a resumed one that has none yet, and when
        `other_data` (``--allow-other-data``) lets the run go on with new data."""
        if self.path is None:
            return
        if not self.resume:
            clear_models(self.path)  # --overwrite: nothing of the earlier run is mixed in
            create_output(self.path)
            self.config_file.write_text(config.to_str(), encoding="utf8")
            (self.path / "metrics.jsonl").write_text("")
        if not self.resume or other_data or self.data_record() is None:
            write_data_record(self.path, fingerprint, sources)  # what the run trains on from here
        if self.resume:
            truncate_metrics(self.path / "metrics.jsonl", step)
            if rewrite_config:
                atomic_write(self.config_file, config.to_str().encode("utf8"))

    def save(self, names: List[str], config: Config, model: Model, optimizer: Optimizer,
             extra: Dict[str, Any], meta: Dict[str, Any]) -> None:
        """Write the model folders `names` (e.g. ``["model-best", "model-last"]``)."""
        if self.path is None:
            return
        for name in names:
            write_model_dir(self.path / name, config, model, optimizer, extra, meta)

    def append_metrics(self, row: Dict[str, Any]) -> None:
        """Add one evaluation's row to ``metrics.jsonl``."""
        if self.path is not None:
            append_metrics(self.path / "metrics.jsonl", row)

    def release(self) -> None:
        """Free the folder's lock (if held); safe to call more than once."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


# ------------------------------------------------------------- model folders
def write_model_dir(target: Path, config: Config, model: Model, optimizer: Optimizer,
                    extra: Dict[str, Any], meta: Dict[str, Any]) -> None:
    """Build the folder beside `target` (``meta.json`` written last: a folder
    with it is complete), then swap it in with renames; on any failure the
    previous folder is put back. A kill between the renames is repaired by
    :func:`recover_output`."""
    parent = target.parent
    tmp = make_temp_dir(parent, f".{target.name}.new-")
    old: Optional[Path] = None
    try:
        atomic_write(tmp / "config.cfg", config.to_str().encode("utf8"))
        save_checkpoint(tmp / "checkpoint.bin", model, optimizer, extra=extra)
        with model.use_params(optimizer.averages):
            model.to_disk(tmp / "model.bin", format="thinc_fast")
        atomic_write(tmp / "meta.json", json.dumps(meta, indent=2).encode("utf8"))
        if target.exists():
            old = make_temp_dir(parent, f".{target.name}.old-")
            os.replace(target, old / target.name)
        os.replace(tmp, target)
    except BaseException:
        if old is not None and not target.exists() and (old / target.name).exists():
            os.replace(old / target.name, target)
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _leftovers(folder: Path) -> List[Path]:
    """What interrupted saves left in `folder`: hidden model folders and temporary files."""
    out = []
    for path in folder.iterdir() if folder.is_dir() else []:
        name = path.name
        if any(name.startswith(f".{d}.new-") or name.startswith(f".{d}.old-") for d in MODEL_DIRS) \
                or (name.startswith(".") and name.endswith(".tmp") and path.is_file()):
            out.append(path)
    return sorted(out)


def recover_output(folder: Path, log: Callable[[str], None] = print) -> List[str]:
    """Repair what a kill during a save left (call it holding the lock).

    A model folder missing after a kill between the two renames of its swap is
    put back: the complete new folder if there is one (it was about to be
    moved in), else the old one. Then every leftover temporary folder and
    file is removed. Returns what was done, one line each (also logged)."""
    done = []
    leftovers = _leftovers(folder)
    for name in MODEL_DIRS:
        target = folder / name
        if target.exists():
            continue
        new = [p for p in leftovers if p.name.startswith(f".{name}.new-") and p.is_dir()
               and (p / "meta.json").is_file()]
        old = [p / name for p in leftovers if p.name.startswith(f".{name}.old-")
               and (p / name / "meta.json").is_file()]
        source = max(new, key=lambda p: p.stat().st_mtime) if new else (old[0] if old else None)
        if source is not None:
            os.replace(source, target)
            done.append(f"Recovered {target} from {source.relative_to(folder)} (a save was "
                        "interrupted between its two renames).")
    for path in _leftovers(folder):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    removed = len(leftovers) - len(done)
    last, best = folder / "model-last", folder / "model-best"
    if not last.exists() and (best / "meta.json").is_file():
        # model-best is saved first: a save that failed after it (a full disk) leaves
        # a complete model-best and no model-last. Go on from model-best's step.
        tmp = make_temp_dir(folder, ".model-last.new-")
        shutil.copytree(best, tmp / "copy")
        os.replace(tmp / "copy", last)
        shutil.rmtree(tmp, ignore_errors=True)
        step = json.loads((best / "meta.json").read_text(encoding="utf8")).get("step")
        done.append(f"model-last was missing (its save did not complete: a full disk?); "
                    f"model-best is complete, so the run goes on from it (step {step}).")
    if removed > 0:
        done.append(f"Removed {removed} temporary file(s) or folder(s) left in {folder} by "
                    "interrupted saves.")
    for line in done:
        log(line)
    return done


def clear_models(folder: Path) -> None:
    """Remove the model folders and leftovers of an earlier run (``--overwrite``)."""
    for path in [folder / name for name in MODEL_DIRS] + _leftovers(folder):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def find_model_dir(path: Path) -> Path:
    """`path` itself if it is a model folder, else its model-best (or model-last)."""
    path = Path(path)
    if (path / "model.bin").is_file():
        return path
    for name in ("model-best", "model-last"):
        if (path / name / "model.bin").is_file():
            return path / name
    raise UserError(f"{path} is not a thinc-fast model folder (no model.bin, model-best or model-last)")


def load_model(path: Any) -> Model:
    """The model a ``thinc-fast train`` run saved, rebuilt from its folder: the
    ``[model]`` block of its ``config.cfg``, then the weights of ``model.bin``.

    `path`: a model folder (``run/model-best``, ``run/model-last``) or a run
    folder (its model-best, else its model-last). The data the run trained on is
    not loaded. ``model.predict(X)`` then gives the class probabilities.
    """
    folder = find_model_dir(Path(path))
    config = load_config(folder / "config.cfg", {})
    if "model" not in config:
        raise UserError(f"{folder / 'config.cfg'}: missing section [model]")
    try:
        model = registry.resolve({"model": config.interpolate()["model"]})["model"]
    except (ConfigValidationError, ValueError, TypeError) as err:
        raise UserError(f"{folder / 'config.cfg'}: cannot build its [model]: {err}") from None
    if not isinstance(model, Model):
        raise UserError(f"{folder / 'config.cfg'}: [model] does not build a model")
    model.from_disk(folder / "model.bin")
    return model


# ----------------------------------------------------------------- metrics
def append_metrics(path: Path, row: Dict[str, Any]) -> None:
    """Add one evaluation's row to ``metrics.jsonl`` (strict JSON: a value that
    is not a finite number is written as null)."""
    clean = {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
             for key, value in row.items()}
    with open(path, "a", encoding="utf8") as f:
        f.write(json.dumps(clean, allow_nan=False) + "\n")


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the rows after `step` (written after the checkpoint a resume starts
    from). A last line cut short by a kill or a full disk is dropped too; a
    malformed line before it is an error naming the file and the line."""
    if not path.exists():
        return
    lines = [line for line in path.read_text(encoding="utf8", errors="replace").splitlines()
             if line.strip()]
    keep = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            row_step = row["step"]
        except (ValueError, TypeError, KeyError):
            if number == len(lines):
                break  # torn by an interrupted append: the checkpoint has no such row
            raise UserError(f"{path}, line {number}: not a metrics row ({line[:60]!r}); "
                            "remove or fix that line, then resume again") from None
        if row_step <= step:
            keep.append(line)
    atomic_write(path, "".join(line + "\n" for line in keep).encode("utf8"))
