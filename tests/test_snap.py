"""Snapping the unlearned weights onto the base's own grid (`train.snap_gains`), on real llama.cpp files: a
small update vanishes when the fused model is re-quantized to the grid the base came on; the snapped weights
are what ggml computes for W0 + g·update, and llama.cpp stores them exactly."""

import numpy as np
import pytest
from conftest import random_lora_update

from edgeunlearn.backends.mlx_backend import MLXBackend
from edgeunlearn.config import RunConfig, TrainConfig
from edgeunlearn.export import export_gguf
from edgeunlearn.models.architectures import common
from edgeunlearn.pipeline.adapters import load_unlearned, write_adapter_config
from edgeunlearn.pipeline.robust import hf_tensor_types
from edgeunlearn.quantize.ggml_oracle import ggml_roundtrip
from edgeunlearn.quantize.llamacpp import quantize_gguf
from edgeunlearn.training.snap import Snap, fuse, snapped_weights
from edgeunlearn.training.trainer import ADAPTER_FILE, save_adapter
from edgeunlearn.training.until import Standing, pick_gain

GRID = "Q4_1"
LORA = dict(rank=4, scale=20.0, dropout=0.0, keys=(), layers=-1)


@pytest.fixture(scope="module")
def grid_types(tiny_model, tmp_path_factory):
    """Which ggml type each tiny-model matrix holds in a real llama.cpp Q4_1 file."""
    folder = tmp_path_factory.mktemp("grid")
    f16 = export_gguf(MLXBackend(tiny_model).weights(), tiny_model, folder / "F16.gguf", None)
    return hf_tensor_types(quantize_gguf(f16, folder / f"{GRID}.gguf", GRID), tiny_model)


def _on_grid_with_update(tiny_model, grid_types, relative: float, on_grid: bool = True):
    """The tiny model with every LoRA'd matrix moved onto ggml's Q4_1 grid (a base that came as Q4_1; unless
    not `on_grid`), plus a random LoRA update of `relative` × each weight's rms — far less than half a Q4_1 step."""
    import mlx.core as mx

    backend = MLXBackend(tiny_model)
    backend.add_lora(LORA["rank"], LORA["scale"], LORA["dropout"], LORA["keys"], LORA["layers"])
    for name, layer in backend.named_lora_layers():
        if on_grid:
            layer.linear.weight = mx.array(ggml_roundtrip(np.array(layer.linear.weight), grid_types[name + ".weight"]))
    random_lora_update(backend, relative, seed=5)
    return backend


def _parts(backend) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{HF name: (W0, update)} of every LoRA'd matrix, in numpy."""
    return {
        name + ".weight": (
            np.array(layer.linear.weight),
            np.array((layer.scale * layer.lora_b.T) @ layer.lora_a.T),
        )
        for name, layer in backend.named_lora_layers()
    }


def _stored_in_file(backend, tiny_model, folder, names) -> dict[str, np.ndarray]:
    """Export the (fused) model to F16, quantize it to Q4_1 with llama.cpp, read the matrices back."""
    import gguf

    from edgeunlearn.models import architectures
    from edgeunlearn.models.architectures import llama

    config = __import__("json").loads((tiny_model / "config.json").read_text())
    f16 = export_gguf(backend.weights(), tiny_model, folder / "F16.gguf", None)
    to_hf = common.hf_names_by_gguf(architectures.for_model_type("llama"), config)
    out = {}
    for t in gguf.GGUFReader(str(quantize_gguf(f16, folder / f"{GRID}.gguf", GRID))).tensors:
        name = to_hf.get(t.name)
        if name in names:
            w = gguf.quants.dequantize(t.data, t.tensor_type).reshape(int(t.shape[1]), int(t.shape[0]))
            heads = llama.permuted_heads(name, config)
            out[name] = llama.from_llamacpp_rows(w, heads) if heads else w
    return out


def _share_equal(a: dict, b: dict) -> float:
    return sum(int((a[n] == b[n]).sum()) for n in a) / sum(a[n].size for n in a)


def _alignment(stored: dict, parts: dict) -> float:
    """Mean cosine between what the file changed (stored − W0) and the update: how much of it survived."""
    cos = []
    for n, (w0, update) in parts.items():
        change = stored[n] - w0
        cos.append(float((change * update).sum() / (np.linalg.norm(change) * np.linalg.norm(update) + 1e-30)))
    return float(np.mean(cos))


