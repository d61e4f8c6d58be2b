"""ROUGE-N/L/Lsum as rouge-score computes them, with cached stems and a bit-parallel LCS.

rouge-score spends most of its time in the Porter stemmer (the same words again and again) and
in its pure-Python LCS table. Here each text is tokenized once by rouge-score's own
``tokenize.tokenize`` with a memoizing wrapper around nltk's ``PorterStemmer``; n-gram and LCS
scores use rouge-score's formulas (its ``scoring.fmeasure``, restated in `fmeasure` so no
process has to import numpy for it), the LCS length comes from a
bit-vector algorithm (Hyyrö 2004) over Python ints, and ``rougeLsum`` on multi-line text runs
rouge-score's summary-level algorithm with the same backtracking over table values read from
those bit vectors. Scores equal ``RougeScorer(...).score`` exactly (tests and the benchmark
compare them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from spyglass.evaluator._light import import_light

ROUGE_TYPES: tuple[str, ...] = ("rouge1", "rouge2", "rougeL", "rougeLsum")
_STEM_CACHE_SIZE = 500_000


@dataclass(frozen=True)
class RougeConfig:
    """Which ROUGE scores, and whether rouge-score's Porter stemming is on."""

    rouge_types: tuple[str, ...] = ROUGE_TYPES
    use_stemmer: bool = True

    def describe(self) -> dict[str, Any]:
        """The configuration as recorded next to every ROUGE score."""
        return {
            "implementation": "rouge_score (tokens and stems cached; bit-parallel LCS)",
            "rouge_types": list(self.rouge_types),
            "use_stemmer": self.use_stemmer,
            "stemmer": "nltk PorterStemmer (words longer than 3 characters)"
            if self.use_stemmer
            else None,
            "tokenizer": "rouge_score DefaultTokenizer (lowercase, [^a-z0-9]+ split)",
            "measure": "fmeasure",
            "multi_reference": "best fmeasure per type (RougeScorer.score_multi)",
            "rougeLsum_sentences": "split on newlines",
        }


def fmeasure(precision: float, recall: float) -> float:
    """``rouge_score.scoring.fmeasure``, the same expression (that module imports numpy)."""
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


class _CachedStemmer:
    """nltk's PorterStemmer with a memo; ``stem`` is all rouge-score calls."""

    def __init__(self) -> None:
        porter = import_light("nltk.stem.porter")
        self.stem = lru_cache(maxsize=_STEM_CACHE_SIZE)(porter.PorterStemmer().stem)


@lru_cache(maxsize=2)
def _stemmer(use_stemmer: bool) -> _CachedStemmer | None:
    return _CachedStemmer() if use_stemmer else None


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (bit-parallel)."""
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for i, token in enumerate(a):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for token in b:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def _lcs_rows(ref: Sequence[str], can: Sequence[str]) -> list[int]:
    """Bit vectors V_0..V_n of the LCS table: ``t[i][j] = i - popcount(V_j & (2**i - 1))``."""
    masks: dict[str, int] = {}
    for i, token in enumerate(ref):
        masks[token] = masks.get(token, 0) | (1 << i)
    full = (1 << len(ref)) - 1
    v = full
    rows = [v]
    for token in can:
        u = v & masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
        rows.append(v)
    return rows


def lcs_indices(ref: Sequence[str], can: Sequence[str]) -> list[int]:
    """rouge-score's ``lcs_ind``: the same backtrack (same ties) over the same table values."""
    rows = _lcs_rows(ref, can)

    def table(i: int, j: int) -> int:
        return i - (rows[j] & ((1 << i) - 1)).bit_count()

    i, j = len(ref), len(can)
    out: list[int] = []
    while i > 0 and j > 0:
        if ref[i - 1] == can[j - 1]:
            out.append(i - 1)
            i -= 1
            j -= 1
        elif table(i, j - 1) > table(i - 1, j):
            j -= 1
        else:
            i -= 1
    out.reverse()
    return out


