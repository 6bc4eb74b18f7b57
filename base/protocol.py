"""The host link's framed protocol: one definition for the board top's RTL (hw.link) and the host
(adderhw.base.host).

Frames (both directions), bytes on an 8N1 UART::

    | 0xA5 | CMD | LEN lo | LEN hi | payload: LEN bytes | CHK |

``LEN`` is at most ``MAX_PAYLOAD``. ``CHK`` makes the sum of every byte after the sync byte
(CMD, LEN, payload, CHK) 0 modulo 256. Between frames the device ignores bytes other than the
sync byte. If a frame stalls (no byte for ``timeout`` clock cycles, a parameter of the top) the
device drops it and answers ``ERR_TIMEOUT``, so a host that lost bytes, or a reset of the host in
the middle of a frame, never leaves the device waiting for the rest. A frame is acted on only
after its checksum is good: a bad frame changes nothing.

Commands (host to device) and replies (device to host; a reply's CMD is the command | 0x80):

==========  ====  ==============================================  ==========================================
command     CMD   payload                                         reply payload
==========  ====  ==============================================  ==========================================
STATUS      0x01  none                                            ``STATUS_FIELDS``: version and the engine's
                                                                  configuration, 23 bytes (below)
WRITE       0x02  space (1), lane (1), addr (3, LE), vbytes (1),  none, after the last value is written
                  then n values of vbytes bytes each (signed,
                  LE), to addr, addr+1, ... of lane ``lane``
RUN         0x03  none, or limit (4, LE): run the loaded program   cycles (4, LE), then the class of every
                  on activation buffer 0 (up to C images, image   lane (C bytes); ERR_HANG if the run
                  c on lane c) for at most ``limit`` cycles       passed its limit (the engine is reset,
                  (default ``RUN_LIMIT``)                         its memories kept)
READ        0x04  side (1: 0 or 1, or 2 on a residual engine),    count words of activation buffer ``side``,
                  addr (3, LE), count (2, LE)
                                                                  each C lanes of ``abytes`` bytes (signed,
                                                                  LE): for example the logits
error       0xFF  (device to host only)                           one byte, an ``ERR_*`` code
==========  ====  ==============================================  ==========================================

The STATUS reply (``STATUS_FIELDS``, in this order; every field an unsigned little-endian number):

====================  ======  ================================================================
field                 bytes   value (from the device's ``adderhw.base.engine.EngineConfig``)
====================  ======  ================================================================
version               1       ``PROTOCOL_VERSION`` of the device (4; the replies of versions 1,
                              2 and 3 are the first 16, 19 and 21 bytes)
pe                    1       the array's PE: 0 SAD (an AdderNet engine), 1 MAC (the CNN twin)
rows, cols, width     1 each  the array's R, C (images per batch) and signed width in bits
mac_rows              1       rows of the AdderNet engine's MAC array (0: none)
act_depth_log2        1       ceil(log2) of ``act_depth``; likewise the weights and constants
weight_depth_log2     1
const_depth_log2      1
max_layers            1       entries of the descriptor table
max_payload           2       ``MAX_PAYLOAD``
clk_khz               4       the board's clock in kHz
requant               1       index of ``requant`` in ``adderhw.base.requant.REQUANT_KINDS``:
                              0 "mul" (the post-processing multiplies by M), 1 "shift" (M is
                              a sum of signed powers of two, shifts and adds only)
shift_terms           1       ``shift_terms``, 1 or 2: the powers of two of one M; it shapes
                              the hardware only when requant is "shift"
tile_shift            1       1 if the engine has the per-tile input shift (``tile_shift``,
                              a third constant lane), else 0
post_lanes            1       the post-processing's lanes L (``EngineConfig.pp_lanes``): the
                              engine's cycles per batch depend on it
field_bits            1       the width of a descriptor field (``EngineConfig.field_bits``): a
                              program whose descriptor values need more is refused by the host
residual              1       1 if the engine runs residual adds (``EngineConfig.residual``: a
                              third activation buffer, which READ's side 2 reads), else 0
rounding              1       index of ``rounding`` in ``adderhw.base.requant.ROUNDINGS``: 0
                              "half_up", 1 "half_even" (how the requantisation rounds a tie)
====================  ======  ================================================================

Version 2 added requant, shift_terms and tile_shift, version 3 post_lanes and field_bits, version 4
residual and rounding; a host refuses a device of another version (:func:`decode_status`), so it
never loads a program onto an engine whose requantisation, rounding, cycles, buffers or descriptor
width it cannot see.

Spaces of WRITE: 0 activation buffer 0 (the images: lane = image), 1 weights (lane = row), 2
constants (lane 0 = M, 1 = B, and on an engine with ``tile_shift`` lane 2 = the input shift
x_shift of the entry's output channel, signed ``X_SHIFT_BITS``), 3 descriptor slots (lane 0);
hw.engine's load port, whose ``data`` field is sign-extended from the vbytes given (1 to 4). The
lanes of a constant entry are separate words: each is written by its own WRITE, in any order, and
a WRITE may carry the M (or the B, or the x_shift) of many entries.

What the device keeps:
  * A WRITE is acknowledged (its empty reply) only after every one of its values is in the
    engine's memory; no part of it waits in a register for a later frame. An acknowledged write
    stays until a later WRITE to the same word, whatever comes between: error replies, a RUN that
    ends in ERR_HANG (which resets the engine's logic, not its memories), a reset of the board's
    logic (its memories are not reset either), stalls. So a constant whose M was acknowledged and
    whose B is sent after an ERR_HANG or a reset holds both.
  * A frame answered with an error changes nothing. A WRITE that the board's reset cut off before
    its reply may have written some of its values: the host sends it again.
  * A RUN, finished or past its limit, writes the layers' outputs into both activation buffers
    (layer i writes buffer (i + 1) mod 2), so buffer 0's images are spent: write them again before
    the next RUN. Weights, constants and descriptors are only read by a RUN.

Error codes: ``ERR_CHECKSUM`` (the frame's sum is not 0), ``ERR_COMMAND`` (an unknown CMD),
``ERR_LENGTH`` (LEN beyond ``MAX_PAYLOAD``, or wrong for the command), ``ERR_TIMEOUT`` (the frame
stalled), ``ERR_RANGE`` (a space, lane, address or vbytes the engine does not have), ``ERR_FRAMING``
(a byte without its stop bit), ``ERR_HANG`` (a RUN passed its cycle limit: without a valid program
the engine may never finish, and the limit keeps the device answering).
"""
from .errors import BadParameter, SimulationError
from .requant import REQUANT_KINDS, ROUNDINGS

