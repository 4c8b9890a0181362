"""``cupy.cuda.runtime`` of the CPU stand-in: one device."""


class CUDARuntimeError(RuntimeError):
    pass


_count = 1


def getDeviceCount():
    return _count


def getDevice():
    from . import Device

    return Device._current


def setDevice(device):
    from . import Device

    Device(device).use()


def deviceSynchronize():
    pass


def memGetInfo():
    return (16 * 2 ** 30, 16 * 2 ** 30)


def runtimeGetVersion():
    return 12000


def driverGetVersion():
    return 12000


def getDeviceProperties(device):
    return {"name": b"thinc_fast CPU stand-in for CuPy", "totalGlobalMem": 16 * 2 ** 30,
            "multiProcessorCount": 1, "major": 8, "minor": 0, "maxThreadsPerBlock": 1024,
            "sharedMemPerBlock": 48 * 1024, "warpSize": 32}
