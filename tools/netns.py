"""Network namespaces as "hosts" on one machine: the pieces that
tests/distributed/test_multihost.py and benchmarks/multihost.py share (root and
iproute2's ``ip`` needed)."""
import os
import shutil
import signal
import subprocess
import time
from typing import List, Optional, Sequence


def sh(*args: str, check: bool = True, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capturing its text output; raise on failure when `check`."""
    return subprocess.run(list(args), capture_output=True, text=True, check=check,
                          timeout=timeout, **kwargs)


def namespaces_unavailable() -> Optional[str]:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "iproute2's ip is not installed (apt-get install -y iproute2)"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    probe = f"tnprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"network namespaces are not permitted here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def pids_in(names: Sequence[str]) -> List[int]:
    """The processes running in the namespaces `names`."""
    found: List[int] = []
    for ns in names:
        out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        found += [int(p) for p in out.stdout.split()]
    return found


def end_namespaces(names: Sequence[str], procs: Sequence[subprocess.Popen],
                   term_wait: float = 4.0) -> None:
    """End everything running in `names` (SIGTERM, then SIGKILL), reap `procs`
    (the launchers), and delete the namespaces. Everything inside them was
    started by the caller, so it is ended by pid."""
    for sig, wait in ((signal.SIGTERM, term_wait), (signal.SIGKILL, 5.0)):
        for pid in pids_in(names):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while pids_in(names) and time.monotonic() < deadline:
            time.sleep(0.2)
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    for ns in names:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
