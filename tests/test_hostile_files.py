"""Small hostile files must not demand memory.

Each file here is at most a few MB but declares far more: an array, a JSON
header or a checkpoint member that inflates to hundreds of MiB (zeros deflate
about 1000:1), msgpack or JSON whose tiny containers (one byte each) cost ~70
bytes of Python objects apiece, archive members or array names by the
hundred thousand. Loading must refuse them (FormatError, naming the member
and both sizes) while costing memory in proportion to what the model expects,
plus a small multiple of the file's size.

Each case is loaded in a fresh interpreter under tracemalloc (which sees
NumPy's buffers, zlib's output, msgpack's and json's objects), so that a
regression cannot take the test process with it; the bounds are generous
(the model is ~6 KB, the files <= 12 MB, the bound 64 MiB; before the
bounds, these cases peaked at 85 MiB to 770 MiB).

The builders are also what ``measure()`` (run this file as a script) uses to
print the peak RSS of the same cases at full size (1 GiB declarations).
"""
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import msgpack
import numpy
import pytest

CHUNK = 1 << 20
DECLARED = 256 << 20  # what the tests' files declare (the issue's files: 1 GiB)
BOUND = 64 << 20  # peak traced memory allowed for a ~6 KB model


# ------------------------------------------------------------------ builders
def make_model():
    from thinc_fast.api import Relu, Softmax, chain

    X = numpy.zeros((4, 20), dtype="f")
    Y = numpy.eye(2, dtype="f")[[0, 1, 0, 1]]
    return chain(Relu(64), Softmax()).initialize(X=X, Y=Y)  # walk: chain, relu, softmax


def make_trained():
    from thinc_fast.api import Adam

    model, optimizer = make_model(), Adam(0.01)
    X = numpy.ones((4, 20), dtype="f")
    _, backprop = model.begin_update(X)
    backprop(model.predict(X))
    model.finish_update(optimizer)
    return model, optimizer


class Filled:
    """A member's content without holding it: `prefix`, then `size` bytes of `fill`
    (deflated as identical independent blocks, so building it is cheap)."""

    def __init__(self, prefix, size, fill=b"\0"):
        assert size % CHUNK == 0
        self.prefix, self.size, self.fill = prefix, size, fill

    def __len__(self):
        return len(self.prefix) + self.size

    def chunks(self):
        yield self.prefix
        block = self.fill * CHUNK
        for _ in range(self.size // CHUNK):
            yield block

    def deflated(self):
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        head = z.compress(self.prefix) + z.flush(zlib.Z_FULL_FLUSH)
        block = z.compress(self.fill * CHUNK) + z.flush(zlib.Z_FULL_FLUSH)
        return head + block * (self.size // CHUNK) + z.flush()

    def crc(self):
        crc = 0
        for chunk in self.chunks():
            crc = zlib.crc32(chunk, crc)
        return crc


def npy_header(dtype, shape):
    out = io.BytesIO()
    numpy.lib.format.write_array_header_1_0(
        out, {"descr": numpy.dtype(dtype).str, "fortran_order": False, "shape": tuple(shape)})
    return out.getvalue()


def npy(array):
    out = io.BytesIO()
    numpy.lib.format.write_array(out, numpy.ascontiguousarray(array), allow_pickle=False)
    return out.getvalue()


def write_zip(members, comment=b""):
    """A zip archive of `members` ({name.npy: bytes or Filled}, in order): bytes
    stored, Filled deflated. Written by hand, so that a member's declared size
    costs nothing to build."""
    out, central = io.BytesIO(), []
    for name, content in members.items():
        raw = name.encode()
        if isinstance(content, Filled):
            method, payload, crc = 8, content.deflated(), content.crc()
        else:
            method, payload, crc = 0, bytes(content), zlib.crc32(content)
        offset = out.tell()
        fields = struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 33, crc, len(payload),
                             len(content), len(raw), 0)
        out.write(b"PK\x03\x04" + fields + raw + payload)
        central.append(b"PK\x01\x02" + struct.pack("<H", 20) + fields
                       + struct.pack("<HHHII", 0, 0, 0, 0o644 << 16, offset) + raw)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(central),
                                                       len(central), len(directory), start,
                                                       len(comment)) + comment)
    return out.getvalue()


def members_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}, zf.comment


def header_of(members):
    return json.loads(numpy.load(io.BytesIO(members["__header__.npy"])).tobytes())


