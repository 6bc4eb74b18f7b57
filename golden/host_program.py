"""What the host link needs of a compiled program (``adderhw.base.host.HostProgram``): its memory
images for the engine (golden.program.memory_images), its input shape, and a RUN's cycle limit of
twice the engine cycle model's total plus 1,000 cycles, so that a run that hangs is abandoned by
the device (ERR_HANG) long before the host's own patience runs out, and a correct run never is."""
from adderhw.base.host import HostProgram

from .engine_cycles import engine_cycles
from .program import memory_images

__all__ = ["host_program"]


def host_program(program, engine):
    """The HostProgram of ``program`` (golden.compiler) on ``engine`` (base.engine.EngineConfig)."""
    limit = 2 * engine_cycles(engine, program)["total"] + 1000
    return HostProgram(mem=memory_images(program, engine), input_shape=tuple(program.input_shape),
                       cycle_limit=limit)
