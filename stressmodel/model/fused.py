"""The fused engine: :func:`stressmodel.model.quarter.step` written as LLVM IR over eight
cases at a time and compiled for this machine with llvmlite (numba's code generator).

Why IR rather than a numba-jitted loop: numba's loop over cases (the previous fused
kernel) was measured at 4-6 M rows/s on one core because LLVM's loop vectoriser gives
up on a loop body of ~1,000 instructions and 70 output streams ("too many memory checks",
"too many SCEV assumptions": numba's array indexing carries no ``inbounds``/``noalias``
facts), so every case ran in scalar code. Here the generator does the vectorisation
itself: :class:`IROps` evaluates ``step`` on symbolic values and writes one SSA
instruction on ``<8 x double>`` per operation of the model, so one pass over eight
cases evaluates every equation of a quarter in registers and stores each line item once,
with non-temporal stores (a full 64-byte line per store: no read-for-ownership of the
output, whose 1 GB at 1,000 firms never fits a cache anyway).

Arithmetic is the polars engine's, operation for operation, exactly as in
:mod:`stressmodel.model.kernel`: the same expression tree in the same operand order,
a division by a constant ``c`` as a multiplication by ``1/c``, ``max``/``min`` as
``np.maximum``/``np.minimum`` (NaN propagates), no fast-math flags (so LLVM neither
reassociates nor contracts into fused multiply-adds) and IEEE division. Lanes are
independent cases, so vectorising changes no result: the output is bit for bit the
numpy kernel's and, on the shipped firms, the polars engine's (tests/test_kernel.py).

Layout (what :func:`run` takes and gives): one float64 column per firm parameter,
scenario parameter and (driver, quarter), each ``n`` cases long (polars' own buffers
where they are contiguous, so nothing is copied in), and one output block of
``line items x quarters x ldo`` floats (``ldo`` = ``n`` rounded up to 8, the block
aligned to 64 bytes), so that ``OUT[j, k, :n]`` is line item j of quarter k, contiguous,
handed to polars without a copy. The last ``n mod 8`` cases run on a padded copy.

Compilation (~0.3 s) happens once per process at the first large projection; the run
layer can keep the machine code on disk (:func:`set_object_cache`,
:func:`stressmodel.run.cache.fused_object_cache`), keyed by the IR, the CPU and
llvmlite's version, so that a fresh process loads it instead.

Threads: the cases are split into :func:`threads` contiguous chunks (multiples of 8), each
run by the compiled function called through ctypes, which releases the GIL; below
:data:`PARALLEL_MIN_CASES` cases one thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np

from stressmodel.model.quarter import (
    ALL_FIRM_PARAMS,
    DRIVERS,
    SCENARIO_PARAMS,
    STATE,
    opening_state,
    step,
)

#: cases per vector (eight float64 in a 512-bit register; LLVM splits the vector on a
#: machine with 256-bit registers)
WIDTH = 8
#: below this many cases the kernel runs on one thread (a setting, not tuned: on the loaded
#: development machine a second thread could not be shown to help small calls)
PARALLEL_MIN_CASES = 16_384
#: version of the generated code and of the object-cache layout
FORMAT = 1

_VEC = f"<{WIDTH} x double>"
_MASK = f"<{WIDTH} x i1>"


def _hex(x: float) -> str:
    """A double as LLVM's exact hexadecimal constant."""
    return f"0x{struct.unpack('<Q', struct.pack('<d', float(x)))[0]:016X}"


class IRValue:
    """A symbolic vector: the name of an SSA value (or the text of a constant)."""

    __slots__ = ("ops", "ref")

    def __init__(self, ops: IROps, ref: str) -> None:
        self.ops = ops
        self.ref = ref

    # the operand order of the expression, exactly as polars builds it
    def __add__(self, o: Any) -> IRValue:
        return self.ops.binary("fadd", self, o)

    def __radd__(self, o: Any) -> IRValue:
        return self.ops.binary("fadd", o, self)

    def __sub__(self, o: Any) -> IRValue:
        return self.ops.binary("fsub", self, o)

    def __rsub__(self, o: Any) -> IRValue:
        return self.ops.binary("fsub", o, self)

    def __mul__(self, o: Any) -> IRValue:
        return self.ops.binary("fmul", self, o)

    def __rmul__(self, o: Any) -> IRValue:
        return self.ops.binary("fmul", o, self)

    def __truediv__(self, o: Any) -> IRValue:
        if isinstance(o, (int, float)) and not isinstance(o, bool):
            # polars evaluates a division by a literal as a multiplication by its inverse
            return self.ops.binary("fmul", self, 1.0 / float(o))
        return self.ops.binary("fdiv", self, o)

    def __rtruediv__(self, o: Any) -> IRValue:
        return self.ops.binary("fdiv", o, self)

    def __neg__(self) -> IRValue:
        return self.ops.emit(f"fneg {_VEC} {self.ref}")

    def __pos__(self) -> IRValue:
        return self