def seal(members):
    """The checksum comment ``pack`` would write for `members` (hashed streaming,
    as an attacker would: the checksum is not a secret)."""
    sha = hashlib.sha256()
    for name in sorted(members):
        key = name[:-4].encode()
        content = members[name]
        sha.update(struct.pack("<Q", len(key)) + key + struct.pack("<Q", len(content)))
        for chunk in (content.chunks() if isinstance(content, Filled) else [content]):
            sha.update(chunk)
    return b"thinc_fast sha256:" + sha.hexdigest().encode()


def rewrite(data, changes, header_change=None, checksum=False):
    """The npz archive `data` with members replaced by `changes` and its JSON header
    changed by `header_change` (manifest included); the old checksum is kept unless
    `checksum` (then a valid one is computed: nothing but the sizes is wrong)."""
    members, comment = members_of(data)
    members.update(changes)
    if header_change is not None:
        header = header_of(members)
        header_change(header)
        members["__header__.npy"] = npy(numpy.frombuffer(json.dumps(header).encode(), "u1"))
    return write_zip(members, seal(members) if checksum else comment)


def model_file_big_param(declared=DECLARED, checksum=False):
    """model.bin whose ``1:W`` (64 x 20 floats in the model) declares `declared` bytes,
    its .npy header and the manifest agreeing."""
    shape = [64, declared // (64 * 4)]

    def manifest(header):
        header["manifest"]["1:W"] = ["<f4", shape]
    return rewrite(make_model().to_bytes(format="thinc_fast"),
                   {"1:W.npy": Filled(npy_header("<f4", shape), declared)}, manifest, checksum)


def model_file_big_header(declared=DECLARED, checksum=False):
    """model.bin whose JSON header is padded with `declared` bytes of spaces (valid JSON)."""
    members, _ = members_of(make_model().to_bytes(format="thinc_fast"))
    text = json.dumps(header_of(members)).encode()
    pad = declared - CHUNK  # the whole member just under `declared`
    body = Filled(npy_header("|u1", [len(text) + pad]) + text, pad, b" ")
    return rewrite(make_model().to_bytes(format="thinc_fast"), {"__header__.npy": body},
                   checksum=checksum)


def checkpoint_bytes():
    """A valid checkpoint of the trained model and its Adam state."""
    import tempfile

    from thinc_fast.checkpoint import save_checkpoint

    model, optimizer = make_trained()
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(Path(tmp) / "checkpoint.bin", model, optimizer, extra={"progress": {}})
        return (Path(tmp) / "checkpoint.bin").read_bytes()


def checkpoint_file_big_member(member, declared=DECLARED, checksum=False):
    """checkpoint.bin whose `member` (``optimizer`` or ``model``, uint8 bytes)
    declares `declared` bytes."""
    data = checkpoint_bytes()

    def manifest(header):
        header["manifest"][member] = ["|u1", [declared]]
    return rewrite(data, {f"{member}.npy": Filled(npy_header("|u1", [declared]), declared)},
                   manifest, checksum)


def checkpoint_file_big_header(declared=DECLARED, checksum=False):
    data = checkpoint_bytes()
    members, _ = members_of(data)
    text = json.dumps(header_of(members)).encode()
    pad = declared - CHUNK  # the whole member just under `declared`
    body = Filled(npy_header("|u1", [len(text) + pad]) + text, pad, b" ")
    return rewrite(data, {"__header__.npy": body}, checksum=checksum)


def optimizer_bytes_big_state(declared=DECLARED, checksum=False):
    """Optimizer state (``Optimizer.to_bytes(model)``) whose ``mom1`` declares
    `declared` bytes (the model's arena holds ~1,500 floats)."""
    model, optimizer = make_trained()
    n = declared // 4

    def manifest(header):
        header["manifest"]["mom1"] = ["<f4", [n]]
    return rewrite(optimizer.to_bytes(model), {"mom1.npy": Filled(npy_header("<f4", [n]),
                                                                  declared)},
                   manifest, checksum)


def checkpoint_file_nested_optimizer_bomb(declared=DECLARED, checksum=False):
    """checkpoint.bin holding (stored, ~1 MB) optimizer bytes whose ``mom1`` declares
    `declared` bytes."""
    inner = optimizer_bytes_big_state(declared, checksum)
    data = checkpoint_bytes()

    def manifest(header):
        header["manifest"]["optimizer"] = ["|u1", [len(inner)]]
    return rewrite(data, {"optimizer.npy": npy(numpy.frombuffer(inner, "u1"))}, manifest,
                   checksum)


def checkpoint_file_json_containers(n_bytes=5 << 20):
    """checkpoint.bin whose (stored) JSON header holds `n_bytes` of ``[{},{},...]``."""
    data = checkpoint_bytes()

    def pad(header):
        header["extra"]["pad"] = [{}] * (n_bytes // 4)  # json.dumps: "{}, " each
    return rewrite(data, {}, pad, checksum=True)


def _msgpack_map(items):
    out = msgpack.Packer(use_bin_type=True).pack_map_header(len(items))
    for key, raw in items:
        out += msgpack.packb(key) + raw
    return out


def msgpack_empty_maps(n_bytes=5 << 20):
    """Thinc-layout msgpack whose ``nodes`` is a list of `n_bytes` empty maps."""
    nodes = b"\xdd" + struct.pack(">I", n_bytes) + b"\x80" * n_bytes
    return _msgpack_map([("nodes", nodes), ("attrs", b"\x90"), ("params", b"\x90")])


def msgpack_nested_maps(n_bytes=5 << 20):
    """Thinc-layout msgpack whose ``nodes`` is a list of ``{"": {"": {}}}`` maps."""
    n = n_bytes // 5
    nodes = b"\xdd" + struct.pack(">I", n) + b"\x81\xa0\x81\xa0\x80" * n
    return _msgpack_map([("nodes", nodes), ("attrs", b"\x90"), ("params", b"\x90")])


def msgpack_deep_declared(n_bytes=1 << 20):
    """1,000 nested arrays, each declaring as many elements as the data has bytes
    (msgpack allocates each list at its declared length before filling it)."""
    depth = 1000
    head = (b"\xdd" + struct.pack(">I", n_bytes)) * depth
    return _msgpack_map([("nodes", head + b"\x00" * (n_bytes - len(head))),
                         ("attrs", b"\x90"), ("params", b"\x90")])


def msgpack_dims_bomb(n_bytes=5 << 20):
    """The model's own Thinc bytes (3 nodes, as the model), but the Relu's dim
    ``nO`` is a list of `n_bytes` empty maps."""
    msg = msgpack.unpackb(make_model().to_bytes(format="thinc"))
    msg["nodes"][1]["dims"]["nO"] = msgpack.ExtType(5, b"MARK")
    data = msgpack.packb(msg, use_bin_type=True)
    bomb = b"\xdd" + struct.pack(">I", n_bytes) + b"\x80" * n_bytes
    assert data.count(b"\xd6\x05MARK") == 1
    return data.replace(b"\xd6\x05MARK", bomb)


def msgpack_attrs_first(n_bytes=5 << 20):
    """Thinc-layout msgpack whose first entry is ``attrs``: `n_bytes` empty maps."""
    attrs = b"\xdd" + struct.pack(">I", n_bytes) + b"\x80" * n_bytes
    return _msgpack_map([("attrs", attrs), ("nodes", b"\x93\x80\x80\x80"),
                         ("params", b"\x90")])


def model_file_many_shims(n_nodes=20):
    """A 700-byte model.bin whose header describes `n_nodes` nodes of 65,535 shims
    each (names a reader would ask for before reading any array)."""
    header = {"format": "thinc_fast.model", "version": 2, "nodes": [{"shims": 65535}] * n_nodes}
    return write_zip({"__header__.npy": npy(numpy.frombuffer(json.dumps(header).encode(), "u1"))})


def model_file_many_members(count=120_000):
    """model.bin (~10 MB) with `count` more members, each empty."""
    data = make_model().to_bytes(format="thinc_fast")
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        for i in range(count):
            zout.writestr(f"x{i}.npy", b"")
        zout.comment = zin.comment
    return buf.getvalue()


def msgpack_attr_bomb(n_bytes=5 << 20, stamped=False):
    """The model's own Thinc bytes, with the Softmax's ``softmax_temperature``
    attr holding msgpack of `n_bytes` empty maps."""
    from thinc_fast import _model_format, _thinc_format

    model = make_model()
    nodes = _model_format.thinc_nodes(model)
    nodes[2]["attrs"]["softmax_temperature"] = (b"\xdd" + struct.pack(">I", n_bytes)
                                                + b"\x80" * n_bytes)
    return _thinc_format.encode(nodes, stamp=stamped)


def model_file_attr_bomb(n_bytes=5 << 20):
    """model.bin (stored, valid checksum) whose attr blob holds msgpack of empty maps."""
    model = make_model()
    data = model.to_bytes(format="thinc_fast")
    members, _ = members_of(data)
    header = header_of(members)
    k = header["nodes"][2]["attrs"].index("softmax_temperature")
    blob = b"\xdd" + struct.pack(">I", n_bytes) + b"\x80" * n_bytes

    def manifest(h):
        h["manifest"][f"attr:2:{k}"] = ["|u1", [len(blob)]]
    return rewrite(data, {f"attr:2:{k}.npy": npy(numpy.frombuffer(blob, "u1"))}, manifest,
                   checksum=True)


# How each case is loaded, in the child process (`path`: the file; `model`,
# `optimizer`: fresh, built as the file's were).
LOADERS = {
    "model": "model.from_disk(path)",
    "checkpoint": "load_checkpoint(path, model, optimizer)",
    "optimizer": "optimizer.from_bytes(path.read_bytes(), model)",
}

CASES = {
    # name: (builder, loader, what the file declares)
    "model.bin, 1:W declares 256 MiB": (model_file_big_param, "model"),
    "model.bin, 256 MiB JSON header": (model_file_big_header, "model"),
    "checkpoint, optimizer member declares 256 MiB": (
        lambda **kw: checkpoint_file_big_member("optimizer", **kw), "checkpoint"),
    "checkpoint, model member declares 256 MiB": (
        lambda **kw: checkpoint_file_big_member("model", **kw), "checkpoint"),
    "checkpoint, 256 MiB JSON header": (checkpoint_file_big_header, "checkpoint"),
    "checkpoint, optimizer's mom1 declares 256 MiB": (  # valid checksums: reaches mom1
        lambda: checkpoint_file_nested_optimizer_bomb(checksum=True), "checkpoint"),
    "optimizer state, mom1 declares 256 MiB": (optimizer_bytes_big_state, "optimizer"),
    "checkpoint, 5 MB of [{},...] in its JSON header": (checkpoint_file_json_containers,
                                                        "checkpoint"),
    "msgpack, 5 MB of empty maps": (msgpack_empty_maps, "model"),
    "msgpack, 5 MB of nested maps": (msgpack_nested_maps, "model"),
    "msgpack, 1,000 nested arrays declaring 1 MB each": (msgpack_deep_declared, "model"),
    "msgpack, a dim of 5 MB of empty maps": (msgpack_dims_bomb, "model"),
    "msgpack, 'attrs' first: 5 MB of empty maps": (msgpack_attrs_first, "model"),
    "msgpack, an attr of 5 MB of empty maps": (msgpack_attr_bomb, "model"),
    "msgpack (stamped), an attr of 5 MB of empty maps": (
        lambda **kw: msgpack_attr_bomb(stamped=True, **kw), "model"),
    "model.bin, an attr blob of 5 MB of empty maps": (model_file_attr_bomb, "model"),
    "model.bin, 120,000 empty members": (model_file_many_members, "model"),
    "model.bin, a header asking for 1.3 million shims": (model_file_many_shims, "model"),
}

CHILD = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_hostile_files import make_model
    from thinc_fast.api import Adam
    from thinc_fast.checkpoint import load_checkpoint

    def peak_rss_kb():  # VmHWM: unlike ru_maxrss, not inherited from the parent across exec
        try:
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    path = Path({path!r})
    model, optimizer = make_model(), Adam(0.01)
    rss0 = peak_rss_kb()
    if {traced!r}:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        {load}
        error = None
    except Exception as err:
        error = [type(err).__name__, isinstance(err, ValueError), str(err)]
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if {traced!r} else None
    rss = peak_rss_kb()
    print(json.dumps({{"error": error, "traced_peak": peak, "rss_before_kb": rss0,
                      "rss_peak_kb": rss, "seconds": seconds}}))
""")


def load_in_child(data, loader, tmp_path, *, traced=True, pythonpath=None, timeout=120):
    path = tmp_path / "hostile.bin"
    path.write_bytes(data)
    env = dict(os.environ)
    # the thinc_fast under test: a checkout built in place, or the installed wheel
    # (whose folder may differ from this checkout's, which then has no extension)
    import thinc_fast

    here = str(Path(thinc_fast.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = pythonpath or os.pathsep.join(
        [here] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    code = CHILD.format(tests=str(Path(__file__).resolve().parent), path=str(path),
                        traced=traced, load=LOADERS[loader])
    # cwd: not the checkout, whose thinc_fast/ ("" leads sys.path for -c) has no extension
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=timeout, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", list(CASES))
def test_a_small_hostile_file_is_refused_at_a_cost_bounded_by_the_model(case, tmp_path):
    build, loader = CASES[case]
    data = build()
    assert len(data) < 12 << 20
    result = load_in_child(data, loader, tmp_path)
    assert result["error"] is not None, f"{case}: loaded"
    kind, is_value_error, message = result["error"]
    assert kind == "FormatError" and is_value_error, f"{case}: {kind}: {message}"
    assert result["traced_peak"] < BOUND, \
        f"{case}: peak {result['traced_peak'] / 2**20:.1f} MiB ({kind}: {message})"


def test_a_declared_size_is_refused_naming_the_member_and_both_sizes():
    from thinc_fast._io import FormatError

    model = make_model()
    with pytest.raises(FormatError, match=r"'1:W'.*268435456 bytes.*5120 bytes"):
        model.from_bytes(model_file_big_param())
    with pytest.raises(FormatError,
                       match=r"JSON header declares 26\d{7} bytes, where this model allows"):
        model.from_bytes(model_file_big_header())


def test_a_checkpoint_s_optimizer_member_is_checked_against_the_model(tmp_path):
    from thinc_fast.api import Adam
    from thinc_fast.checkpoint import load_checkpoint

    path = tmp_path / "checkpoint.bin"
    path.write_bytes(checkpoint_file_big_member("optimizer"))
    model = make_model()
    before = model.to_bytes()
    with pytest.raises(ValueError, match=rf"{path}.*'optimizer'.*268435456 bytes.*at most"):
        load_checkpoint(path, model, Adam(0.01))
    assert model.to_bytes() == before
    with pytest.raises(ValueError, match=r"'mom1'.*268435456 bytes.*at most"):
        Adam(0.01).from_bytes(optimizer_bytes_big_state(), make_model())


def test_msgpack_containers_are_counted_against_the_model_before_unpacking():
    from thinc_fast._io import FormatError

    with pytest.raises(FormatError, match=r"describes 5242880 nodes, this model has 3"):
        make_model().from_bytes(msgpack_empty_maps())
    with pytest.raises(FormatError, match="softmax_temperature"):
        make_model().from_bytes(msgpack_attr_bomb(stamped=True))


def test_files_within_the_bounds_still_load(tmp_path):
    """The bounds come from the model, with room for what a model legitimately
    holds: an uninitialised model takes its shapes from the file (arrays it
    cannot bound must lie in the file), a checkpoint's header keeps a long
    epoch order, an attr may grow well past the model's own value."""
    from thinc_fast._io import unpack
    from thinc_fast.api import Adam, Relu, Softmax, chain
    from thinc_fast.checkpoint import load_checkpoint, save_checkpoint

    source, optimizer = make_trained()
    source.layers[1].attrs["labels"] = [f"label{i}" for i in range(20_000)]
    X = numpy.ones((3, 20), dtype="f")
    for fmt in (None, "thinc", "thinc_fast"):
        blank = chain(Relu(64), Softmax())  # no dims, no params, no labels
        blank.layers[1].attrs["labels"] = []
        blank.from_bytes(source.to_bytes(format=fmt))
        numpy.testing.assert_array_equal(blank.predict(X), source.predict(X))
        assert len(blank.layers[1].attrs["labels"]) == 20_000
    path = tmp_path / "checkpoint.bin"
    order = list(range(300_000))  # ~2 MB of JSON in the header
    save_checkpoint(path, source, optimizer, extra={"progress": {"order": order}})
    for target in (make_model(), chain(Relu(64), Softmax())):
        target_optimizer = Adam(0.01)
        extra = load_checkpoint(path, target, target_optimizer)
        assert extra["progress"]["order"] == order
        numpy.testing.assert_array_equal(target.predict(X), source.predict(X))
        (h1, a1), (h2, a2) = (unpack(o.to_bytes(m), kind="optimizer", max_version=9)
                              for o, m in ((target_optimizer, target), (optimizer, source)))
        assert h1 == h2 and a1.keys() == a2.keys()
        assert all(numpy.array_equal(a1[k], a2[k]) for k in a1)


# ------------------------------------------------------------- measuring
def measure(pythonpaths, declared=1 << 30):
    """Print peak RSS and time of each case at `declared` bytes (the issue's sizes)
    for each thinc_fast in `pythonpaths` (e.g. before and after a change)."""
    import tempfile

    builders = {
        f"model.bin, 1:W declares {declared >> 20} MiB":
            (lambda: model_file_big_param(declared, checksum=True), "model"),
        f"model.bin, {declared >> 20} MiB JSON header":
            (lambda: model_file_big_header(declared, checksum=True), "model"),
        f"checkpoint, optimizer member declares {declared >> 20} MiB":
            (lambda: checkpoint_file_big_member("optimizer", declared, checksum=True),
             "checkpoint"),
        f"checkpoint, model member declares {declared >> 20} MiB":
            (lambda: checkpoint_file_big_member("model", declared, checksum=True), "checkpoint"),
        f"checkpoint, {declared >> 20} MiB JSON header":
            (lambda: checkpoint_file_big_header(declared, checksum=True), "checkpoint"),
        f"checkpoint, optimizer's mom1 declares {declared >> 20} MiB":
            (lambda: checkpoint_file_nested_optimizer_bomb(declared, checksum=True),
             "checkpoint"),
        f"optimizer state, mom1 declares {declared >> 20} MiB":
            (lambda: optimizer_bytes_big_state(declared, checksum=True), "optimizer"),
        "checkpoint, 5 MB of [{},...] in its JSON header":
            (checkpoint_file_json_containers, "checkpoint"),
        "msgpack, 5 MB of empty maps": (msgpack_empty_maps, "model"),
        "msgpack, 30 MB of empty maps": (lambda: msgpack_empty_maps(30 << 20), "model"),
        "msgpack, 5 MB of nested maps": (msgpack_nested_maps, "model"),
        "msgpack, 1,000 nested arrays declaring 1 MB each": (msgpack_deep_declared, "model"),
        "msgpack, an attr of 5 MB of empty maps": (msgpack_attr_bomb, "model"),
        "msgpack, a dim of 5 MB of empty maps": (msgpack_dims_bomb, "model"),
        "msgpack, 'attrs' first: 5 MB of empty maps": (msgpack_attrs_first, "model"),
        "model.bin, an attr blob of 5 MB of empty maps": (model_file_attr_bomb, "model"),
        "model.bin, 120,000 empty members": (model_file_many_members, "model"),
        "model.bin, a header asking for 3.9 million shims":
            (lambda: model_file_many_shims(60), "model"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, loader) in builders.items():
            data = build()
            cells = []
            for pythonpath in pythonpaths:
                try:
                    r = load_in_child(data, loader, Path(tmp), traced=False,
                                      pythonpath=pythonpath, timeout=600)
                    outcome = "loaded" if r["error"] is None else r["error"][0]
                    cells.append(f"{r['rss_peak_kb'] / 1024:8.0f} MB "
                                 f"(+{(r['rss_peak_kb'] - r['rss_before_kb']) / 1024:6.0f}) "
                                 f"{r['seconds']:6.2f} s {outcome:<12}")
                except (AssertionError, subprocess.TimeoutExpired) as err:
                    cells.append(f"{'failed: ' + str(err).splitlines()[-1][:40]:<44}")
            print(f"{name:<52} {len(data) / 1e6:6.2f} MB | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    measure(sys.argv[1:] or [str(Path(__file__).resolve().parents[1])])


def test_shim_bytes_are_counted_before_they_are_unpacked():
    """A shim's bytes ({"config", "state"}) went to msgpack.unpackb whole: 2 MB
    of empty maps built millions of objects before anything was checked."""
    import tracemalloc

    import msgpack

    from thinc_fast.shims.pytorch import _unpack

    bomb = msgpack.packb({"config": [{}] * 2_000_000, "state": b""})
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="cannot load shim: .*more than the 4096 allowed"):
            _unpack(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * len(bomb), f"{peak} bytes for a {len(bomb)}-byte blob"
    assert _unpack(msgpack.packb({"config": {"a": 1}, "state": b"x"}))["state"] == b"x"
