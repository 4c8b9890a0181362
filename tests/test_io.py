"""Saved files: checksums, sizes checked before decompressing, files of the
earlier layout, file modes."""
import io
import json
import os
import struct
import tracemalloc
import zipfile

import numpy
import pytest

from thinc_fast._io import FormatError, atomic_write, pack, unpack
from thinc_fast.api import Adam, Relu, Softmax, chain
from thinc_fast.checkpoint import load_checkpoint, save_checkpoint

rng = numpy.random.default_rng(16)


def make_model(width=64, n_in=20):
    X = rng.random((4, n_in), dtype="float32")
    Y = numpy.eye(2, dtype="f")[[0, 1, 0, 1]]
    return chain(Relu(width), Softmax()).initialize(X=X, Y=Y), X, Y


def trained(width=64, n_in=20):
    model, X, Y = make_model(width, n_in)
    optimizer = Adam(0.01)
    _, backprop = model.begin_update(X)
    backprop(model.predict(X) - Y)
    model.finish_update(optimizer)
    return model, optimizer, X


def old_pack(header, arrays):
    """The layout thinc_fast wrote before checksums: numpy.savez, no manifest, no comment."""
    buf = io.BytesIO()
    payload = dict(arrays)
    payload["__header__"] = numpy.frombuffer(json.dumps(header).encode("utf8"), dtype=numpy.uint8)
    numpy.savez(buf, **payload)
    return buf.getvalue()


def member_data_offset(data, name):
    """Where member `name`'s bytes start in the archive `data`."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    n, e = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + n + e, info.file_size


def with_member_changed(data, name, change):
    """The archive `data` written again with member `name` holding
    ``change(its bytes)``: fresh CRCs, the same comment (where the checksum is)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            payload = zin.read(item)
            zout.writestr(item, change(payload) if item.filename == name else payload)
        zout.comment = zin.comment
    return buf.getvalue()


def same(a, b):
    (ha, aa), (hb, ab) = a, b
    return ha == hb and aa.keys() == ab.keys() and all(
        aa[k].dtype == ab[k].dtype and aa[k].shape == ab[k].shape
        and aa[k].tobytes() == ab[k].tobytes() for k in aa)


# ------------------------------------------------------------ 1. checksums
def test_pack_writes_a_manifest_and_the_sha256_of_its_content():
    data = pack({"format": "thinc_fast.thing", "version": 1, "x": 2},
                {"a": numpy.arange(6, dtype="f").reshape(2, 3)})
    comment = zipfile.ZipFile(io.BytesIO(data)).comment
    assert comment.startswith(b"thinc_fast sha256:") and len(comment) == 18 + 64
    header, arrays = unpack(data, kind="thing", max_version=1)
    assert header == {"format": "thinc_fast.thing", "version": 1, "x": 2}
    numpy.testing.assert_array_equal(arrays["a"], numpy.arange(6, dtype="f").reshape(2, 3))
    assert arrays["a"].flags.writeable
    with numpy.load(io.BytesIO(data), allow_pickle=False) as plain:  # still a plain npz
        assert sorted(plain.files) == ["__header__", "a"]
    assert pack({"format": "thinc_fast.thing", "version": 1}, {"a": numpy.zeros(2)}) == \
        pack({"format": "thinc_fast.thing", "version": 1}, {"a": numpy.zeros(2)}), "deterministic"


def test_a_flipped_bit_in_an_npy_header_of_model_bin_is_refused(tmp_path):
    """The issue's example: the .npy header length of a weight array, flipped,
    made NumPy read the weights 16 bytes early, without an error (the zip CRC
    is only checked when a read reaches the member's end; W is 32 KiB here, as
    the default config's 128 x 64)."""
    model, _, X = trained(width=128, n_in=64)
    model.to_disk(tmp_path / "model.bin", format="thinc_fast")
    data = bytearray((tmp_path / "model.bin").read_bytes())
    start, _ = member_data_offset(bytes(data), "1:W.npy")
    assert data[start + 8] == 0x76  # header length 118
    data[start + 8] ^= 0x10  # 102: the data would start 16 bytes early
    (tmp_path / "model.bin").write_bytes(bytes(data))
    fresh = make_model(128, 64)[0]
    before = fresh.to_bytes()
    with pytest.raises(FormatError, match="model"):
        fresh.from_disk(tmp_path / "model.bin")
    assert fresh.to_bytes() == before, "nothing is loaded from a damaged file"


