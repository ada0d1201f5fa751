"""Fake quantizers: MLX ops that give, bit for bit, the weights llama.cpp will compute with.

A LoRA'd matrix reaches llama.cpp as fp32 → F16 GGUF → `llama_model_quantize` (ggml's reference
quantizers, `quantize_row_*_ref`, no imatrix) → dequantized at inference. Training against those exact
values is what lets unlearning survive quantization, so every step mirrors ggml-quants.c: fp32 operations
in C's order (ggml-base is built for baseline x86-64: no fused multiply-add), C's left-to-right sums (a
cumulative sum), truncating casts where C casts, roundf (half away from zero) for Q8_0, ggml's
`nearest_int` (half to even) for the K-quants, and fp16 wherever ggml stores a scale. All blocks are
computed at once; the K-quants' scale searches loop over their trial grids, since each trial starts from
the best fit so far. Measured against ggml through ctypes (edgeunlearn.quantize.ggml_oracle): every type
equal on every weight of SmolLM2-135M plus a low-rank update (benchmarks/fake_quant_fidelity.py).
The rounding has no useful gradient: train through it straight-through, `w + stop_gradient(fq(w) - w)`.

Milliseconds per million weights, one (1024, 1024) matrix, median of 5, 2-core Zen 5 dev box, mlx 0.32.4
with OpenBLAS preloaded, box lightly loaded (with two other jobs running: 1.5-2x these). mx.compile keeps
every type exact but did not make it faster.
    F16 2.8   BF16 3.3   Q4_0 5.4   Q4_1 5.3   Q5_0 5.3   Q5_1 5.2   Q8_0 6.4
    Q2_K 106  Q3_K 68    Q4_K 124   Q5_K 99    Q6_K 68
ggml's C runs Q4_K at ~22 M weights/s on one thread: the K-quants' scale searches are the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mlx.core as mx
import numpy as np

from edgeunlearn.registry import Registry

QK = 32  # legacy block length (Q4_0 … Q8_0)
QK_K = 256  # K-quant super-block length
GROUP_MAX_EPS = 1e-15


@dataclass(frozen=True)
class FakeQuant:
    name: str
    block: int  # rows must be a multiple of this
    fn: Callable[[mx.array], mx.array]  # (n_blocks, block) fp16-exact values → dequantized values


FAKE_QUANTIZERS: Registry[FakeQuant] = Registry("fake quantization type")


def fake_quantize(w: mx.array, ggml_type: str) -> mx.array:
    """`w` (..., n) as llama.cpp computes with it after an F16 GGUF is quantized to `ggml_type`."""
    fq = FAKE_QUANTIZERS.get(ggml_type)
    if w.shape[-1] % fq.block:
        raise ValueError(f"{ggml_type} needs rows of a multiple of {fq.block} values, got {w.shape[-1]}")
    x = w.astype(mx.float32)
    if fq.name != "F32":
        x = _f16(x)  # the F16 GGUF the quantizer reads
    return fq.fn(x.reshape(-1, fq.block)).reshape(w.shape)


def fake_types() -> list[str]:
    return FAKE_QUANTIZERS.names()


# ---- primitives: each mirrors one C idiom. The K-quant searches hold sub-blocks as columns, (n, ns):
# C's sequential sums become a scan along axis 0, which MLX runs ~3x faster than along the last axis.


def _f16(x: mx.array) -> mx.array:
    """GGML_FP32_TO_FP16 then back: round to nearest even, subnormals kept."""
    return x.astype(mx.float16).astype(mx.float32)


def _trunc(x: mx.array) -> mx.array:
    """C's float → int cast (toward zero)."""
    return x.astype(mx.int32).astype(mx.float32)


def _roundf(x: mx.array) -> mx.array:
    """C's roundf: half away from zero (x - trunc(x) is exact in fp32). Arithmetic, not mx.where: faster."""
    t = _trunc(x)
    return t + mx.sign(x) * (mx.abs(x - t) >= 0.5)


def _rne(x: mx.array) -> mx.array:
    """ggml's nearest_int for |x| < 2^22 (all it asserts): adding 1.5·2^23 leaves no fraction bits, so fp32
    rounds half to even; subtracting it back is exact. Cheaper than mx.round, same values."""
    return (x + 12582912.0) - 12582912.0


def _nearest_int(x: mx.array) -> mx.array:
    """nearest_int bit for bit, also beyond 2^22 (or inf/nan), where C reads wrapped mantissa bits."""
    bits = mx.view(x + 12582912.0, mx.int32)
    return ((bits & 0x007FFFFF) - 0x00400000).astype(mx.float32)