def summary_level_lcs_f(ref_sents: list[list[str]], can_sents: list[list[str]]) -> float:
    """rouge-score's ``_summary_level_lcs`` F-measure (union LCS, no double counting)."""
    if not ref_sents or not can_sents:
        return 0.0
    m = sum(map(len, ref_sents))
    n = sum(map(len, can_sents))
    if not n or not m:
        return 0.0
    token_cnts_r: Counter[str] = Counter()
    token_cnts_c: Counter[str] = Counter()
    for s in ref_sents:
        token_cnts_r.update(s)
    for s in can_sents:
        token_cnts_c.update(s)
    hits = 0
    for r in ref_sents:
        union = sorted(set().union(*(lcs_indices(r, c) for c in can_sents)))
        for t in (r[i] for i in union):
            if token_cnts_c[t] > 0 and token_cnts_r[t] > 0:
                hits += 1
                token_cnts_c[t] -= 1
                token_cnts_r[t] -= 1
    return float(fmeasure(hits / n, hits / m))


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


class RougeRowScorer:
    """Scores prediction/target pairs; one per worker so the stem cache stays warm."""

    def __init__(self, config: RougeConfig) -> None:
        from rouge_score import tokenize

        self._config = config
        self._tokenize = tokenize.tokenize
        self._fmeasure = fmeasure
        self._stemmer = _stemmer(config.use_stemmer)
        self._ns = {t: int(t[5:]) for t in config.rouge_types if t[5:].isdigit()}
        unknown = set(config.rouge_types) - set(self._ns) - {"rougeL", "rougeLsum"}
        if unknown:
            raise ValueError(f"unknown ROUGE type(s): {', '.join(sorted(unknown))}")

    def tokens(self, text: str) -> list[str]:
        result: list[str] = self._tokenize(text, self._stemmer)
        return result

    def _f(self, hits: int, pred_n: int, target_n: int) -> float:
        precision = hits / max(pred_n, 1)
        recall = hits / max(target_n, 1)
        return float(self._fmeasure(precision, recall))

    def _lsum(self, target: str, prediction: str, t: list[str], p: list[str]) -> float:
        if "\n" not in target and "\n" not in prediction:
            # One sentence each: the union LCS is the LCS, so rougeLsum equals rougeL.
            return self._lcs_f(t, p)
        target_sents = [self.tokens(s) for s in target.split("\n") if s]
        prediction_sents = [self.tokens(s) for s in prediction.split("\n") if s]
        return summary_level_lcs_f(target_sents, prediction_sents)

    def _lcs_f(self, t: list[str], p: list[str]) -> float:
        if not t or not p:
            return 0.0
        lcs = lcs_length(t, p)
        return float(self._fmeasure(lcs / len(p), lcs / len(t)))

    def score_one(self, target: str, prediction: str) -> dict[str, float]:
        """F-measures of each configured type for one target, as ``RougeScorer.score``."""
        t = self.tokens(target)
        p = self.tokens(prediction)
        out: dict[str, float] = {}
        for rouge_type in self._config.rouge_types:
            if rouge_type == "rougeL":
                out[rouge_type] = self._lcs_f(t, p)
            elif rouge_type == "rougeLsum":
                out[rouge_type] = self._lsum(target, prediction, t, p)
            else:
                n = self._ns[rouge_type]
                tc = _ngram_counts(t, n)
                pc = _ngram_counts(p, n)
                hits = sum(min(tc[g], pc[g]) for g in tc.keys() & pc.keys())
                out[rouge_type] = self._f(hits, sum(pc.values()), sum(tc.values()))
        return out

    def score(self, targets: Sequence[str], prediction: str) -> dict[str, float]:
        """Best F-measure per type over the targets, as ``RougeScorer.score_multi``."""
        if len(targets) == 1:
            return self.score_one(targets[0], prediction)
        scored = [self.score_one(t, prediction) for t in targets]
        # np.argmax keeps the first maximum; max() over a list does the same.
        return {k: max(s[k] for s in scored) for k in self._config.rouge_types}


def score_chunk(
    config: RougeConfig, predictions: Sequence[str], targets: Sequence[Sequence[str]]
) -> list[dict[str, float]]:
    """ROUGE F-measures for each row of a chunk (runs in worker processes)."""
    scorer = RougeRowScorer(config)
    return [scorer.score(t, p) for p, t in zip(predictions, targets, strict=True)]
