"""``adderhw run``: a trained network on a board (or on the simulated board) through the host link.

Steps: the trained model and its program (as ``adderhw engine``: the same cache, compiler and
engine sizing, so a board built with ``adderhw build --top engine`` for the same network and array
holds it); the golden program and the engine cycle model for the chosen images; then the host
session (``adderhw.base.host.HostSession``): STATUS (the board must carry this engine), the program
upload, and every batch of C images. Every class is compared with the golden program and every
batch's cycle count with the model.

Reported: accuracy, images/s over the link (wall clock on a board; simulated time with
``--port sim``, whose UART runs at clock/8), the link-bound images/s at ``--baud`` from the bytes
each image costs, and the engine's own images/s at the board's clock (from STATUS) and its cycle
counter.

``--board B [--clock-mhz F]``: the board top as ``adderhw build --top engine`` builds it
(boards.engine_top.board_clock): its oscillator, or its PLL's output at the highest frequency not
above F, and the baud that follows the clock (115200 at the oscillator; with the PLL the fastest
rate the board's USB bridge and the clock make exactly, unless ``--baud`` names one). On a serial
port the host then talks at that baud; with ``--port sim`` the simulated top runs at that clock with
that UART divisor, so its STATUS, its simulated seconds and its link rate are the board's.
"""
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderhw.base.engine import DEFAULT_POST_LANES
from adderhw.base.errors import BadParameter, SimulationError
from adderhw.base.host import HostSession, SerialTransport
from adderhw.base.tables import markdown_table, write_reports
from adderhw.base.validate import check_int
from adderhw.engine import EngineRunConfig, workload
from adderhw.golden.compiler import quantize_images
from adderhw.golden.engine_cycles import engine_cycles
from adderhw.golden.host_program import host_program
from adderhw.golden.network_program import engine_for
from adderhw.golden.program import run_program

__all__ = ["BoardRunConfig", "run_board_flow", "format_run"]


@dataclass
class BoardRunConfig:
    port: str = "sim"
    board: str = None           # the board top (boards.engine_top.board_clock); None: a 100 MHz simulation
    clock_mhz: float = None     # with board: the PLL's target (None: the oscillator)
    network: str = "digits"
    pe: str = "sad"
    rows: int = 8
    cols: int = 8
    width: int = 8
    mac_rows: int = 2
    images: int = 50
    baud: int = None            # None: the board's (115200 without a board)
    seed: int = 0
    train: bool = False         # train afresh instead of using the committed weights or the cache
    first_last: str = "mul"     # the engine flow's options (adderhw.engine.EngineRunConfig)
    requant: str = "mul"
    shift_terms: int = 2
    post_lanes: int = DEFAULT_POST_LANES   # EngineConfig.post_lanes; 0: one per column
    dataflow: str = "systolic"  # ArrayConfig.dataflow of the engine's arrays
    program: str = None         # a program file (adderhw compile) instead of a built-in network
    data: str = None            # with ``program``: the images (.npz: x, and y for the accuracy)

    def __post_init__(self):
        # the same checks, and the engine options for the recorded command
        self.engine_flags = EngineRunConfig(network=self.network, pe=self.pe, rows=self.rows, cols=self.cols,
                                            width=self.width, mac_rows=self.mac_rows, images=self.images,
                                            seed=self.seed, first_last=self.first_last, requant=self.requant,
                                            shift_terms=self.shift_terms, post_lanes=self.post_lanes,
                                            dataflow=self.dataflow, program=self.program, data=self.data).flags
        self.images = check_int("images", self.images, lo=1)
        if self.baud is not None:
            self.baud = check_int("baud", self.baud, lo=300)
        self.clock = None
        if self.board is not None:
            # start-up: deferred (cli docstring)
            from adderhw.boards.engine_build import ENGINE_BOARDS
            from adderhw.boards.engine_top import board_clock
            if self.board not in ENGINE_BOARDS:
                raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)}, not {self.board!r}")
            self.clock = board_clock(self.board, self.clock_mhz, self.baud)     # refuses a clock or rate here
            self.baud = self.clock["baud"]
        elif self.clock_mhz is not None:
            raise BadParameter(f"clock_mhz {self.clock_mhz:g} needs a board (the PLL is the board's), not board None")
        elif self.baud is None:
            self.baud = 115200
        if not self.port:
            raise BadParameter("port must be a serial port (such as /dev/ttyUSB1) or 'sim', not ''")