def _inv(d: mx.array) -> mx.array:
    """`d ? 1.0f/d : 0.0f`."""
    return mx.where(d != 0, 1.0 / d, 0.0)


def _nonzero(d: mx.array) -> mx.array:
    """`d` with zeros replaced by 1: where C skips a sub-block (`if (!d) continue`), dividing by it stays
    finite and the value is still multiplied by the real d = 0."""
    return mx.where(d == 0, 1.0, d)


def _seqsum(v: mx.array) -> mx.array:
    """C's `for (i...) s += v[i]` in fp32: a left-to-right scan, not a tree reduction.  (n, ns) → (1, ns)"""
    return mx.cumsum(v, axis=0)[-1:]


def _signed_absmax(x: mx.array, axis: int) -> mx.array:
    """The first value of largest magnitude (C's `if (amax < fabsf(v))`; argmax returns the first)."""
    return mx.take_along_axis(x, mx.argmax(mx.abs(x), axis=axis, keepdims=True), axis=axis)


def _columns(x: mx.array, n: int) -> mx.array:
    """(nb, 256) super-blocks → (n, ns) sub-blocks of n values as columns."""
    return mx.contiguous(x.reshape(-1, n).T)


def _trial(base: float, delta: float, k: int, plus: float = 0.0) -> mx.array:
    """`base + delta*k + plus` as C evaluates it, in fp32 left to right (`rmin + rdelta*is + nmax`)."""
    f = np.float32
    return mx.array(f(f(f(base) + f(f(delta) * f(k))) + f(plus)))


# ---- legacy types: one scale (and min) per 32 values ---------------------------------------------------


def _q8_0(x: mx.array) -> mx.array:  # (nb, 32)
    d = mx.max(mx.abs(x), axis=-1, keepdims=True) / 127  # (nb, 1)
    return _roundf(x * _inv(d)) * _f16(d)


def _symmetric(half: int) -> Callable[[mx.array], mx.array]:
    """Q4_0 (half=8) / Q5_0 (16): d = max/-half with max the signed value of largest magnitude."""

    def quantize(x: mx.array) -> mx.array:  # (nb, 32)
        d = _signed_absmax(x, -1) / -half  # (nb, 1)
        q = mx.minimum(2 * half - 1, _trunc(x * _inv(d) + (half + 0.5)))
        return (q - half) * _f16(d)

    return quantize


def _affine(nmax: int, clamp: bool) -> Callable[[mx.array], mx.array]:
    """Q4_1 (nmax=15, clamped) / Q5_1 (31, C does not clamp): d = (max-min)/nmax, m = min."""

    def quantize(x: mx.array) -> mx.array:  # (nb, 32)
        lo = mx.min(x, axis=-1, keepdims=True)  # (nb, 1)
        d = (mx.max(x, axis=-1, keepdims=True) - lo) / nmax
        q = _trunc((x - lo) * _inv(d) + 0.5)
        q = mx.minimum(q, nmax) if clamp else q
        return q * _f16(d) + _f16(lo)

    return quantize


# ---- K-quant scale searches (ggml's make_* helpers), on sub-blocks as columns (n, ns) ------------------


def _qkx2(x: mx.array, w: mx.array, nmax: int, rmin: float, rdelta: float, nstep: int, mad: bool):
    """make_qkx2_quants: weighted least-squares fit of (scale, min) over nstep+1 trial grids.
    x, w: (n, ns) → scale, the_min (1, ns). `mn` is carried: each trial grid starts from the best min so far."""
    err = mx.abs if mad else mx.square
    lo = mx.minimum(mx.min(x, axis=0, keepdims=True), 0.0)  # (1, ns)
    hi = mx.max(x, axis=0, keepdims=True)
    sum_w, sum_x = _seqsum(w), _seqsum(w * x)
    iscale = nmax / (hi - lo)
    scale, mn = 1.0 / iscale, lo
    best = _seqsum(w * err(scale * mx.clip(_rne(iscale * (x - lo)), 0, nmax) + mn - x))
    for k in range(nstep + 1):
        q = mx.clip(_rne(_trial(rmin, rdelta, k, nmax) / (hi - mn) * (x - mn)), 0, nmax)  # (n, ns)
        wl = w * q
        sum_l, sum_l2, sum_xl = _seqsum(wl), _seqsum(wl * q), _seqsum(wl * x)
        det = sum_w * sum_l2 - sum_l * sum_l
        t_scale = (sum_w * sum_xl - sum_x * sum_l) / det
        t_min = (sum_l2 * sum_x - sum_l * sum_xl) / det
        t_scale = mx.where(t_min > 0, sum_xl / sum_l2, t_scale)
        t_min = mx.where(t_min > 0, 0.0, t_min)
        cur = _seqsum(w * err(t_scale * q + t_min - x))
        take = (det > 0) & (cur < best)
        best, scale, mn = mx.where(take, cur, best), mx.where(take, t_scale, scale), mx.where(take, t_min, mn)
    flat = hi == lo
    return mx.where(flat, 0.0, scale), -mx.where(flat, lo, mn)