class IROps:
    """The :class:`stressmodel.model.quarter.Ops` interface writing LLVM IR."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: list[str] = []
        self.values: dict[str, IRValue] = {}
        self._n = 0

    def tmp(self) -> str:
        self._n += 1
        return f"%t{self._n}"

    def emit(self, instruction: str) -> IRValue:
        t = self.tmp()
        self.lines.append(f"{t} = {instruction}")
        return IRValue(self, t)

    def text(self, v: Any) -> str:
        if isinstance(v, IRValue):
            return v.ref
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError(f"the IR generator cannot use a {type(v).__name__} in the model")
        c = f"double {_hex(v)}"
        return "<" + ", ".join([c] * WIDTH) + ">"

    def binary(self, op: str, a: Any, b: Any) -> IRValue:
        return self.emit(f"{op} {_VEC} {self.text(a)}, {self.text(b)}")

    def _pick(self, a: Any, b: Any, predicate: str) -> IRValue:
        # np.maximum / np.minimum: a NaN operand propagates (the first if both are NaN)
        x, y = self.text(a), self.text(b)
        a_nan = self.emit(f"fcmp uno {_VEC} {x}, {x}").ref
        any_nan = self.emit(f"fcmp uno {_VEC} {x}, {y}").ref
        nan_result = self.emit(f"select {_MASK} {a_nan}, {_VEC} {x}, {_VEC} {y}").ref
        keep_a = self.emit(f"fcmp {predicate} {_VEC} {x}, {y}").ref
        result = self.emit(f"select {_MASK} {keep_a}, {_VEC} {x}, {_VEC} {y}").ref
        return self.emit(f"select {_MASK} {any_nan}, {_VEC} {nan_result}, {_VEC} {result}")

    def max(self, *values: Any) -> IRValue:
        acc = values[0]  # polars' max_horizontal folds left to right
        for v in values[1:]:
            acc = self._pick(acc, v, "oge")
        return acc if isinstance(acc, IRValue) else self.constant(acc)

    def min(self, *values: Any) -> IRValue:
        acc = values[0]
        for v in values[1:]:
            acc = self._pick(acc, v, "ole")
        return acc if isinstance(acc, IRValue) else self.constant(acc)

    def constant(self, x: float) -> IRValue:
        # x + (-0.0) is x for every x, -0.0 included
        return self.binary("fadd", x, -0.0)

    def let(self, name: str, value: Any) -> IRValue:
        if name in self.values:
            raise ValueError(f"line item {name!r} is defined twice")
        v = value if isinstance(value, IRValue) else self.constant(value)
        self.names.append(name)
        self.values[name] = v
        return v


def _load(ops: IROps, column: str, index: str) -> IRValue:
    ptr = ops.tmp()
    ops.lines.append(f"{ptr} = getelementptr inbounds double, ptr {column}, i64 {index}")
    return ops.emit(f"load {_VEC}, ptr {ptr}, align 8")


@cache
def ir() -> tuple[str, tuple[str, ...]]:
    """The kernel's LLVM IR and the line items in the order of its output rows.

    ``void kernel(ptr F, ptr S, ptr D, ptr OUT, i64 ldo, i64 H, i64 lo, i64 hi)``: ``F``,
    ``S`` tables of column pointers (firm, scenario parameters), ``D`` a table of
    ``len(DRIVERS) * H`` column pointers (driver j of quarter k at ``j * H + k``),
    ``OUT`` a table of one pointer per line item (model order) to its ``H x ldo``
    64-byte aligned rows, or null where the item is not wanted; cases ``lo <= c < hi``
    (multiples of 8)."""
    ops = IROps()
    head: list[str] = []
    for j, _p in enumerate(ALL_FIRM_PARAMS):
        head += [
            f"%fp{j} = getelementptr inbounds ptr, ptr %F, i64 {j}",
            f"%fc{j} = load ptr, ptr %fp{j}",
        ]
    for j, _p in enumerate(SCENARIO_PARAMS):
        head += [
            f"%sp{j} = getelementptr inbounds ptr, ptr %S, i64 {j}",
            f"%sc{j} = load ptr, ptr %sp{j}",
        ]
    f = {p: _load(ops, f"%fc{j}", "%c") for j, p in enumerate(ALL_FIRM_PARAMS)}
    s = {p: _load(ops, f"%sc{j}", "%c") for j, p in enumerate(SCENARIO_PARAMS)}
    opening = opening_state(f, s, ops)
    open_ref = {x: ops.text(opening[x]) for x in STATE}
    case_lines, ops.lines = ops.lines, []

    d = {}
    for j, p in enumerate(DRIVERS):
        ops.lines += [
            f"%di{j} = add i64 %k, %drow{j}",
            f"%dp{j} = getelementptr inbounds ptr, ptr %D, i64 %di{j}",
            f"%dc{j} = load ptr, ptr %dp{j}",
        ]
        d[p] = _load(ops, f"%dc{j}", "%c")
    prev = {x: IRValue(ops, f"%p_{x}") for x in STATE}
    new = step(ops, f, s, prev, d)
    names = tuple(ops.names)
    # each line item is stored only where the caller asked for it (a null pointer in the
    # OUT table skips it: the Monte Carlo keeps 5 of 70); the branches are loop-invariant
    quarter_lines = ops.lines
    stores: list[str] = ["  %kc = add i64 %kl, %c", "  br i1 %w0, label %s0, label %n0"]
    for j, name in enumerate(names):
        stores += [
            f"s{j}:",
            f"  %op{j} = getelementptr inbounds double, ptr %ob{j}, i64 %kc",
            f"  store {_VEC} {ops.values[name].ref}, ptr %op{j}, align 64, !nontemporal !0",
            f"  br label %n{j}",
            f"n{j}:",
        ]
        if j + 1 < len(names):
            stores.append(f"  br i1 %w{j + 1}, label %s{j + 1}, label %n{j + 1}")
    latch = f"%n{len(names) - 1}"

    out = [
        "define void @kernel(ptr noalias readonly %F, ptr noalias readonly %S, ptr noalias readonly %D,"
        " ptr noalias readonly %OUT, i64 %ldo, i64 %H, i64 %lo, i64 %hi) {",
        "entry:",
        *(f"  %drow{j} = mul i64 %H, {j}" for j in range(len(DRIVERS))),
        *("  " + x for x in head),
        *(
            line
            for j in range(len(names))
            for line in (
                f"  %obp{j} = getelementptr inbounds ptr, ptr %OUT, i64 {j}",
                f"  %ob{j} = load ptr, ptr %obp{j}",
                f"  %w{j} = icmp ne ptr %ob{j}, null",
            )
        ),
        "  %none = icmp sge i64 %lo, %hi",
        "  br i1 %none, label %exit, label %case",
        "case:",
        "  %c = phi i64 [ %lo, %entry ], [ %c.next, %done ]",
        *("  " + x for x in case_lines),
        "  br label %quarter",
        "quarter:",
        f"  %k = phi i64 [ 0, %case ], [ %k.next, {latch} ]",
        *(
            f"  %p_{x} = phi {_VEC} [ {open_ref[x]}, %case ], [ {new[x].ref}, {latch} ]"
            for x in STATE
        ),
        "  %kl = mul i64 %k, %ldo",
        *("  " + x for x in quarter_lines),
        *stores,
        "  %k.next = add nuw nsw i64 %k, 1",
        "  %more = icmp slt i64 %k.next, %H",
        "  br i1 %more, label %quarter, label %done",
        "done:",
        f"  %c.next = add nuw nsw i64 %c, {WIDTH}",
        "  %cases = icmp slt i64 %c.next, %hi",
        "  br i1 %cases, label %case, label %exit",
        "exit:",
        "  fence seq_cst",  # non-temporal stores are weakly ordered: visible before return
        "  ret void",
        "}",
        "!0 = !{i32 1}",
    ]
    return "\n".join(out) + "\n", names


def item_names() -> tuple[str, ...]:
    """Every line item the kernel computes (model order)."""
    return ir()[1]


# --- compiling ---------------------------------------------------------------------------

_PROTO = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 4), *([ctypes.c_int64] * 4))
_lock = threading.Lock()
#: the execution engines (they own the machine code) and the compiled function
_state: dict[str, Any] = {}
#: (get, put) of an object-code cache by key, set by the run layer (which may write files)
_object_cache: tuple[Callable[[str], bytes | None], Callable[[str, bytes], None]] | None = None


def available() -> bool:
    try:
        import llvmlite.binding  # noqa: F401
    except ImportError:
        return False
    return True


def set_object_cache(
    cache: tuple[Callable[[str], bytes | None], Callable[[str, bytes], None]] | None,
) -> None:
    """Where the compiled kernel is kept between processes: ``(get, put)`` by key, or
    None (compile in memory). Errors of either are the caller's to swallow."""
    global _object_cache
    _object_cache = cache