def test_every_bit_flip_of_a_model_file_is_refused_or_changes_nothing():
    """Every bit of the .npy headers (magic, length, dtype and shape text), one bit
    of every other byte outside the array data (zip headers, the JSON header, the
    directory, the comment), one bit in each 7th byte of the data: each flip is
    refused, or (zip metadata such as a timestamp) leaves exactly the same content."""
    from thinc_fast.api import Linear

    model = Linear(128, 20).initialize()  # W: 10 KiB, > 2 reads of zipfile's 4 KiB
    data = model.to_bytes(format="thinc_fast")
    expected = unpack(data, kind="model", max_version=9)
    flips, payload, npy_text = [], set(), set()
    for info in zipfile.ZipFile(io.BytesIO(data)).infolist():
        start, size = member_data_offset(data, info.filename)
        npy_header = 10 + struct.unpack("<H", data[start + 8:start + 10])[0]
        text_end = data.index(b"}", start) + 1
        npy_text.update(range(start, text_end))
        payload.update(range(start + npy_header, start + size))
    for byte in range(len(data)):
        if byte in npy_text:
            flips.extend((byte, bit) for bit in range(8))
        elif byte not in payload or byte % 7 == 0:
            flips.append((byte, byte % 8))
    assert len(flips) > 2000
    silent = []
    for byte, bit in flips:
        damaged = bytearray(data)
        damaged[byte] ^= 1 << bit
        try:
            got = unpack(bytes(damaged), kind="model", max_version=9)
        except FormatError:
            continue
        if not same(got, expected):
            silent.append((byte, bit))
    assert not silent, f"flips loaded as different content: {silent[:10]}"