def run_board_flow(cfg, out_dir=None, progress=print):
    w = workload(cfg, progress)
    program, pe = w.program, w.pe
    engine = engine_for(program, cfg.rows, cfg.cols, pe, cfg.mac_rows, cfg.post_lanes, exact_depths=w.exact_depths,
                        dataflow=cfg.dataflow)
    xq = quantize_images(program, w.x)
    if cfg.images > len(xq):
        raise BadParameter(f"images must be at most the {len(xq)} test images of {w.what}, not {cfg.images}")
    x, y = xq[:cfg.images], (w.y[:cfg.images] if w.labelled else None)
    golden = run_program(program, x)
    model_cycles = engine_cycles(engine, program)["total"]

    progress(f"[2/3] {cfg.images} images through the board on {cfg.port} ({engine.describe()})")
    t0 = time.perf_counter()
    if cfg.port == "sim":
        from adderhw.sim.link import run_link_session      # start-up: deferred (cli docstring)
        clock = {} if cfg.clock is None else {"clk_hz": cfg.clock["clk_hz"], "divisor": cfg.clock["divisor"]}
        result = run_link_session(engine, program, x, progress=progress, **clock)
    else:
        transport = SerialTransport(cfg.port, cfg.baud)
        try:
            result = HostSession(host_program(program, engine), engine, x, progress=progress).run(transport)
        finally:
            transport.close()
    wall = time.perf_counter() - t0

    classes = np.array(result["classes"])
    clk_hz = result["status"]["clk_khz"] * 1000
    cycles = result["cycles"]
    full = [c for i, c in enumerate(cycles) if min(cfg.images - i * engine.lanes, engine.lanes) == engine.lanes]
    per_image = (full or cycles)[0] / engine.lanes
    image_bytes = result["image_bytes"] / cfg.images        # both directions, the upload of the program apart
    r = {
        "port": cfg.port, "network": cfg.network if cfg.program is None else program.name, "pe": pe,
        "engine": engine.describe(), "images": cfg.images,
        "correct": int(np.sum(classes == y)) if y is not None else None,
        "golden_correct": int(np.sum(golden.classes == y)) if y is not None else None,
        "classes_equal_golden": bool(np.array_equal(classes, golden.classes)),
        "cycles_per_batch": sorted(set(cycles)), "model_cycles_per_batch": model_cycles,
        "cycles_equal_model": all(c == model_cycles for c in cycles),
        "clk_hz": clk_hz, "engine_images_per_s": clk_hz / per_image,
        "link_images_per_s": cfg.images / result["images_seconds"] if result["images_seconds"] else None,
        "link_seconds_kind": "wall clock" if cfg.port != "sim" else (
            "simulated (UART at clock/8)" if cfg.clock is None else
            f"simulated at the board's {clk_hz / 1e6:g} MHz, {cfg.clock['divisor']} clocks per bit"),
        "board": cfg.board, "pll": None if cfg.clock is None or cfg.clock["pll"] is None else cfg.clock["pll"].describe(),
        "baud_choice": None if cfg.clock is None else cfg.clock["baud_choice"],
        "bytes_per_image": image_bytes, "baud": cfg.baud,
        "link_bound_images_per_s_at_baud": cfg.baud / 10 / image_bytes,
        "program_bytes": result["program_bytes"], "program_seconds": result["program_seconds"], "frames": result["frames"], "wall_seconds": wall,
        **w.source,
        "command": f"adderhw run --port {cfg.port} "
                   + (f"--network {cfg.network} --pe {cfg.pe}" if cfg.program is None else
                      f"--program {cfg.program} --data {cfg.data}")
                   + f" --rows {cfg.rows} --cols {cfg.cols} --mac-rows {cfg.mac_rows} --images {cfg.images} --baud {cfg.baud}"
                   + (f" --board {cfg.board}" if cfg.board else "")
                   + (f" --clock-mhz {cfg.clock_mhz:g}" if cfg.clock_mhz is not None else "")
                   + cfg.engine_flags + (" --train" if cfg.train else ""),
    }
    got = (f"{r['correct']}/{cfg.images} correct (golden {r['golden_correct']})" if y is not None
           else f"{cfg.images} images (no labels)")
    progress(f"[3/3] {got}; classes equal golden: {r['classes_equal_golden']}; cycles equal the model: "
             f"{r['cycles_equal_model']}")
    if out_dir is not None:
        write_reports(Path(out_dir), "run", r, format_run(r))
    if not (r["classes_equal_golden"] and r["cycles_equal_model"]):
        raise SimulationError(f"the board's answers differ from the golden program or the cycle model "
                              f"(classes equal: {r['classes_equal_golden']}, cycles equal: {r['cycles_equal_model']})")
    return r


def format_run(r):
    link = "n/a" if r["link_images_per_s"] is None else f"{r['link_images_per_s']:,.0f}"
    rows = [["images", r["images"]], ["correct (board / golden)", f"{r['correct']} / {r['golden_correct']}"],
            ["classes equal golden", r["classes_equal_golden"]],
            ["cycles per batch (board / model)", f"{', '.join(map(str, r['cycles_per_batch']))} / "
                                                 f"{r['model_cycles_per_batch']}"],
            [f"engine images/s at {r['clk_hz'] / 1e6:g} MHz", f"{r['engine_images_per_s']:,.0f}"],
            [f"images/s over the link ({r['link_seconds_kind']})", link],
            [f"link-bound images/s at {r['baud']} baud ({r['bytes_per_image']:.0f} bytes per image)",
             f"{r['link_bound_images_per_s_at_baud']:,.1f}"]]
    return "\n".join([f"# {r['network']} on the board ({r['port']}): {r['engine']}", "", f"`{r['command']}`", "",
                      markdown_table(["", "value"], rows, "lr"), ""])
