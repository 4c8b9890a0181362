"""``cupy.cuda`` of the CPU stand-in: one device (id 0), a null stream that
runs everything at once, and memory objects that only count bytes (the
arrays themselves live in NumPy's heap). Enough for what thinc_fast touches:
``Device``, ``runtime.getDeviceCount``, streams and events, the memory pool
and ``set_allocator``, ``UnownedMemory``/``MemoryPointer``, ``nvtx``."""
import time as _time
import types as _types

from . import compiler, driver, runtime  # noqa: F401


class Device:
    """``cupy.cuda.Device(id)``: the stand-in has device 0 only."""

    _current = 0

    def __init__(self, device=None):
        self.id = Device._current if device is None else int(device)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"

    def __int__(self):
        return self.id

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(("Device", self.id))

    def _check(self):
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")

    def use(self):
        self._check()
        Device._current = self.id

    def __enter__(self):
        self._check()
        self._previous = Device._current
        Device._current = self.id
        return self

    def __exit__(self, *exc):
        Device._current = self._previous

    def synchronize(self):
        pass

    @property
    def compute_capability(self):
        return "80"

    @property
    def mem_info(self):
        return runtime.memGetInfo()


class Stream:
    """A stream; work runs when it is launched, so synchronizing is a no-op."""

    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0 if null else id(self)
        self.non_blocking = non_blocking

    def __enter__(self):
        _stream_stack.append(self)
        return self

    def __exit__(self, *exc):
        _stream_stack.pop()

    def use(self):
        _stream_stack[:] = [self]
        return self

    def synchronize(self):
        pass

    @property
    def done(self):
        return True

    def record(self, event=None):
        event = event or Event()
        event.record(self)
        return event

    def wait_event(self, event):
        pass


Stream.null = Stream(null=True)
_stream_stack = [Stream.null]


def get_current_stream(device_id=-1):
    return _stream_stack[-1]


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.time = None

    def record(self, stream=None):
        self.time = _time.perf_counter()

    def synchronize(self):
        pass

    @property
    def done(self):
        return True


def get_elapsed_time(start_event, end_event):
    return (end_event.time - start_event.time) * 1000.0


# ------------------------------------------------------------------- memory
class UnownedMemory:
    def __init__(self, ptr, size, owner, device_id=None):
        self.ptr, self.size, self.owner = ptr, size, owner
        self.device_id = 0


class MemoryPointer:
    """A device pointer (``.ptr``). For the memory of a device array it also
    knows the NumPy buffer behind it (``_buffer``, bytes, and ``_at``, the
    offset in it), so that ``cupy.ndarray(shape, dtype, memptr=p, strides=s)``
    can make a view there, as with CuPy."""

    def __init__(self, mem, offset, _ptr=None, _buffer=None, _at=0):
        self.mem = mem
        self.offset = offset
        base = getattr(mem, "ptr", 0) or 0
        self.ptr = _ptr if _ptr is not None else base + offset
        self.device_id = 0
        self._buffer, self._at = _buffer, _at

    @property
    def device(self):
        return Device(0)

    def __int__(self):
        return self.ptr

    def __add__(self, offset):
        return MemoryPointer(self.mem, self.offset + offset, _ptr=self.ptr + offset,
                             _buffer=self._buffer, _at=self._at + offset)


class _Block:
    def __init__(self, size):
        self.size = size
        self.buffer = bytearray(size)
        import ctypes

        self.ptr = ctypes.addressof((ctypes.c_char * max(1, size)).from_buffer(self.buffer)) \
            if size else 0


class MemoryPool:
    """Counts the bytes handed out through ``malloc`` (arrays do not go through it)."""

    def __init__(self, allocator=None):
        self.allocator = allocator
        self._used = 0
        self._limit = 0

    def malloc(self, size):
        if self.allocator is not None:
            return self.allocator(size)
        self._used += size
        return MemoryPointer(_Block(size), 0)

    def used_bytes(self):
        return self._used

    def total_bytes(self):
        return self._used

    def free_bytes(self):
        return 0

    def n_free_blocks(self):
        return 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        self._limit = size or 0

    def get_limit(self):
        return self._limit


class PinnedMemoryPool(MemoryPool):
    pass


_default_pool = MemoryPool()
_allocator = [_default_pool.malloc]


def get_default_memory_pool():
    return _default_pool


def set_allocator(allocator=None):
    _allocator[0] = allocator if allocator is not None else _default_pool.malloc


def get_allocator():
    return _allocator[0]


def alloc(size):
    return _allocator[0](size)


def is_available():
    return True


memory = _types.SimpleNamespace(MemoryPool=MemoryPool, MemoryPointer=MemoryPointer,
                                UnownedMemory=UnownedMemory, set_allocator=set_allocator,
                                get_allocator=get_allocator, alloc=alloc)
nvtx = _types.SimpleNamespace(RangePush=lambda message, id_color=-1: None,
                              RangePop=lambda: None, Mark=lambda message, id_color=-1: None)
profiler = _types.SimpleNamespace(start=lambda: None, stop=lambda: None)
