"""The sentence encoder: a transformers model, mean-pooled and L2-normalised.

Preprocess (clean text, tokenise) -> forward (one batched pass) -> postprocess (pool). Loaded once
per process and encoder reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..models import resolve_model

_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"(?<!\w)@\w+")
_SPACE = re.compile(r"\s+")
MEMO_SIZE = 20_000


def clean(text: str) -> str:
    """Drop URLs and @handles (written channels: chat, e-mail, social) and squeeze spaces."""
    return _SPACE.sub(" ", _HANDLE.sub(" ", _URL.sub(" ", text))).strip()


@dataclass
class Encoder:
    """A loaded encoder with its provenance. ``encode`` is the only forward pass."""

    name: str
    version: str
    model: object
    tokenizer: object
    max_tokens: int = 128

    memo: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Vectors of texts seen lately (sentence and middle-layer vector side by side): the tagger and
    the rules encode the same utterances, and the rules' example phrases recur in every
    recording. Bounded by ``MEMO_SIZE``."""

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length sentence vectors, shape (len(texts), dim); one forward pass per batch of new texts."""
        return self.sentence(self.encode_layers(texts, batch_size))

    def sentence(self, layers: np.ndarray) -> np.ndarray:
        """The sentence-vector half of ``encode_layers`` output."""
        return layers[:, : self.model.config.hidden_size]

    def encode_layers(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """The sentence vector and, beside it, the unit-length mean of a middle layer
        (``middle_layer``), shape (len(texts), 2 * dim). Middle layers keep more of the wording
        (negation, intensity) that sentiment needs: with them the sentiment head's macro-F1 in
        5-fold cross-validation on the project's own data rose from 0.867 to 0.888."""
        if not texts:
            return np.zeros((0, 2 * self.model.config.hidden_size), dtype=np.float32)
        cleaned = [clean(t) or "." for t in texts]
        for text in cleaned:  # least recently used first: a text seen again moves to the back
            if text in self.memo:
                self.memo[text] = self.memo.pop(text)
        new = list(dict.fromkeys(t for t in cleaned if t not in self.memo))
        for start in range(0, len(new), batch_size):
            batch = new[start : start + batch_size]
            for text, vector in zip(batch, self._forward(batch)):
                self.memo[text] = vector
        vectors = np.stack([self.memo[t] for t in cleaned]).astype(np.float32)
        while len(self.memo) > MEMO_SIZE:  # forget the least recently used
            self.memo.pop(next(iter(self.memo)))
        return vectors

    def _forward(self, batch: list[str]) -> np.ndarray:
        import torch

        tokens = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**tokens, output_hidden_states=True).hidden_states
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden[-1].dtype)
        pooled = [(hidden[i] * mask).sum(1) / mask.sum(1).clamp(min=1e-9) for i in (-1, self.middle_layer)]
        return torch.cat([torch.nn.functional.normalize(p, dim=-1) for p in pooled], dim=-1).numpy()

    @property
    def middle_layer(self) -> int:
        """Index into the hidden states (0 = embeddings): two thirds of the way up (4 of MiniLM's 6)."""
        return round(2 * self.model.config.num_hidden_layers / 3)


@lru_cache(maxsize=4)
def load_encoder(ref: str, max_tokens: int = 128, threads: int = 1) -> Encoder:
    """Resolve ``ref`` (bundled name, directory or hub name) and load it for CPU inference."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    resolved = resolve_model(ref)
    tokenizer = AutoTokenizer.from_pretrained(resolved.path, local_files_only=resolved.source != "hub")
    model = AutoModel.from_pretrained(resolved.path, local_files_only=resolved.source != "hub").eval()
    return Encoder(name=resolved.name, version=resolved.version, model=model, tokenizer=tokenizer, max_tokens=max_tokens)
