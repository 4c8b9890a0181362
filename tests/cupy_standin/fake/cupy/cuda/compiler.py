"""``cupy.cuda.compiler`` of the CPU stand-in: its error type."""


class CompileException(Exception):
    pass
