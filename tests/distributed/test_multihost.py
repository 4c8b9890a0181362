"""Two hosts on one machine: network namespaces made by the test, a Ray head in
one, a worker node in the other, ``thinc-fast train --address`` across them.

Each namespace gets its own network stack: a veth pair joins them, with
addresses private to the namespaces (10.77.0.1 and 10.77.0.2; nothing else is
reachable from them), shaped to 10 Gbit/s with ``tc`` where the kernel allows.
Needs root and iproute2 (CI runs it as root); skipped, with the reason, where
namespaces cannot be made. Every process the test starts runs inside its
namespaces and is ended by pid; the namespaces are deleted afterwards.

The 2-worker runs use the overlapped gradient exchange (the default), so the
bit-identical resume on one worker below also checks it across hosts. For
measurements with 2, 4, ... hosts, each held to its share of the CPUs, see
``benchmarks/multihost.py``.
"""
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy
import pytest
from netns import end_namespaces, namespaces_unavailable, sh  # tools/netns.py

pytest.importorskip("ray")

pytestmark = pytest.mark.ray

HEAD, NODE = "10.77.0.1", "10.77.0.2"
PORT = 6379
BIN = Path(sys.executable).parent


class TwoHosts:
    """Namespaces a (head) and b (worker node) joined by a veth pair."""

    def __init__(self):
        tag = f"{os.getpid() % 100000}"
        self.a, self.b = f"tnmha{tag}", f"tnmhb{tag}"
        self.procs = []
        self.shaped = False
        self.tmp = tempfile.mkdtemp(prefix="tnmh")  # short: Ray's socket paths must fit
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
                        RAY_AUTH_TOKEN=secrets.token_hex(32))
        for key in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_worker_niceness"):
            self.env.pop(key, None)  # the hosts' own addresses, Ray's defaults

    def up(self):
        va, vb = f"{self.a}v", f"{self.b}v"
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", self.a)
        sh("ip", "link", "set", vb, "netns", self.b)
        for ns, dev, address in ((self.a, va, HEAD), (self.b, vb, NODE)):
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", dev, "up")
            shaped = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev,
                                     "root", "tbf", "rate", "10gbit", "burst", "4mb",
                                     "latency", "10ms"], capture_output=True)
            self.shaped = shaped.returncode == 0
        return self

    def start(self, ns, *args, log):
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *args], env=self.env, cwd=self.tmp,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, ns, *args, timeout, cwd=None):
        return subprocess.run(["ip", "netns", "exec", ns, *args], env=self.env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)

    def down(self):
        end_namespaces((self.a, self.b), self.procs)
        shutil.rmtree(self.tmp, ignore_errors=True)


WAIT_FOR_TWO_CPUS = f"""
import time, ray
ray.init(address="{HEAD}:{PORT}", log_to_driver=False)
deadline = time.monotonic() + 60
while ray.cluster_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
    time.sleep(0.5)
print("nodes:", sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]))
"""


@pytest.fixture(scope="module")
def hosts():
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(reason)
    cluster = TwoHosts()
    try:
        cluster.up()
        ray = str(BIN / "ray")
        common = ["--num-cpus=1", "--disable-usage-stats", f"--temp-dir={cluster.tmp}"]
        cluster.start(cluster.a, ray, "start", "--head", "--block", f"--node-ip-address={HEAD}",
                      f"--port={PORT}", "--include-dashboard=false", *common,
                      log=Path(cluster.tmp) / "head.log")
        deadline = time.monotonic() + 90
        up = None
        while time.monotonic() < deadline:
            up = cluster.run(cluster.a, sys.executable, "-c",
                             f"import socket; socket.create_connection(('{HEAD}', {PORT}), 1)",
                             timeout=10)
            if up.returncode == 0:
                break
            time.sleep(1)
        assert up is not None and up.returncode == 0, (Path(cluster.tmp) / "head.log").read_text()
        cluster.start(cluster.b, ray, "start", "--block", f"--address={HEAD}:{PORT}",
                      f"--node-ip-address={NODE}", *common, log=Path(cluster.tmp) / "node.log")
        ready = cluster.run(cluster.a, sys.executable, "-c", WAIT_FOR_TWO_CPUS, timeout=120)
        assert f"'{NODE}'" in ready.stdout, ready.stdout + ready.stderr[-2000:] + \
            (Path(cluster.tmp) / "node.log").read_text()[-2000:]
        yield cluster
    finally:
        cluster.down()


def test_train_across_two_hosts(hosts, tmp_path):
    from thinc_fast.datasets import digits
    from thinc_fast.training import DEFAULT_CONFIG

    train_X, train_Y, dev_X, dev_Y = digits()
    numpy.savez(tmp_path / "data.npz", X=train_X, Y=train_Y.argmax(1), X_dev=dev_X,
                Y_dev=dev_Y.argmax(1))
    config = DEFAULT_CONFIG.replace('@datasets = "digits.v1"\ndev_fraction = 0.2\nseed = 0',
                                    '@datasets = "npz.v1"\npath = "data.npz"')
    (tmp_path / "train.cfg").write_text(config)
    def train(out, workers, *args):
        result = hosts.run(hosts.a, str(BIN / "thinc-fast"), "train", "train.cfg", "-q",
                           "-o", out, "--workers", str(workers), "--address", f"{HEAD}:{PORT}",
                           *args, timeout=240, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        return result.stdout

    whole = train("whole", 2, "--set", "training.max_epochs=2")
    assert "Training on 2 Ray workers" in whole
    assert f"workers on nodes: {HEAD}, {NODE}" in whole, whole
    exchange = "gloo" if importlib.util.find_spec("torch") else "object_store"
    assert f"gradients: {exchange}" in whole, whole
    # the same run stopped after one epoch and finished on one worker (the
    # run's 2 shards then both computed on one host) ends bit-identical
    train("halves", 2, "--set", "training.max_epochs=1")
    train("halves", 1, "--resume", "--set", "training.max_epochs=2")
    for name in ("model-last", "model-best"):
        assert (tmp_path / "whole" / name / "model.bin").read_bytes() == \
            (tmp_path / "halves" / name / "model.bin").read_bytes()