def _target_machine() -> Any:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt=3,
        codemodel="jitdefault",
    )


def cache_key() -> str:
    """SHA-256 of what the machine code depends on: the IR, this CPU and its features,
    llvmlite's LLVM, the format."""
    import llvmlite
    import llvmlite.binding as llvm

    payload = "\n".join(
        [
            str(FORMAT),
            llvmlite.__version__,
            ".".join(map(str, llvm.llvm_version_info)),
            llvm.get_process_triple(),
            llvm.get_host_cpu_name(),
            llvm.get_host_cpu_features().flatten(),
            ir()[0],
        ]
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def object_code() -> bytes:
    """The kernel compiled for this machine (optimised at O3 without fast-math flags)."""
    import llvmlite.binding as llvm

    tm = _target_machine()
    module = llvm.parse_assembly(ir()[0])
    module.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(module, pb)
    return bytes(tm.emit_object(module))


def _link(obj: bytes) -> Callable[..., None]:
    import llvmlite.binding as llvm

    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine())
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address("kernel")
    if not address:
        raise RuntimeError("the compiled fused kernel has no 'kernel' symbol")
    _state.setdefault("engines", []).append(engine)
    return _PROTO(address)  # type: ignore[no-any-return]


def compiled() -> Callable[..., None]:
    """The kernel, compiled (or loaded from the object cache) once per process."""
    fn = _state.get("kernel")
    if fn is not None:
        return fn  # type: ignore[no-any-return]
    with _lock:
        if "kernel" in _state:
            return _state["kernel"]  # type: ignore[no-any-return]
        obj = None
        key = None
        if _object_cache is not None:
            key = cache_key()
            try:
                obj = _object_cache[0](key)
            except Exception:
                obj = None
        fn = None
        if obj is not None:
            try:
                fn = _link(obj)
                _state["source"] = "object cache"
            except Exception:
                fn = None
        if fn is None:
            obj = object_code()
            fn = _link(obj)
            _state["source"] = "compiled"
            if _object_cache is not None and key is not None:
                # an unwritable cache only costs the next process a compile
                with contextlib.suppress(Exception):
                    _object_cache[1](key, obj)
        _state["kernel"] = fn
        return fn