def _qx(x: mx.array, nmax: int) -> mx.array:
    """make_qx_quants(rmse_type=1, no imatrix): symmetric scale, weights x², 19 trial grids.  (n, ns) → (1, ns)"""
    top = _signed_absmax(x, 0)  # (1, ns)
    w = x * x
    wx = w * x

    def sums(iscale):
        q = mx.clip(_rne(iscale * x), -nmax, nmax - 1)  # (n, ns)
        return _seqsum(wx * q), _seqsum(w * q * q)

    sumlx, suml2 = sums(-nmax / top)
    scale = mx.where(suml2 != 0, sumlx / suml2, 0.0)
    best = scale * sumlx
    for k in (*range(-9, 0), *range(1, 10)):
        sumlx, suml2 = sums(-_trial(nmax, 0.1, k) / top)
        take = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        scale = mx.where(take, sumlx / suml2, scale)
        best = mx.where(take, scale * sumlx, best)
    return mx.where(mx.abs(top) < GROUP_MAX_EPS, 0.0, scale)


def _q3(x: mx.array) -> mx.array:
    """make_q3_quants(nmax=4, do_rmse): a start grid, then up to 5 sweeps of one-value-at-a-time moves that
    raise (Σwxl)²/Σwl², w = x². Sweeps run for every sub-block; one with no move stays put, as C's break.
    (16, ns) → (1, ns)"""
    top = _signed_absmax(x, 0)
    w = x * x
    wx = w * x
    L = mx.clip(_rne(-4 / top * x), -4, 3)  # (16, ns)
    sumlx, suml2 = _seqsum(wx * L), _seqsum(w * L * L)
    rows = [L[i : i + 1] for i in range(x.shape[0])]
    for _ in range(5):
        for i, li in enumerate(rows):
            xi, wi, wxi = x[i : i + 1], w[i : i + 1], wx[i : i + 1]  # (1, ns)
            slx0 = sumlx - wxi * li
            sl2 = suml2 - wi * li * li
            new = mx.clip(_nearest_int(xi * sl2 / slx0), -4, 3)  # slx0 may be tiny: keep C's wrap-around
            slx, sl2 = slx0 + wxi * new, sl2 + wi * new * new
            take = (slx0 > 0) & (new != li) & (sl2 > 0) & (slx * slx * suml2 > sumlx * sumlx * sl2)
            rows[i] = mx.where(take, new, li)
            sumlx, suml2 = mx.where(take, slx, sumlx), mx.where(take, sl2, suml2)
    scale = mx.where(suml2 > 0, sumlx / suml2, 0.0)
    return mx.where(mx.abs(top) < GROUP_MAX_EPS, 0.0, scale)


def _u8_min63(v: mx.array) -> mx.array:
    """`uint8_t v = nearest_int(..); v = MIN(63, v)`: a negative int wraps before the MIN."""
    return mx.minimum(mx.where(v < 0, v + 256, v), 63)


# ---- K-quants: 256-value super-blocks; sub-block scales come back as (nb, S), values as (nb, S, n) -----


def _min_k(nmax: int, rmin: float, nstep: int) -> Callable[[mx.array], mx.array]:
    """Q4_K (nmax=15) / Q5_K (31): 8 sub-blocks of 32 with a scale and a min each, both quantized to 6 bits
    against fp16 super-scales d = max_scale/63, dmin = max_min/63."""

    def quantize(x: mx.array) -> mx.array:  # (nb, 256)
        xs = _columns(x, 32)  # (32, nb*8)
        av_x = mx.sqrt(_seqsum(xs * xs) / 32)
        scales, mins = _qkx2(xs, av_x + mx.abs(xs), nmax, rmin, 0.1, nstep, mad=False)
        scales, mins = scales.reshape(-1, 8), mins.reshape(-1, 8)  # (nb, 8)
        top_s = mx.maximum(mx.max(scales, axis=-1, keepdims=True), 0.0)
        top_m = mx.maximum(mx.max(mins, axis=-1, keepdims=True), 0.0)
        ls = _u8_min63(_rne(mx.where(top_s > 0, 63.0 / top_s, 0.0) * scales))
        lm = _u8_min63(_rne(mx.where(top_m > 0, 63.0 / top_m, 0.0) * mins))
        d = (_f16(top_s / 63.0) * ls)[..., None]  # (nb, 8, 1)
        dm = (_f16(top_m / 63.0) * lm)[..., None]
        q = mx.clip(_rne((x.reshape(-1, 8, 32) + dm) / _nonzero(d)), 0, nmax)
        return d * q - dm

    return quantize