__all__ = ["SYNC", "MAX_PAYLOAD", "PROTOCOL_VERSION", "CMD_STATUS", "CMD_WRITE", "CMD_RUN", "CMD_READ",
           "CMD_ERROR", "REPLY", "ERRORS", "ERR_CHECKSUM", "ERR_COMMAND", "ERR_LENGTH", "ERR_TIMEOUT",
           "ERR_RANGE", "ERR_FRAMING", "ERR_HANG", "RUN_LIMIT", "STATUS_FIELDS", "STATUS_BYTES", "const_lanes",
           "decode_status", "checksum", "encode_frame", "FrameParser", "LinkError", "DeviceError"]

SYNC = 0xA5
#: the engine's memory spaces, as a WRITE frame names them (hw.engine decodes them)
SPACE_ACT, SPACE_WEIGHT, SPACE_CONST, SPACE_DESC = range(4)
#: bytes of WRITE's header: space, lane, addr (3), vbytes
WRITE_HEADER = 6
#: descriptor table slots per layer (a layer's fields sit at slots 0 .. F-1; hw.sequencer addresses
#: the table as {layer, field})
DESC_SLOTS = 32
#: the longest payload a frame may carry (the top buffers a whole frame before acting on it)
MAX_PAYLOAD = 1024
#: 2: STATUS reports requant, shift_terms and tile_shift (version 1 did not); 3: and post_lanes and
#: field_bits; 4: and residual and rounding (and READ reads a residual engine's third buffer)
PROTOCOL_VERSION = 4

CMD_STATUS, CMD_WRITE, CMD_RUN, CMD_READ = 0x01, 0x02, 0x03, 0x04
CMD_ERROR = 0xFF
REPLY = 0x80                    # a reply's CMD is the command's | REPLY

ERR_CHECKSUM, ERR_COMMAND, ERR_LENGTH, ERR_TIMEOUT, ERR_RANGE, ERR_FRAMING, ERR_HANG = 1, 2, 3, 4, 5, 6, 7
#: a RUN's cycle limit when its frame gives none (5.6 s at 12 MHz)
RUN_LIMIT = 1 << 26
ERRORS = {ERR_CHECKSUM: "bad checksum", ERR_COMMAND: "unknown command", ERR_LENGTH: "bad length",
          ERR_TIMEOUT: "frame timed out", ERR_RANGE: "space, lane, address or vbytes out of range",
          ERR_FRAMING: "UART framing error", ERR_HANG: "the run passed its cycle limit (is a program loaded?)"}

#: the STATUS reply, in order: (name, bytes), little-endian
STATUS_FIELDS = (("version", 1), ("pe", 1), ("rows", 1), ("cols", 1), ("width", 1), ("mac_rows", 1),
                 ("act_depth_log2", 1), ("weight_depth_log2", 1), ("const_depth_log2", 1),
                 ("max_layers", 1), ("max_payload", 2), ("clk_khz", 4), ("requant", 1), ("shift_terms", 1),
                 ("tile_shift", 1), ("post_lanes", 1), ("field_bits", 1), ("residual", 1), ("rounding", 1))