def compile_source() -> str | None:
    """How this process got the kernel: ``compiled``, ``object cache`` or None (not yet)."""
    return _state.get("source")


# --- running -----------------------------------------------------------------------------

_pool: dict[int, ThreadPoolExecutor] = {}


def threads() -> int:
    """Threads a large projection uses: the CPUs this process may run on."""
    if "threads" in _state:
        return int(_state["threads"])
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def set_threads(n: int | None) -> None:
    """Fix the thread count (None: the CPUs available)."""
    if n is None:
        _state.pop("threads", None)
    else:
        if n < 1:
            raise ValueError("at least one thread")
        _state["threads"] = int(n)


def _executor(n: int) -> ThreadPoolExecutor:
    ex = _pool.get(n)
    if ex is None:
        ex = _pool[n] = ThreadPoolExecutor(n, thread_name_prefix="stressmodel-fused")
    return ex


#: output blocks of this size or more are kept for reuse once their frame is dropped
REUSE_MIN_BYTES = 16 * 1024 * 1024
#: blocks kept (in use or free): the most recent ones
_KEEP = 2
_blocks: list[np.ndarray] = []


def _aligned_block(shape: tuple[int, ...]) -> np.ndarray:
    """A 64-byte aligned float64 block. A large block whose frame has been dropped is
    reused: fresh memory costs a page fault per page on first touch, more than the
    kernel's own stores on the development machine (docs/model.md, "Engines")."""
    total = int(np.prod(shape))
    need = total + WIDTH
    raw = None
    if need * 8 >= REUSE_MIN_BYTES:
        with _lock:
            for block in _blocks:
                # references: the list, ``block`` and getrefcount's argument; each live
                # view of the block (every polars column chunk holds one) adds one
                if block.size >= need and sys.getrefcount(block) <= 3:
                    raw = block
                    break
            if raw is None:
                raw = np.empty(need, dtype=np.float64)
                _blocks.append(raw)
                del _blocks[:-_KEEP]
    else:
        raw = np.empty(need, dtype=np.float64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip : skip + total].reshape(shape)


