"""``cupy.cuda.driver`` of the CPU stand-in: its error type."""


class CUDADriverError(RuntimeError):
    pass


def get_build_version():
    return 12000