def _q6_k(x: mx.array) -> mx.array:  # (nb, 256)
    """16 sub-blocks of 16, symmetric 6-bit values, int8 sub-scales against an fp16 d = max_scale/-128."""
    scales = _qx(_columns(x, 16), 32).reshape(-1, 16)  # (nb, 16)
    top = _signed_absmax(scales, -1)  # (nb, 1)
    iscale = -128.0 / top
    d = _f16(1.0 / iscale) * mx.minimum(127, _rne(iscale * scales))
    d = mx.where(mx.abs(top) < GROUP_MAX_EPS, 0.0, d)[..., None]  # (nb, 16, 1); C zeroes the whole block
    q = mx.clip(_rne(x.reshape(-1, 16, 16) / _nonzero(d)), -32, 31)
    return d * q


def _q3_k(x: mx.array) -> mx.array:  # (nb, 256)
    """16 sub-blocks of 16, 3-bit values, 6-bit signed sub-scales against an fp16 d = max_scale/-32."""
    scales = _q3(_columns(x, 16)).reshape(-1, 16)  # (nb, 16)
    top = _signed_absmax(scales, -1)
    iscale = -32.0 / top
    sc = mx.clip(_rne(iscale * scales), -32, 31)  # C: int8_t, clamped, +32, stored in 6 bits
    d = mx.where(top != 0, _f16(1.0 / iscale) * sc, 0.0)[..., None]  # (nb, 16, 1)
    q = mx.clip(_rne(x.reshape(-1, 16, 16) / _nonzero(d)), -4, 3)
    return d * q


def _q2_k(x: mx.array) -> mx.array:  # (nb, 256)
    """16 sub-blocks of 16, 2-bit values, a 4-bit scale and min each against fp16 d, dmin (= max/15)."""
    xs = _columns(x, 16)  # (16, nb*16)
    scales, mins = _qkx2(xs, mx.abs(xs), 3, -0.5, 0.1, 15, mad=True)
    scales, mins = scales.reshape(-1, 16), mins.reshape(-1, 16)  # (nb, 16)
    top_s = mx.maximum(mx.max(scales, axis=-1, keepdims=True), 0.0)
    top_m = mx.maximum(mx.max(mins, axis=-1, keepdims=True), 0.0)
    ls = mx.where(top_s > 0, _rne(15.0 / top_s * scales), 0).astype(mx.int32)
    lm = mx.where(top_m > 0, _rne(15.0 / top_m * mins), 0).astype(mx.int32)
    byte = (ls | (lm << 4)) & 0xFF  # the packed scales byte: low nibble scale, high nibble min
    d = (_f16(top_s / 15.0) * (byte & 0xF))[..., None]  # (nb, 16, 1)
    dm = (_f16(top_m / 15.0) * (byte >> 4))[..., None]
    q = mx.clip(_rne((x.reshape(-1, 16, 16) + dm) / _nonzero(d)), 0, 3)
    return d * q - dm


def _register() -> None:
    types = {
        "F32": (1, lambda x: x),
        "F16": (1, lambda x: x),  # fake_quantize already rounded to fp16
        "BF16": (1, lambda x: x.astype(mx.bfloat16).astype(mx.float32)),  # F16 file → BF16: two roundings
        "Q8_0": (QK, _q8_0),
        "Q4_0": (QK, _symmetric(8)),
        "Q5_0": (QK, _symmetric(16)),
        "Q4_1": (QK, _affine(15, clamp=True)),
        "Q5_1": (QK, _affine(31, clamp=False)),
        "Q2_K": (QK_K, _q2_k),
        "Q3_K": (QK_K, _q3_k),
        "Q4_K": (QK_K, _min_k(15, -1.0, 20)),
        "Q5_K": (QK_K, _min_k(31, -0.5, 15)),
        "Q6_K": (QK_K, _q6_k),
    }
    for name, (block, fn) in types.items():
        FAKE_QUANTIZERS.register(name, FakeQuant(name, block, fn))


_register()