def test_a_small_update_vanishes_on_the_base_grid_and_a_snapped_one_is_stored_exactly(tiny_model, grid_types, tmp_path):
    gain, relative = 12.0, 0.01  # the update: 1% of each weight's rms, as an unlearning update is
    backend = _on_grid_with_update(tiny_model, grid_types, relative)
    parts = _parts(backend)
    # by ggml's own quantizer: W0 + gain·update through the F16 export and Q4_1
    expected = {n: ggml_roundtrip(w0 + gain * d, grid_types[n]) for n, (w0, d) in parts.items()}
    snapped = {n: np.array(w) for n, w in snapped_weights(backend, grid_types, gain).items()}
    assert set(snapped) == set(parts) and _share_equal(snapped, expected) >= 0.999

    plain = _on_grid_with_update(tiny_model, grid_types, relative)
    plain.fuse_lora()
    requantized = _stored_in_file(plain, tiny_model, _folder(tmp_path, "plain"), set(parts))
    # re-quantized as it is, the file changes the base by rounding noise nearly orthogonal to the update
    # (measured cosine 0.07)
    assert _alignment(requantized, parts) < 0.2

    fuse(backend, Snap(GRID, gain, grid_types))
    fused = {n: np.array(w) for n, w in backend.weights().items() if n in parts}
    assert _share_equal(fused, snapped) == 1.0  # the full-precision model is the snapped one
    stored = _stored_in_file(backend, tiny_model, _folder(tmp_path, "snapped"), set(parts))
    assert _share_equal(stored, snapped) >= 0.999  # and llama.cpp's Q4_1 file holds it as it is
    assert _alignment(stored, parts) > 0.8  # a change along the update (measured 0.89)


def test_the_snap_is_rebuilt_from_the_adapter_folder(tiny_model, grid_types, tmp_path):
    """What `export` and `check --model RUN` rebuild from an unlearn run folder: the same snapped weights."""
    backend = _on_grid_with_update(tiny_model, grid_types, relative=0.01, on_grid=False)  # the folder's own base
    adapter = tmp_path / "adapter"
    save_adapter(backend.model, adapter / ADAPTER_FILE)
    train = TrainConfig(lora_rank=LORA["rank"], lora_scale=LORA["scale"])
    write_adapter_config(adapter, RunConfig(model=str(tiny_model), train=train))
    Snap(GRID, 8.0, grid_types).save(adapter)
    assert Snap.load(adapter) == Snap(GRID, 8.0, grid_types)
    expected = {n: np.array(w) for n, w in snapped_weights(backend, grid_types, 8.0).items()}
    _, rebuilt = load_unlearned(adapter)
    got = {n: np.array(w) for n, w in rebuilt.weights().items() if n in expected}
    assert set(got) == set(expected) and _share_equal(got, expected) == 1.0


