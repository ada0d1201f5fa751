"""The llama.cpp backend: a GGUF file scored by forced decoding and answered greedily, many sequences
per decode call.

One sequence per `eval` leaves llama.cpp's matrix kernels idle on small models; packing up to
`PARALLEL` sequences into each `llama_decode` (each with its own sequence id in a unified KV cache, logits
requested only where they are read) is several times faster. Answers scored under the same prompt (TOFU's
paraphrased and perturbed answers) share its tokens: a prompt token belongs to all their sequences at once,
so the prompt is computed once, not once per answer. Token ids come from the shared `Prompter`
(the model's own tokenizer), never from llama.cpp's text tokenization, so both backends score the same
sequences.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from edgeunlearn.backends.base import Prompter, TokenStats, stats_from_logprobs
from edgeunlearn.data import QAItem
from edgeunlearn.errors import RunError, UserError

PARALLEL = 16  # sequences per decode
SEQ_TOKENS = 512  # longest prompt + answer one sequence may hold


class LlamaCppBackend:
    def __init__(
        self,
        gguf_path: Path,
        tokenizer=None,
        threads: int | None = None,
        prompt_format: str = "auto",
        delete_after: Path | None = None,
    ):
        """`delete_after`: a folder (holding a temporary GGUF) to remove once the backend is closed."""
        self.delete_after = delete_after
        gguf_path = Path(gguf_path)
        if not gguf_path.is_file():
            raise UserError(f"GGUF file not found: {gguf_path}")
        self.path = gguf_path
        self.prompter = Prompter(tokenizer if tokenizer is not None else tokenizer_for(gguf_path), prompt_format)
        self._stack = ExitStack()  # every llama.cpp resource is released here, in reverse order
        try:
            self._open(str(gguf_path), threads or os.cpu_count() or 1)
        except BaseException:
            self._stack.close()
            raise

    def _open(self, path: str, threads: int) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaModel

        from edgeunlearn.quantize.llamacpp import quiet_stderr

        self._ll = llama_cpp
        with quiet_stderr():
            model = LlamaModel(path_model=path, params=llama_cpp.llama_model_default_params(), verbose=False)
        self._stack.callback(model.close)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model.model))
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = params.n_batch = PARALLEL * SEQ_TOKENS
        params.n_ubatch = 512
        params.n_seq_max = PARALLEL
        params.kv_unified = True
        params.n_threads = params.n_threads_batch = threads
        with quiet_stderr():
            self.ctx = llama_cpp.llama_init_from_model(model.model, params)
        if not self.ctx:
            raise RunError(f"llama.cpp could not create a context for {path}")
        self._stack.callback(llama_cpp.llama_free, self.ctx)
        self.batch = llama_cpp.llama_batch_init(params.n_batch, 0, PARALLEL)
        self._stack.callback(llama_cpp.llama_batch_free, self.batch)

    # --- low-level ------------------------------------------------------------------------
    def _decode(self, entries: list[tuple[int, int, int | tuple[int, ...], bool]]) -> None:
        """Decode (token, position, sequence or sequences sharing it, wants_logits) entries in one call."""
        b = self.batch
        for i, (token, pos, seqs, logits) in enumerate(entries):
            seqs = (seqs,) if isinstance(seqs, int) else seqs
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, len(seqs), logits
            for k, seq in enumerate(seqs):
                b.seq_id[i][k] = seq
        b.n_tokens = len(entries)
        status = self._ll.llama_decode(self.ctx, b)
        if status != 0:
            raise RunError(f"llama.cpp decode failed on {self.path.name} (status {status})")

    def _logits(self, index: int) -> np.ndarray:
        """Logits of batch entry `index` (it must have asked for them). (V,)"""
        ptr = self._ll.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(self.n_vocab,))

    def _clear(self) -> None:
        self._ll.llama_memory_clear(self._ll.llama_get_memory(self.ctx), True)

    def _fit(self, tokens: list[int]) -> list[int]:
        if len(tokens) >= SEQ_TOKENS:
            raise UserError(f"an item is {len(tokens)} tokens, over the {SEQ_TOKENS}-token limit: shorten it")
        return tokens

    # --- Backend interface ------------------------------------------------------------------
    def score(self, items: Sequence[QAItem]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(items), PARALLEL):
            out += self._score_chunk([self.prompter.pair(i) for i in items[start : start + PARALLEL]])
        return out

    def score_stats(self, items: Sequence[QAItem]) -> list[TokenStats]:
        out: list[TokenStats] = []
        for start in range(0, len(items), PARALLEL):
            out += self._score_chunk([self.prompter.pair(i) for i in items[start : start + PARALLEL]], stats=True)
        return out

    def _score_chunk(self, pairs, stats: bool = False) -> list:
        entries, wanted = [], [None] * len(pairs)
        for prompt, seqs in _shared_prompts(pairs).items():
            entries += [(t, pos, seqs, pos == len(prompt) - 1) for pos, t in enumerate(prompt)]
            last_prompt = len(entries) - 1  # its logits predict every answer's first token
            for seq in seqs:
                answer = pairs[seq][1]
                self._fit([*prompt, *answer])
                first = len(entries)
                # the last answer token is never an input: no logits are read after it
                entries += [(t, len(prompt) + k, seq, True) for k, t in enumerate(answer[:-1])]
                wanted[seq] = [(last_prompt, answer[0])] + [(first + k, t) for k, t in enumerate(answer[1:])]
                wanted[seq] = wanted[seq] if answer else []
        self._clear()
        self._decode(entries)
        if stats:
            return [_stats([self._logits(i) for i, _ in rows], [t for _, t in rows]) for rows in wanted]
        return [np.array([_log_softmax_at(self._logits(i), t) for i, t in rows], dtype=np.float32) for rows in wanted]

    def generate(self, questions: Sequence[str | QAItem], max_new_tokens: int) -> list[str]:
        answers: list[str] = []
        for start in range(0, len(questions), PARALLEL):
            prompts = [self._fit(self.prompter.prompt_ids(q)) for q in questions[start : start + PARALLEL]]
            answers += [self.prompter.decode(ids) for ids in self._generate_chunk(prompts, max_new_tokens)]
        return answers

    def _generate_chunk(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        self._clear()
        entries, last = [], {}
        for seq, prompt in enumerate(prompts):
            entries += [(t, pos, seq, pos == len(prompt) - 1) for pos, t in enumerate(prompt)]
            last[seq] = len(entries) - 1
        self._decode(entries)
        produced: list[list[int]] = [[] for _ in prompts]
        stop = {self.prompter.end_id, self._ll.llama_vocab_eos(self._vocab())}
        for _ in range(max_new_tokens):
            step = []
            for seq, index in last.items():
                token = int(np.argmax(self._logits(index)))
                if token in stop:
                    continue
                produced[seq].append(token)
                if len(produced[seq]) < max_new_tokens:
                    step.append((token, len(prompts[seq]) + len(produced[seq]) - 1, seq, True))
            if not step:
                break
            self._decode(step)
            last = {seq: i for i, (_, _, seq, _) in enumerate(step)}
        return produced

    def _vocab(self):
        return self._ll.llama_model_get_vocab(self._ll.llama_get_model(self.ctx))

    def close(self) -> None:
        from edgeunlearn.quantize.llamacpp import quiet_stderr

        with quiet_stderr():  # llama.cpp reports buffer sizes on the way out
            self._stack.close()
        if self.delete_after is not None:
            import shutil

            shutil.rmtree(self.delete_after, ignore_errors=True)


def _shared_prompts(pairs) -> dict[tuple[int, ...], tuple[int, ...]]:
    """Prompt tokens → the sequences (indices into `pairs`) scored under that prompt, in order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for seq, (prompt, _) in enumerate(pairs):
        groups.setdefault(tuple(prompt), []).append(seq)
    return {prompt: tuple(seqs) for prompt, seqs in groups.items()}


def _stats(logits: list[np.ndarray], targets: list[int]) -> TokenStats:
    z = np.stack(logits).astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return stats_from_logprobs(z - np.log(np.exp(z).sum(axis=1, keepdims=True)), targets)


def _log_softmax_at(logits: np.ndarray, token: int) -> float:
    z = logits.astype(np.float64)
    top = z.max()
    return float(z[token] - top - np.log(np.exp(z - top).sum()))


def tokenizer_for(gguf_path: Path):
    """The model's own tokenizer, rebuilt from the GGUF metadata (the same one MLX trains with); for
    tokenizers that cannot be rebuilt, llama.cpp's own, so the check works on any GGUF."""
    import gguf

    from edgeunlearn.models.gguf_import import read_fields
    from edgeunlearn.models.gguf_tokenizer import tokenizer_from_gguf_fields
    from edgeunlearn.models.llamacpp_tokenizer import LlamaCppTokenizer

    try:
        return tokenizer_from_gguf_fields(read_fields(gguf.GGUFReader(str(gguf_path))))
    except UserError:
        return LlamaCppTokenizer(gguf_path)
