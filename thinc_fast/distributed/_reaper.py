"""A watcher that ends a local Ray cluster's processes when its driver dies.

``ray.init`` of a local cluster starts the GCS, the raylet and their agents as
processes of their own. When the driver exits normally, ``ray.shutdown`` (or
Ray's exit hook) stops them; when it is killed (``kill -9``, the OOM killer),
some of them outlive it (the dashboard and runtime-env agents, about 170 MB,
for minutes). :func:`watch_cluster` starts a small detached process that
waits for the driver to end, gives Ray a moment to stop on its own, then
terminates every process whose command line, or one of whose open files,
names the cluster's session folder (``/tmp/ray/session_...``; Ray's agents
retitle themselves, but keep their logs there open), and kills those still
there 3 s later.

The watcher holds a pidfd of the driver where Linux offers one (so a reused
process id cannot fool it), else polls the id. It never touches a process
that does not name this session's folder (processes of other users it cannot
read are skipped).
"""
from __future__ import annotations

import os
import subprocess
import sys

# The watcher's program: argv = [driver pid, session folder]. Standard library only.
_WATCHER = r'''
import os, select, signal, sys, time

driver, session = int(sys.argv[1]), sys.argv[2]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


try:
    fd = os.pidfd_open(driver)
except (AttributeError, OSError):
    fd = None
if fd is not None:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while not poller.poll(60000):
        pass
else:
    while alive(driver):
        time.sleep(0.5)
time.sleep(1.0)  # a normal exit: Ray stops its processes itself


def names_session(pid):
    # its command line, or (Ray's agents retitle themselves) one of its open files
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if session.encode() in handle.read():
                return True
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(session):
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False


def of_session():
    return [int(name) for name in os.listdir("/proc")
            if name.isdigit() and int(name) != os.getpid() and names_session(name)]


for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
    pids = of_session()
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    deadline = time.monotonic() + wait
    while pids and time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
'''


def session_dir(ray: object) -> str:
    """The running local cluster's session folder, or "" when Ray does not say."""
    try:
        node = ray._private.worker._global_node  # type: ignore[attr-defined]
        return str(node.get_session_dir_path())
    except Exception:  # pragma: no cover - a Ray without that attribute
        return ""


def watch_cluster(ray: object) -> "subprocess.Popen[bytes] | None":
    """Start the watcher for the local cluster this process just started
    (a no-op, returning None, off Linux or when the session is unknown)."""
    session = session_dir(ray)
    if not session or not sys.platform.startswith("linux") or "/session_" not in session:
        return None
    return subprocess.Popen([sys.executable, "-c", _WATCHER, str(os.getpid()), session],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
