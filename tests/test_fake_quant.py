"""The MLX fake quantizers against ggml's own quantizers (the C code llama.cpp quantizes models with).

Exactness is the point: training sees the weights llama.cpp will compute with. Every type is exact on
every matrix measured (synthetic, grid + low-rank, SmolLM2 + low-rank: benchmarks/fake_quant_fidelity.py),
so each type is held to 99.9% of elements equal, bit for bit.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from edgeunlearn.errors import UserError
from edgeunlearn.quantize.fake import fake_quantize, fake_types
from edgeunlearn.quantize.ggml_oracle import ggml_roundtrip

LEGACY = ("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1")
K_QUANTS = ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")


def _realistic(rng, shape, scale=0.04) -> np.ndarray:
    """Normal rows with a few outliers (8× larger), as in trained projections."""
    w = rng.standard_normal(shape).astype(np.float32) * scale
    w[rng.random(shape) < 0.003] *= 8
    return w


def _low_rank(rng, base: np.ndarray, share=0.02, rank=8) -> np.ndarray:
    """`base` plus a rank-8 update of `share` of its norm: what a fused LoRA unlearning update looks like."""
    up = rng.standard_normal((base.shape[0], rank)) @ rng.standard_normal((rank, base.shape[1]))
    return (base + share * np.linalg.norm(base) / np.linalg.norm(up) * up).astype(np.float32)


@pytest.fixture(scope="module")
def matrices() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    on_grid = ggml_roundtrip(_realistic(rng, (64, 1536), 0.05), "Q4_1")  # a base that sits on a GGUF grid
    return {
        "576 wide": _realistic(rng, (64, 576)),
        "1536 wide": _realistic(rng, (64, 1536), 0.1),
        "grid + low-rank": _low_rank(rng, on_grid),
    }


def _exact_share(w: np.ndarray, ggml_type: str) -> float:
    return float(np.mean(np.array(fake_quantize(mx.array(w), ggml_type)) == ggml_roundtrip(w, ggml_type)))


@pytest.mark.parametrize("ggml_type", ("F32", "F16", "BF16", *LEGACY, *K_QUANTS))
def test_fake_quantize_matches_ggml(matrices, ggml_type):
    for name, w in matrices.items():
        if ggml_type in K_QUANTS and w.shape[-1] % 256:
            continue  # llama.cpp never writes a K-quant for such rows
        assert _exact_share(w, ggml_type) >= 0.999, (name, ggml_type)


@pytest.mark.parametrize("ggml_type", LEGACY)
def test_fake_output_is_a_fixed_point_of_ggml(matrices, ggml_type):
    """Weights already on the grid come back unchanged from llama.cpp's quantizer."""
    on_grid = np.array(fake_quantize(mx.array(matrices["1536 wide"]), ggml_type))
    np.testing.assert_array_equal(ggml_roundtrip(on_grid, ggml_type), on_grid)


def test_q4_0_block_by_hand():
    """x_j = (j-16)/16: max = -1 (largest magnitude, signed), d = max/-8 = 1/8, id = 8,
    q_j = min(15, trunc(x_j*8 + 8.5)) = min(15, trunc(j/2 + 0.5)), value (q_j - 8)/8."""
    x = (np.arange(32) - 16) / 16
    expected = [(min(15, (j + 1) // 2) - 8) / 8 for j in range(32)]
    out = np.array(fake_quantize(mx.array(x[None].astype(np.float32)), "Q4_0"))[0]
    np.testing.assert_array_equal(out, expected)
    assert out[1] == -0.875 and out[31] == 0.875  # -7.5 truncates up to -7; 8 is clipped to 7


def test_q8_0_block_by_hand():
    """x_0 = 127/64 sets d = amax/127 = 1/64; x_j = (j - 15.5)/64 puts every other value on a tie
    x/d = ±0.5, ±1.5, …, which roundf sends away from zero: q_j = j-15 above the middle, j-16 below."""
    x = np.array([127 / 64] + [(j - 15.5) / 64 for j in range(1, 32)], dtype=np.float32)
    expected = [127 / 64] + [(j - 15 if j >= 16 else j - 16) / 64 for j in range(1, 32)]
    out = np.array(fake_quantize(mx.array(x[None]), "Q8_0"))[0]
    np.testing.assert_array_equal(out, expected)


def test_rows_off_the_block_size_are_refused():
    with pytest.raises(ValueError, match="multiple of 256"):
        fake_quantize(mx.zeros((2, 576)), "Q4_K")
    with pytest.raises(ValueError, match="multiple of 32"):
        fake_quantize(mx.zeros((2, 48)), "Q8_0")


def test_unknown_type_lists_the_valid_ones():
    with pytest.raises(UserError, match="Q4_K"):
        fake_quantize(mx.zeros((1, 32)), "Q4_X")
    assert {"F16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"} <= set(fake_types())


def test_shape_and_dtype_are_kept():
    w = mx.array(_realistic(np.random.default_rng(1), (3, 2, 256)).astype(np.float16))
    out = fake_quantize(w, "Q5_K")
    assert out.shape == w.shape and out.dtype == mx.float32


def test_rounding_primitives_follow_c():
    """C's three roundings, values worked out by hand: (int) truncates, roundf sends halves away from zero,
    nearest_int (1.5·2^23 added in fp32) sends them to even."""
    from edgeunlearn.quantize.fake import _nearest_int, _rne, _roundf, _trunc

    x = mx.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 2.7, -2.7])
    assert np.array(_trunc(x)).tolist() == [0, 1, 2, 0, -1, -2, 0, 2, -2]
    assert np.array(_roundf(x)).tolist() == [1, 2, 3, -1, -2, -3, 0, 3, -3]
    assert np.array(_rne(x)).tolist() == [0, 2, 2, 0, -2, -2, 0, 3, -3]
    assert np.array(_nearest_int(x)).tolist() == [0, 2, 2, 0, -2, -2, 0, 3, -3]
    # beyond 2^22 C reads the mantissa field anyway: 5e6 + 1.5·2^23 = 17582912 lies in [2^24, 2^25), where
    # the fp32 step is 2, so the field holds (17582912 - 2^24)/2 = 402848, and 402848 - 2^22 = -3791456
    assert np.array(_nearest_int(mx.array([5e6])))[0] == (17582912 - 2**24) // 2 - 2**22
