"""The host side of the board link (protocol: ``adderhw.base.protocol``; device: ``hw.link``).

``EngineHost(transport)`` speaks the protocol over any byte transport with ``write(data)`` and
``read(n)`` (``n`` bytes, or fewer when nothing more comes within the transport's timeout):
``SerialTransport`` is a serial port through pyserial; the simulated board (``sim.link``) has its
own transport that moves bytes through a UART model on the top's pins. Both run this same code.

* ``status()`` -> dict of protocol.STATUS_FIELDS (protocol.decode_status: requant and rounding by
  name, tile_shift and residual bools); a board of another protocol version is refused.
  ``check_engine(engine)`` refuses a board whose engine is not the one the program was compiled
  for; a requant, shift_terms (on a "shift" engine: a "mul" engine's post-processing does not
  depend on it), tile_shift, post_lanes (the cycles per batch depend on it), residual or rounding
  that differs is named, with the board's value and the expected one, and descriptor fields
  narrower than the program needs.
* ``write(space, lane, addr, values)``: WRITE frames of at most MAX_PAYLOAD bytes, each value in
  the fewest bytes (1 to 4) that hold the frame's values.
The host works from a :class:`HostProgram` (the memory images, the input shape and a RUN's cycle
limit), which ``adderhw.golden.host_program.host_program(program, engine)`` makes from a compiled
program, so that this module needs nothing above ``base`` and both the application (a real port)
and ``sim`` (the simulated board) use it.

* ``load_program(hp, engine)``: descriptors, weights (a lane per array row), constants (all
  the Ms, then all the Bs, then, on an engine with ``tile_shift``, all the x_shifts: they are
  separate tables in the engine, each WRITE in memory when it is acknowledged).
* ``classify(hp, engine, images)``: a batch of up to C images into activation buffer 0, RUN;
  returns (classes, cycles).
* ``read(side, addr, count)``: words of an activation buffer, (count, C) signed.
An error frame raises ``protocol.DeviceError`` with its code; no reply raises ``protocol.LinkError``.
"""
import time
from dataclasses import dataclass

import numpy as np

from adderhw.base.errors import BadParameter, ToolMissingError
from adderhw.base.protocol import (CMD_ERROR, CMD_READ, CMD_RUN, CMD_STATUS, CMD_WRITE, MAX_PAYLOAD, REPLY,
                                   DeviceError, FrameParser, LinkError, decode_status, encode_frame, DESC_SLOTS,
                                   SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT, WRITE_HEADER)


__all__ = ["EngineHost", "SerialTransport", "value_bytes", "HostSession", "HostProgram"]


@dataclass(frozen=True)
class HostProgram:
    """What the host sends and expects for one program on one engine: ``mem`` (the memory images:
    ``descriptors``, a list of dicts of the engine's ``descriptor_fields``; ``weights``, (depth, R);
    ``consts``, (n, 2) M and B; ``x_shifts`` or None), ``input_shape`` (C_in, H, W) and
    ``cycle_limit``, the RUN frame's limit (a run past it is abandoned and answered with ERR_HANG)."""
    mem: object
    input_shape: tuple
    cycle_limit: int


def value_bytes(values):
    """The fewest bytes (1..4) that hold every value of ``values`` as a signed integer."""
    lo, hi = (int(min(values)), int(max(values))) if len(values) else (0, 0)
    for n in (1, 2, 3, 4):
        if -(1 << (8 * n - 1)) <= lo and hi < 1 << (8 * n - 1):
            return n
    raise BadParameter(f"values must fit signed 32 bits, not {lo}..{hi}")


