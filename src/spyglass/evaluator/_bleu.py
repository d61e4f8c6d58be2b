"""BLEU as nltk computes it, with the n-gram counting done once per row.

``nltk.translate.bleu_score.sentence_bleu`` recounts every reference for every order and builds
Fractions on the way; here each row's clipped n-gram matches are counted with plain Counters and
the final combination is nltk's own: its `Fraction`, `brevity_penalty` and `SmoothingFunction`
methods, so a score equals ``sentence_bleu`` / ``corpus_bleu`` for the same tokens, weights and
smoothing (the tests and ``benchmarks/eval_metrics.py`` check it).
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from spyglass.evaluator._light import import_light
from spyglass.evaluator._tokenize import TOKENIZER_DESCRIPTIONS, TokenizerName, get_tokenizer

# method6 is left out: nltk asserts inside it whenever a row has no bigram match.
Smoothing = Literal["method0", "method1", "method2", "method3", "method4", "method5", "method7"]
SMOOTHINGS: tuple[str, ...] = (
    "method0",
    "method1",
    "method2",
    "method3",
    "method4",
    "method5",
    "method7",
)


@dataclass(frozen=True)
class BleuConfig:
    """How BLEU is computed: n-gram order, smoothing (nltk's Chen & Cherry methods), tokens."""

    max_order: int = 4
    smoothing: Smoothing = "method1"
    epsilon: float = 0.1
    tokenizer: TokenizerName = "wordpunct"
    lowercase: bool = False

    @property
    def weights(self) -> tuple[float, ...]:
        return (1 / self.max_order,) * self.max_order

    def describe(self) -> dict[str, Any]:
        """The configuration as recorded next to every BLEU score."""
        return {
            "implementation": "nltk.translate.bleu_score (counts precomputed per row)",
            "max_order": self.max_order,
            "weights": list(self.weights),
            "smoothing": f"nltk SmoothingFunction(epsilon={self.epsilon}).{self.smoothing}",
            "tokenizer": TOKENIZER_DESCRIPTIONS[self.tokenizer],
            "lowercase": self.lowercase,
            "auto_reweigh": False,
        }


@dataclass(frozen=True)
class BleuStats:
    """One row's sufficient statistics: matches and totals per order, and the two lengths."""

    numerators: tuple[int, ...]
    denominators: tuple[int, ...]
    hyp_len: int
    ref_len: int


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def row_stats(
    references: Sequence[Sequence[str]], hypothesis: Sequence[str], orders: int
) -> BleuStats:
    """Clipped n-gram matches per order, exactly as nltk's ``modified_precision``."""
    numerators = []
    denominators = []
    for n in range(1, orders + 1):
        counts = _ngrams(hypothesis, n)
        if len(references) == 1:
            ref_counts = _ngrams(references[0], n)
            # Only shared n-grams contribute; the set intersection runs in C.
            clipped = sum(min(counts[g], ref_counts[g]) for g in counts.keys() & ref_counts.keys())
        else:
            per_ref = [_ngrams(r, n) for r in references]
            clipped = sum(min(c, max(rc.get(g, 0) for rc in per_ref)) for g, c in counts.items())
        numerators.append(clipped)
        denominators.append(max(1, sum(counts.values())))
    hyp_len = len(hypothesis)
    ref_len = min((len(r) for r in references), key=lambda r: (abs(r - hyp_len), r))
    return BleuStats(tuple(numerators), tuple(denominators), hyp_len, ref_len)


def combine(
    config: BleuConfig,
    numerators: Sequence[int],
    denominators: Sequence[int],
    hyp_len: int,
    ref_len: int,
    references: Sequence[Sequence[str]],
    hypothesis: Sequence[str],
) -> float:
    """nltk ``corpus_bleu``'s final step over summed statistics.

    ``references``/``hypothesis`` are what nltk hands the smoothing function: the (last) row's
    tokens; only methods 4–7 look at them.
    """
    nltk_bleu = import_light("nltk.translate.bleu_score")
    bp = nltk_bleu.brevity_penalty(ref_len, hyp_len)
    if numerators[0] == 0:
        return 0.0
    p_n = [
        nltk_bleu.Fraction(numerators[i], denominators[i], _normalize=False)
        for i in range(config.max_order)
    ]
    with warnings.catch_warnings():
        # method0 warns for every row without higher-order matches; the score records it.
        warnings.simplefilter("ignore")
        p_n = _smoothing(config)(p_n, references=references, hypothesis=hypothesis, hyp_len=hyp_len)
    terms = (w * math.log(p) for w, p in zip(config.weights, p_n, strict=False) if p > 0)
    return float(bp * math.exp(math.fsum(terms)))


@lru_cache(maxsize=16)
def _smoothing(config: BleuConfig) -> Any:
    nltk_bleu = import_light("nltk.translate.bleu_score")
    return getattr(nltk_bleu.SmoothingFunction(epsilon=config.epsilon), config.smoothing)


def score_chunk(
    config: BleuConfig, predictions: Sequence[str], targets: Sequence[Sequence[str]]
) -> list[tuple[float, BleuStats]]:
    """Sentence BLEU and statistics for each row of a chunk (runs in worker processes)."""
    tokenize = get_tokenizer(config.tokenizer, config.lowercase)
    out = []
    for prediction, refs in zip(predictions, targets, strict=True):
        hyp = tokenize(prediction)
        ref_tokens = [tokenize(r) for r in refs]
        stats = row_stats(ref_tokens, hyp, config.max_order)
        score = combine(
            config,
            stats.numerators,
            stats.denominators,
            stats.hyp_len,
            stats.ref_len,
            ref_tokens,
            hyp,
        )
        out.append((score, stats))
    return out


def corpus_score(
    config: BleuConfig,
    stats: Sequence[BleuStats],
    last_prediction: str,
    last_targets: Sequence[str],
) -> float:
    """Corpus BLEU from per-row statistics, equal to nltk ``corpus_bleu`` over the same rows."""
    if not stats:
        return 0.0
    tokenize = get_tokenizer(config.tokenizer, config.lowercase)
    numerators = [sum(s.numerators[i] for s in stats) for i in range(config.max_order)]
    denominators = [sum(s.denominators[i] for s in stats) for i in range(config.max_order)]
    return combine(
        config,
        numerators,
        denominators,
        sum(s.hyp_len for s in stats),
        sum(s.ref_len for s in stats),
        [tokenize(t) for t in last_targets],
        tokenize(last_prediction),
    )