STATUS_BYTES = sum(n for _, n in STATUS_FIELDS)


def const_lanes(engine):
    """The lanes of WRITE's constant space on an engine of ``engine`` (an EngineConfig): M and B,
    and x_shift when it has the per-tile input shift."""
    return 3 if engine.tile_shift else 2


def decode_status(payload):
    """The STATUS reply ``payload`` as a dict over STATUS_FIELDS, numbers as sent except requant and
    rounding (their names, from REQUANT_KINDS and ROUNDINGS) and tile_shift and residual (bools).
    A device of another protocol version, or a reply that is not a STATUS reply of this version,
    raises LinkError."""
    payload = bytes(payload)
    if not payload:
        raise LinkError("the device answered STATUS with an empty payload, not the status of protocol "
                        f"version {PROTOCOL_VERSION}")
    version = payload[0]
    if version < PROTOCOL_VERSION:
        # checked before the length: an older reply is shorter, and the version says why
        raise LinkError(f"the board speaks host-link protocol version {version} and this host speaks version "
                        f"{PROTOCOL_VERSION}, which needs the board's requant, shift_terms, tile_shift, post_lanes, "
                        f"field_bits, residual and rounding in STATUS; rebuild the board with this adderhw (adderhw build --top engine)")
    if version > PROTOCOL_VERSION:
        raise LinkError(f"the board speaks host-link protocol version {version} and this host speaks version "
                        f"{PROTOCOL_VERSION}; update adderhw on the host to the version the board was built with")
    if len(payload) != STATUS_BYTES:
        raise LinkError(f"the device's STATUS reply has {len(payload)} bytes, not the {STATUS_BYTES} of protocol "
                        f"version {PROTOCOL_VERSION}")
    out, i = {}, 0
    for name, n in STATUS_FIELDS:
        out[name] = int.from_bytes(payload[i:i + n], "little")
        i += n
    if out["requant"] >= len(REQUANT_KINDS):
        raise LinkError(f"the device reports requant code {out['requant']}, which protocol version "
                        f"{PROTOCOL_VERSION} does not define (" +
                        ", ".join(f"{c} {k}" for c, k in enumerate(REQUANT_KINDS)) + ")")
    if out["rounding"] >= len(ROUNDINGS):
        raise LinkError(f"the device reports rounding code {out['rounding']}, which protocol version "
                        f"{PROTOCOL_VERSION} does not define (" +
                        ", ".join(f"{c} {k}" for c, k in enumerate(ROUNDINGS)) + ")")
    for flag in ("tile_shift", "residual"):
        if out[flag] > 1:
            raise LinkError(f"the device reports {flag} {out[flag]}, not 0 or 1")
        out[flag] = bool(out[flag])
    out["requant"] = REQUANT_KINDS[out["requant"]]
    out["rounding"] = ROUNDINGS[out["rounding"]]
    return out


class LinkError(SimulationError):
    """The device did not answer, or answered something that is not a frame."""


class DeviceError(LinkError):
    """The device answered with an error frame; ``code`` is its ERR_* code."""

    def __init__(self, code, what):
        self.code = code
        super().__init__(f"the device refused the {what} frame: {ERRORS.get(code, f'error {code}')} (code {code})")


def checksum(body):
    """The CHK byte of a frame whose bytes after the sync byte, up to CHK, are ``body``."""
    return (-sum(body)) & 0xFF


def encode_frame(cmd, payload=b""):
    """The bytes of one frame."""
    payload = bytes(payload)
    if not 0 <= cmd <= 0xFF:
        raise BadParameter(f"cmd must be a byte (0..255), not {cmd}")
    if len(payload) > MAX_PAYLOAD:
        raise BadParameter(f"a frame's payload holds at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    body = bytes([cmd, len(payload) & 0xFF, len(payload) >> 8]) + payload
    return bytes([SYNC]) + body + bytes([checksum(body)])


class FrameParser:
    """Bytes in, frames out: ``feed(data)`` returns the complete (cmd, payload) frames; bytes
    before a sync byte are skipped. A frame with a bad checksum or length raises LinkError."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(bytes([SYNC]))
            if start < 0:
                self.buf.clear()
                return frames
            del self.buf[:start]
            if len(self.buf) < 4:
                return frames
            n = self.buf[2] | self.buf[3] << 8
            if n > MAX_PAYLOAD:
                raise LinkError(f"the device sent a frame of {n} payload bytes, beyond {MAX_PAYLOAD}")
            if len(self.buf) < 5 + n:
                return frames
            frame = bytes(self.buf[:5 + n])
            del self.buf[:5 + n]
            if sum(frame[1:]) & 0xFF:
                raise LinkError("the device sent a frame with a bad checksum")
            frames.append((frame[1], frame[4:4 + n]))