def release() -> None:
    """Drop the kept output blocks (frames still using one keep it alive)."""
    with _lock:
        _blocks.clear()


def _table(columns: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([c.ctypes.data for c in columns], dtype=np.uintp)


def run(
    firm: Sequence[np.ndarray],
    scenario: Sequence[np.ndarray],
    drivers: Sequence[np.ndarray],
    horizon: int,
    *,
    items: Sequence[str] | None = None,
    n_threads: int | None = None,
) -> np.ndarray:
    """Evaluate the kernel. ``firm``/``scenario``: one contiguous float64 array per
    parameter (model order), ``drivers``: one per (driver j, quarter k) at ``j * H + k``,
    each of ``n`` cases; ``items``: the line items to keep (default every one, model
    order; the others are computed but never stored). Returns the block
    ``len(items) x H x ldo`` in the order of ``items``; ``[:, :, :n]`` holds the cases."""
    n = int(firm[0].shape[0]) if firm else 0
    if len(firm) != len(ALL_FIRM_PARAMS) or len(scenario) != len(SCENARIO_PARAMS):
        raise ValueError("one column per firm and scenario parameter is needed")
    if len(drivers) != len(DRIVERS) * horizon:
        raise ValueError("one column per driver and quarter is needed")
    for c in (*firm, *scenario, *drivers):
        if c.dtype != np.float64 or c.ndim != 1 or c.shape[0] != n or not c.flags.c_contiguous:
            raise ValueError("kernel columns must be contiguous float64 arrays of one length")
    names = item_names()
    wanted = list(names) if items is None else list(items)
    position = {name: j for j, name in enumerate(names)}
    unknown = [x for x in wanted if x not in position]
    if unknown or len(set(wanted)) != len(wanted):
        raise ValueError(f"unknown or repeated line items: {unknown or wanted}")
    ldo = -(-n // WIDTH) * WIDTH
    out = _aligned_block((len(wanted), horizon, ldo))
    if n == 0 or horizon == 0 or not wanted:
        return out
    fn = compiled()
    main = n // WIDTH * WIDTH
    row_bytes = horizon * ldo * 8
    base = out.ctypes.data

    def out_table(offset: int) -> np.ndarray:
        table = np.zeros(len(names), dtype=np.uintp)
        for i, name in enumerate(wanted):
            table[position[name]] = base + i * row_bytes + offset
        return table

    tables = [_table(firm), _table(scenario), _table(drivers), out_table(0)]
    ptrs = [t.ctypes.data for t in tables]
    if main:
        t = n_threads if n_threads is not None else threads()
        t = 1 if main < PARALLEL_MIN_CASES else max(1, min(t, main // WIDTH))
        bounds = [main * i // t // WIDTH * WIDTH for i in range(t)] + [main]
        calls = [(*ptrs, ldo, horizon, bounds[i], bounds[i + 1]) for i in range(t)]
        if t == 1:
            fn(*calls[0])
        else:
            for f in [_executor(t).submit(fn, *a) for a in calls]:
                f.result()
    if main < n:
        # the last n mod 8 cases: a padded copy (the last case repeated), stored into the
        # padding of each row (the rows start 64-byte aligned and main is a multiple of 8)
        cols = (*firm, *scenario, *drivers)
        pad = [np.full(WIDTH, c[n - 1]) for c in cols]
        for p, c in zip(pad, cols, strict=True):
            p[: n - main] = c[main:]
        k1, k2 = len(firm), len(firm) + len(scenario)
        small = [_table(pad[:k1]), _table(pad[k1:k2]), _table(pad[k2:]), out_table(8 * main)]
        fn(*(x.ctypes.data for x in small), ldo, horizon, 0, WIDTH)
        del pad, small
    del tables
    return out
