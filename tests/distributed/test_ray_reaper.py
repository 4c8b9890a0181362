"""A killed driver leaves no process of its local Ray cluster behind.

`kill -9` of a `--workers 2` run's driver used to leave Ray's DashboardAgent
and RuntimeEnvAgent (about 170 MB) running for minutes: they retitle
themselves, outlive the raylet and are reparented to init. The watcher of
thinc_fast.distributed._reaper ends them."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

DRIVER = textwrap.dedent('''
    import os, sys, time
    import ray
    from thinc_fast.distributed.ray import start_local_cluster
    from thinc_fast.distributed._reaper import session_dir

    start_local_cluster(ray, num_cpus=1)

    @ray.remote(num_cpus=1)
    class Worker:
        def pid(self):
            return os.getpid()

    worker = Worker.remote()
    ray.get(worker.pid.remote())
    print(session_dir(ray), flush=True)
    time.sleep(600)
''')


def _of_session(session: str):
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue  # a zombie holds nothing
            if session.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                found.append(int(name))
                continue
            for fd in os.listdir(f"/proc/{name}/fd"):
                try:
                    if os.readlink(f"/proc/{name}/fd/{fd}").startswith(session):
                        found.append(int(name))
                        break
                except OSError:
                    pass
        except (OSError, IndexError):
            pass
    return found


def test_a_killed_driver_leaves_no_ray_process(tmp_path):
    import thinc_fast

    root = str(Path(thinc_fast.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=str(tmp_path), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        session = driver.stdout.readline().strip()
        assert "/session_" in session, "the driver started a cluster"
        assert len(_of_session(session)) >= 3, "the GCS, the raylet, agents and the worker"
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    deadline = time.monotonic() + 60  # generous: a loaded 2-core machine
    left = _of_session(session)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _of_session(session)
    for pid in left:  # do not leave them to the next test, whatever the outcome
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    assert left == [], f"left running: {left}"