def _folder(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    return path


def _standing(forgotten: float, kept: float) -> Standing:
    return Standing(0, {"full": 1.0, "Q4_0": forgotten}, {"full": kept, "Q4_0": 1.0}, {"full": 1.0})


def test_pick_gain_by_hand():
    tried = [
        (1.0, _standing(0.1, 1.0)),
        (4.0, _standing(0.6, 0.95)),
        (8.0, _standing(0.6, 0.9)),
        (12.0, _standing(1.0, 0.5)),
    ]
    assert pick_gain(tried, 0.9) == 4.0  # 12 breaks the floor; 4 and 8 tie on forgetting: the smaller
    assert pick_gain(tried, 0.99) == 1.0
    assert pick_gain(tried[3:], 0.9) is None
    assert pick_gain(tried, 0.4) == 12.0


@pytest.fixture(scope="module")
def smol_grid(smollm2, tmp_path_factory):
    """SmolLM2's matrices as llama.cpp's Q4_1 file types them: the grid the embedded model came on."""
    folder = tmp_path_factory.mktemp("smol-grid")
    f16 = export_gguf(MLXBackend(smollm2.mlx_dir).weights(), smollm2.mlx_dir, folder / "F16.gguf", None)
    return hf_tensor_types(quantize_gguf(f16, folder / f"{GRID}.gguf", GRID), smollm2.mlx_dir)


def test_training_snaps_the_real_model_at_the_gain_its_check_chose(smollm2, smol_grid, facts, tmp_path):
    """Real SmolLM2, real training: once full precision has forgotten, the rule tries the gain ladder on the
    Q4_1 grid; the fused, snapped model answers as the chosen gain's check said, and its weights are fq(W0 + g·Δ)."""
    from edgeunlearn.check.judge import keyword_hit
    from edgeunlearn.config import MethodArgs
    from edgeunlearn.methods import get_method
    from edgeunlearn.training.robust import StoredTypes
    from edgeunlearn.training.trainer import train

    forget = [f for f in facts if f.keywords][:2]
    backend = MLXBackend(smollm2.mlx_dir)
    base = {k: np.array(v) for k, v in backend.weights().items()}
    cfg = TrainConfig(steps=12, batch_size=2, learning_rate=3e-4, lora_rank=4, until=True, until_every=2)
    cfg = TrainConfig(**{**cfg.__dict__, "until_retain_floor": 0.0, "until_general": False, "snap_gains": (1, 4, 16)})
    stored = StoredTypes({GRID: smol_grid}, snap_to=GRID)
    result = train(backend, get_method("ga"), forget, None, cfg, MethodArgs(), 0, tmp_path, stored=stored)
    snaps = result.until["snaps"]
    assert [s["gain"] for s in snaps] == [1, 4, 16][: len(snaps)] and set(snaps[0]["forgotten"]) == {"full"}
    ended = snaps[-1]["forgotten"]["full"] == 1.0 or len(snaps) == 3
    assert ended  # the ladder ends at the first gain that forgets everything, or at its top
    # 12 steps of GA at 3e-4 forget little at gain 1: a larger gain is chosen and the weights are snapped
    assert result.snap is not None and result.snap.gain > 1
    assert max(s["forgotten"]["full"] for s in snaps) > snaps[0]["forgotten"]["full"]
    chosen = next(s for s in snaps if s["gain"] == result.snap.gain)
    assert Snap.load(tmp_path) == result.snap
    update = {n: np.array(w) for n, w in snapped_weights(backend, smol_grid, result.snap.gain).items()}
    fuse(backend, result.snap)
    fused = backend.weights()
    assert all(np.array_equal(fused[n], update[n]) for n in update) and any(
        not np.array_equal(update[n], base[n]) for n in update
    )
    stated = [keyword_hit(text, item.keywords) for item, text in zip(forget, backend.generate(forget, 24))]
    assert 1 - np.mean(stated) == pytest.approx(chosen["forgotten"]["full"])  # as the chosen check said


def test_with_until_base_grid_the_rule_judges_the_base_grid_as_re_quantizing_stores_the_update(
    smollm2, smol_grid, facts, tmp_path
):
    """`until_base_grid`: the stop rule also answers under the base's own type, as re-quantizing the fused,
    unsnapped weights stores them — fq(W0 + Δ), what a gain of 1 writes: its share is what that model says."""
    from edgeunlearn.check.judge import keyword_hit
    from edgeunlearn.config import MethodArgs
    from edgeunlearn.methods import get_method
    from edgeunlearn.training.robust import StoredTypes
    from edgeunlearn.training.trainer import train

    forget = [f for f in facts if f.keywords][:4]
    backend = MLXBackend(smollm2.mlx_dir)
    cfg = TrainConfig(steps=6, batch_size=2, learning_rate=3e-4, lora_rank=4, until=True, until_every=6)
    cfg = TrainConfig(**{**cfg.__dict__, "until_retain_floor": 0.0, "until_general": False, "snap_gains": ()})
    stored = StoredTypes({GRID: smol_grid}, snap_to=GRID)
    result = train(backend, get_method("ga"), forget, None, cfg, MethodArgs(), 0, tmp_path, stored=stored)
    assert result.snap is None and set(result.until["checks"][-1]["forgotten"]) == {"full"}  # off: full only

    backend = MLXBackend(smollm2.mlx_dir)
    cfg = TrainConfig(**{**cfg.__dict__, "until_base_grid": True})
    result = train(backend, get_method("ga"), forget, None, cfg, MethodArgs(), 0, tmp_path, stored=stored)
    check = result.until["checks"][-1]
    assert set(check["forgotten"]) == {"full", GRID} and check["step"] == 6
    fuse(backend, Snap(GRID, 1.0, dict(smol_grid)))  # the fused weights as the base's type stores them
    stated = [keyword_hit(text, item.keywords) for item, text in zip(forget, backend.generate(forget, 24))]
    assert 1 - np.mean(stated) == pytest.approx(check["forgotten"][GRID])