@pytest.mark.parametrize("what", ["checkpoint", "optimizer"])
def test_checkpoint_and_optimizer_state_carry_a_checksum_that_loading_verifies(tmp_path, what):
    model, optimizer, _ = trained(width=8, n_in=5)
    path = tmp_path / "checkpoint.bin"
    save_checkpoint(path, model, optimizer, extra={"progress": {"step": 3}})
    data = path.read_bytes() if what == "checkpoint" else optimizer.to_bytes(model)

    def load(blob):
        if what == "checkpoint":
            path.write_bytes(blob)
            load_checkpoint(path, make_model(8, 5)[0], Adam(0.01))
        else:
            Adam(0.01).from_bytes(blob, model)

    assert zipfile.ZipFile(io.BytesIO(data)).comment.startswith(b"thinc_fast sha256:")
    load(data)
    # the same content with fresh CRCs but one value changed: only the checksum sees it
    name = "optimizer.npy" if what == "checkpoint" else "mom1.npy"
    changed = with_member_changed(data, name,
                                  lambda payload: payload[:-1] + bytes([payload[-1] ^ 1]))
    with pytest.raises(FormatError, match="checksum"):
        load(changed)
    for byte in range(0, len(data), max(1, len(data) // 150)):
        damaged = bytearray(data)
        damaged[byte] ^= 1 << (byte % 8)
        try:
            got = unpack(bytes(damaged), kind=what, max_version=9)
        except FormatError:
            continue
        assert same(got, unpack(data, kind=what, max_version=9)), byte


def test_a_content_change_with_valid_crcs_is_refused_by_the_checksum():
    model, _, _ = trained(width=8, n_in=5)
    changed = with_member_changed(model.to_bytes(format="thinc_fast"), "1:b.npy",
                                  lambda payload: payload[:-4] + numpy.float32(1.5).tobytes())
    with pytest.raises(FormatError, match="checksum of its content does not match"):
        make_model(8, 5)[0].from_bytes(changed)


def test_files_written_before_checksums_still_load(tmp_path):
    model, optimizer, X = trained(width=8, n_in=5)
    header, arrays = unpack(model.to_bytes(format="thinc_fast"), kind="model", max_version=9)
    old = old_pack(header, arrays)
    assert not zipfile.ZipFile(io.BytesIO(old)).comment
    fresh = make_model(8, 5)[0].from_bytes(old)
    numpy.testing.assert_array_equal(fresh.predict(X), model.predict(X))
    # a checkpoint of the earlier layout, holding model and optimizer bytes of it
    opt_header, opt_arrays = unpack(optimizer.to_bytes(model), kind="optimizer", max_version=9)
    old_checkpoint = old_pack(
        {"format": "thinc_fast.checkpoint", "version": 1, "extra": {"n": 1},
         "rng": json.loads(json.dumps(__import__("thinc_fast.checkpoint").checkpoint.get_rng_state()))},
        {"model": numpy.frombuffer(old, dtype=numpy.uint8),
         "optimizer": numpy.frombuffer(old_pack(opt_header, opt_arrays), dtype=numpy.uint8)})
    (tmp_path / "checkpoint.bin").write_bytes(old_checkpoint)
    target, target_opt = make_model(8, 5)[0], Adam(0.01)
    assert load_checkpoint(tmp_path / "checkpoint.bin", target, target_opt) == {"n": 1}
    numpy.testing.assert_array_equal(target.predict(X), model.predict(X))
    assert target_opt.step == optimizer.step
    # ... but damage in them is still caught by the zip CRCs
    damaged = bytearray(old)
    start, size = member_data_offset(old, "1:W.npy")
    damaged[start + size - 3] ^= 0x04
    with pytest.raises(FormatError, match="CRC"):
        make_model(8, 5)[0].from_bytes(bytes(damaged))


# ---------------------------------------------------- 2. sizes before data
def _with_extra_member(data, name, n_bytes, keep_comment):
    """`data` plus a member `name` holding `n_bytes` of zeros, deflated (streamed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, \
            zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        header = io.BytesIO()
        numpy.lib.format.write_array_header_1_0(
            header, {"descr": "|u1", "fortran_order": False, "shape": (n_bytes,)})
        with zout.open(name, "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk = bytes(1 << 20)
            for _ in range(n_bytes >> 20):
                f.write(chunk)
        if keep_comment:
            zout.comment = zin.comment
    return buf.getvalue()


@pytest.mark.parametrize("layout", ["current", "before checksums"])
def test_an_array_no_model_part_asks_for_is_refused_before_decompressing(layout):
    model, _, _ = trained(width=8, n_in=5)
    data = model.to_bytes(format="thinc_fast")
    if layout == "before checksums":
        data = old_pack(*unpack(data, kind="model", max_version=9))
    bomb = _with_extra_member(data, "extra.npy", 64 << 20, keep_comment=layout == "current")
    assert len(bomb) < len(data) + 200_000  # 64 MiB of zeros deflate to ~64 KiB
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match="'extra'"):
            make_model(8, 5)[0].from_bytes(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes allocated"


def test_declared_sizes_are_checked_before_decompressing():
    model, _, _ = trained(width=8, n_in=5)
    header, arrays = unpack(model.to_bytes(format="thinc_fast"), kind="model", max_version=9)
    # an .npy header that declares far more data than the member holds
    def huge_header(payload):
        head = io.BytesIO()
        numpy.lib.format.write_array_header_1_0(
            head, {"descr": "<f4", "fortran_order": False, "shape": (1 << 28, 5)})
        return head.getvalue() + payload[-8 * 5 * 4:]

    changed = with_member_changed(old_pack(header, arrays), "1:W.npy", huge_header)
    with pytest.raises(FormatError, match=r"'1:W'.*\(268435456, 5\).*holds 160 bytes"):
        make_model(8, 5)[0].from_bytes(changed)
    # a manifest that does not match the member's size
    packed = pack(header, arrays)
    h, a = unpack(packed, kind="model", max_version=9)
    manifest = {k: [v.dtype.str, list(v.shape)] for k, v in a.items()}
    manifest["1:W"] = ["<f4", [1 << 28, 5]]

    def new_header(payload):
        out = io.BytesIO()
        numpy.lib.format.write_array(out, numpy.frombuffer(
            json.dumps({**h, "manifest": manifest}).encode(), dtype=numpy.uint8))
        return out.getvalue()

    changed = with_member_changed(packed, "__header__.npy", new_header)
    with pytest.raises(FormatError, match=r"'1:W' is declared float32 \(268435456, 5\)"):
        make_model(8, 5)[0].from_bytes(changed)


def test_unpack_refuses_other_members_and_dtypes():
    ok = pack({"format": "thinc_fast.thing", "version": 1}, {"a": numpy.zeros(3, "f")})
    with pytest.raises(FormatError, match="no part of the thing asks for"):
        unpack(ok, kind="thing", max_version=1, names=lambda header: set())
    with pytest.raises(ValueError, match="numeric dtypes only"):
        pack({"format": "thinc_fast.thing", "version": 1}, {"a": numpy.array([None])})
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(ok)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        zout.writestr("notes.txt", b"hello")
    with pytest.raises(FormatError, match="unexpected member 'notes.txt'"):
        unpack(buf.getvalue(), kind="thing", max_version=1)


# -------------------------------------------------------------- 8. modes
@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask 022", "umask 002"])
def test_atomic_write_and_folders_respect_the_umask(tmp_path, umask):
    from thinc_fast._io import make_temp_dir

    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "f.bin", b"x")
        folder = make_temp_dir(tmp_path, ".d-")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert folder.stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_stripped_checksum_is_refused_when_the_manifest_remains(tmp_path):
    """With the comment (the checksum) removed, a changed value with fresh CRCs
    loaded: only the zip CRCs were checked although the manifest says the file
    was written with a checksum."""
    model, _, X = trained(width=8, n_in=5)
    data = model.to_bytes(format="thinc_fast")
    changed = with_member_changed(data, "1:b.npy",
                                  lambda payload: payload[:-4] + numpy.float32(1.5).tobytes())
    stripped = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(changed)) as zin, zipfile.ZipFile(stripped, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        assert zin.comment.startswith(b"thinc_fast sha256:")
    fresh = make_model(8, 5)[0]
    before = fresh.to_bytes(format="thinc_fast")
    with pytest.raises(FormatError, match="has a manifest but its checksum .* is missing"):
        fresh.from_bytes(stripped.getvalue())
    assert fresh.to_bytes(format="thinc_fast") == before
    (tmp_path / "model.bin").write_bytes(stripped.getvalue())
    with pytest.raises(FormatError, match=f"{tmp_path / 'model.bin'}"):
        make_model(8, 5)[0].from_disk(tmp_path / "model.bin")


def test_a_truncated_checkpoint_is_reported_as_truncated_at_every_length(tmp_path):
    """Cut short, a checkpoint's last end record can be that of the model or
    optimizer archive stored inside it: it was reported as "expected a
    checkpoint, found a model" or as declaring too many members."""
    from thinc_fast.api import Adam
    from thinc_fast.checkpoint import load_checkpoint, save_checkpoint

    model, optimizer, _ = trained(width=64, n_in=16)
    path = tmp_path / "checkpoint.bin"
    save_checkpoint(path, model, optimizer)
    data = path.read_bytes()
    messages = set()
    for cut in range(1, len(data), max(1, len(data) // 150)):
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError) as info:
            load_checkpoint(path, make_model(64, 16)[0], Adam(0.001))
        text = str(info.value)
        assert str(path) in text
        assert "corrupt or truncated" in text or "cut short" in text, (cut, text)
        messages.add("cut short" if "cut short" in text else "truncated")
    assert messages, "every length was tried"