class SerialTransport:
    """A serial port (pyserial): ``port`` such as /dev/ttyUSB1, 8N1 at ``baud``."""

    def __init__(self, port, baud=115200, timeout=2.0):
        try:
            import serial           # pyserial: a real port only; missing, one sentence below
        except ImportError:
            raise ToolMissingError("adderhw run needs pyserial: pip install pyserial") from None
        try:
            self.port = serial.Serial(port, baudrate=baud, timeout=timeout)
        except (serial.SerialException, ValueError) as exc:
            raise BadParameter(f"port {port!r} could not be opened at {baud} baud ({exc})") from None
        self.port.reset_input_buffer()

    def write(self, data):
        self.port.write(bytes(data))

    def read(self, n):
        return self.port.read(n)

    def close(self):
        self.port.close()


class EngineHost:
    def __init__(self, transport):
        self.transport = transport
        self.parser = FrameParser()
        self.frames = self.bytes_out = self.bytes_in = 0

    # ---- one request, one reply
    def request(self, cmd, payload=b"", what=None):
        frame = encode_frame(cmd, payload)
        self.transport.write(frame)
        self.frames += 1
        self.bytes_out += len(frame)
        return self.reply(cmd, what or f"command 0x{cmd:02x}")

    def reply(self, cmd, what):
        """The next frame from the device: its payload if it answers ``cmd``; an error frame raises."""
        while True:
            frames = self.parser.feed(b"")
            if frames:
                break
            chunk = self.transport.read(1)
            if not chunk:
                raise LinkError(f"the device did not answer the {what} frame")
            self.bytes_in += len(chunk)
            frames = self.parser.feed(chunk)
            if frames:
                break
        (rcmd, payload), *rest = frames
        if rest:
            raise LinkError(f"the device sent {len(frames)} frames for one {what} frame")
        if rcmd == CMD_ERROR:
            raise DeviceError(payload[0] if payload else -1, what)
        if rcmd != cmd | REPLY:
            raise LinkError(f"the device answered the {what} frame with command 0x{rcmd:02x}")
        return payload

    # ---- commands
    def status(self):
        return decode_status(self.request(CMD_STATUS, what="STATUS"))

    def check_engine(self, engine):
        s = self.status()
        a = engine.array
        named = [("requant", engine.requant), ("tile_shift", engine.tile_shift), ("post_lanes", engine.pp_lanes),
                 ("residual", engine.residual), ("rounding", engine.rounding)]
        if engine.requant == "shift":        # a "mul" engine's hardware does not depend on shift_terms
            named.insert(1, ("shift_terms", engine.shift_terms))
        for name, expected in named:
            if s[name] != expected:
                raise BadParameter(f"the board's engine has {name} {s[name]!r} but the program was compiled for "
                                   f"{name} {expected!r} ({engine.describe()}); build the board for this network")
        want = {"pe": a.kind.code, "rows": a.rows, "cols": a.cols, "width": a.width,
                "mac_rows": engine.mac_rows}
        got = {k: s[k] for k in want}
        if got != want or (1 << s["act_depth_log2"]) < engine.act_depth or \
                (1 << s["weight_depth_log2"]) < engine.weight_depth or (1 << s["const_depth_log2"]) < engine.const_depth \
                or s["max_layers"] < engine.max_layers:
            raise BadParameter(f"the board's engine ({s}) is not the one the program was compiled for "
                               f"({engine.describe()}); build the board for this network")
        # depths are reported rounded up to powers of two: a board of 1,000 words passes for 1,024 but
        # has narrower descriptor fields (EngineConfig.field_bits), which would truncate the program's
        if s["field_bits"] < engine.field_bits:
            raise BadParameter(f"the board's engine has {s['field_bits']}-bit descriptor fields but the program needs "
                               f"{engine.field_bits} ({engine.describe()}); build the board for this network")
        return s

    def write(self, space, lane, addr, values):
        """WRITE ``values`` to addr, addr+1, ... of ``lane`` in ``space``, in as few frames as fit."""
        values = [int(v) for v in values]
        i = 0
        while i < len(values):
            vb = value_bytes(values[i:])
            part = values[i:i + (MAX_PAYLOAD - WRITE_HEADER) // vb]
            payload = bytes([space, lane]) + (addr + i).to_bytes(3, "little") + bytes([vb])
            payload += b"".join((v & ((1 << (8 * vb)) - 1)).to_bytes(vb, "little") for v in part)
            self.request(CMD_WRITE, payload, what="WRITE")
            i += len(part)

    def load_program(self, hp, engine):
        mem = hp.mem
        for i, d in enumerate(mem.descriptors):
            self.write(SPACE_DESC, 0, i * DESC_SLOTS, [d[name] for name in engine.descriptor_fields])
        for r in range(mem.weights.shape[1]):
            self.write(SPACE_WEIGHT, r, 0, mem.weights[:, r])
        # M (lane 0) and B (lane 1) are separate tables (hw.engine): a lane each, as few frames as fit
        consts = np.asarray(mem.consts, dtype=np.int64).reshape(-1, 2)
        for lane in (0, 1):
            self.write(SPACE_CONST, lane, 0, consts[:, lane])
        if engine.tile_shift:
            # lane 2: each entry's input shift; a program without x_shift shifts by 0, written all
            # the same so that no shift of an earlier program stays in the table
            x_shifts = getattr(mem, "x_shifts", None)
            x_shifts = np.zeros(len(consts), dtype=np.int64) if x_shifts is None else np.asarray(x_shifts, np.int64)
            self.write(SPACE_CONST, 2, 0, x_shifts)

    def classify(self, hp, engine, images):
        x = np.asarray(images, dtype=np.int64)
        if x.ndim != 4 or x.shape[1:] != tuple(hp.input_shape) or not 1 <= len(x) <= engine.lanes:
            raise BadParameter(f"images must be 1 to {engine.lanes} of shape {tuple(hp.input_shape)}, not {x.shape}")
        flat = x.reshape(len(x), -1)
        for c in range(len(x)):
            self.write(SPACE_ACT, c, 0, flat[c])
        p = self.request(CMD_RUN, int(hp.cycle_limit).to_bytes(4, "little"), what="RUN")
        cycles = int.from_bytes(p[:4], "little")
        return np.array(list(p[4:4 + len(x)])), cycles

    def read(self, side, addr, count, engine):
        C, ab = engine.lanes, (engine.array.width + 7) // 8
        payload = bytes([side]) + addr.to_bytes(3, "little") + count.to_bytes(2, "little")
        p = self.request(CMD_READ, payload, what="READ")
        v = np.array([int.from_bytes(p[i:i + ab], "little", signed=True) for i in range(0, len(p), ab)])
        return v.reshape(count, C)


class HostSession:
    """What ``adderhw run`` does over one transport: check the board, upload the program, classify
    every batch; returns the classes, cycles and link timing (seconds are the host's wall clock,
    or simulated seconds on the simulated board)."""

    def __init__(self, hp, engine, images, clock=time.perf_counter, progress=None):
        self.hp, self.engine, self.images = hp, engine, np.asarray(images)
        self.clock, self.progress = clock, progress

    def run(self, transport):
        host = EngineHost(transport)
        t0 = self.clock()
        status = host.check_engine(self.engine)
        host.load_program(self.hp, self.engine)
        t1 = self.clock()
        program_bytes = host.bytes_out + host.bytes_in
        classes, cycles = [], []
        C = self.engine.lanes
        n = len(self.images)
        for i in range(0, n, C):
            c, cyc = host.classify(self.hp, self.engine, self.images[i:i + C])
            classes.extend(int(v) for v in c)
            cycles.append(cyc)
            if self.progress:
                self.progress(f"  batch {i // C + 1}/{-(-n // C)}: {min(i + C, n)} images")
        t2 = self.clock()
        return {"status": status, "classes": classes, "cycles": cycles, "program_seconds": t1 - t0,
                "images_seconds": t2 - t1, "frames": host.frames, "program_bytes": program_bytes,
                "image_bytes": host.bytes_out + host.bytes_in - program_bytes}
