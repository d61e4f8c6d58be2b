"""Score N generated prediction/target pairs with BLEU + ROUGE-1/2/L/Lsum through
`spyglass.evaluator.evaluate`, and check the numbers against nltk and rouge-score called directly.

Prints: the cold time (fresh process: worker start-up and nltk/rouge-score imports included),
the warm time (a second evaluation in the same process), what a fresh process pays to import
the scorers' modules (as the evaluator loads them, and through ``import nltk``), and the
reference libraries' own time on a sample, extrapolated. Run on a quiet machine (the load
average is printed, since other processes on a 2-core box inflate every figure):

    .venv/bin/python benchmarks/eval_metrics.py --rows 10000 --check-rows 1000
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import warnings

WORDS = (
    "the a model answer question summary evaluation dataset retrieval generation prompt chain "
    "running jumped quickly carefully organization computational networks systems languages "
    "domains tested measured reported improved latency tokens costs users session traces span "
    "service database cluster storage query results metrics scores reference prediction river "
    "mountain city country history science music paris london tokyo berlin rome madrid"
).split()
VOCAB = WORDS + [w + s for w in WORDS for s in ("s", "ing", "ed", "ly")]


def make_pairs(rows: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """Summaries of 1–4 sentences (some newline-separated) and noisy predictions of them."""
    rng = random.Random(seed)

    def sentence() -> str:
        words = [rng.choice(VOCAB) for _ in range(rng.randint(6, 22))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice([",", "'s", "(", ")", "-"]))
        return " ".join(words).capitalize() + rng.choice([".", ".", "!", "?"])

    predictions, targets = [], []
    for _ in range(rows):
        sep = "\n" if rng.random() < 0.3 else " "
        target = sep.join(sentence() for _ in range(rng.randint(1, 4)))
        kept = [t if rng.random() > 0.25 else rng.choice(VOCAB) for t in target.split(" ")]
        prediction = " ".join(t for t in kept if rng.random() > 0.1)
        predictions.append(prediction)
        targets.append(target)
    return predictions, targets


def _fresh_import_s(code: str) -> float:
    """Seconds a fresh interpreter takes to run ``code`` (an import), start-up excluded."""
    timed = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", timed], capture_output=True, text=True, check=True)
    return float(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--check-rows", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from spyglass.evaluator import evaluate

    predictions, targets = make_pairs(args.rows)
    metrics = ["bleu", "rouge"]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.rows} pairs, {args.workers} worker processes, {os.cpu_count()} cores, "
        f"load average {load}"
    )

    start = time.perf_counter()
    result = evaluate(
        predictions=predictions, targets=targets, metrics=metrics, workers=args.workers
    )
    cold = time.perf_counter() - start
    start = time.perf_counter()
    result = evaluate(
        predictions=predictions, targets=targets, metrics=metrics, workers=args.workers
    )
    warm = time.perf_counter() - start
    print(
        f"spyglass BLEU + ROUGE-1/2/L/Lsum: cold {cold:.2f} s, warm {warm:.2f} s "
        f"({args.rows / warm:,.0f} rows/s)"
    )
    light = _fresh_import_s("import spyglass.evaluator._preload")
    full = _fresh_import_s("import nltk.translate.bleu_score, rouge_score.rouge_scorer")
    print(
        f"fresh-process import of the scorers: {light:.2f} s as the workers load them "
        f"(nltk modules without nltk's package init), {full:.2f} s through `import nltk`"
    )
    for name in ("bleu", "bleu_corpus", "rouge1", "rouge2", "rougeL", "rougeLsum"):
        print(f"  {name:<12} {result.metrics[name]:.6f}")

    # The reference libraries, called directly with the same configuration.
    from nltk.tokenize import wordpunct_tokenize
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu
    from rouge_score import rouge_scorer

    n = min(args.check_rows, args.rows)
    rows = result.rows[:n]
    smoothing = SmoothingFunction(epsilon=0.1).method1
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_bleu = [
            sentence_bleu(
                [wordpunct_tokenize(t)], wordpunct_tokenize(p), smoothing_function=smoothing
            )
            for p, t in zip(predictions[:n], targets[:n], strict=True)
        ]
    bleu_s = time.perf_counter() - start
    start = time.perf_counter()
    ref_rouge = [scorer.score(t, p) for p, t in zip(predictions[:n], targets[:n], strict=True)]
    rouge_s = time.perf_counter() - start
    corpus = corpus_bleu(
        [[wordpunct_tokenize(t)] for t in targets],
        [wordpunct_tokenize(p) for p in predictions],
        smoothing_function=smoothing,
    )
    bleu_equal = all(r["bleu"] == b for r, b in zip(rows, ref_bleu, strict=True))
    rouge_equal = all(
        r[k] == s[k].fmeasure for r, s in zip(rows, ref_rouge, strict=True) for k in s
    )
    corpus_equal = corpus == result.metrics["bleu_corpus"]
    print(
        f"check on {n} rows: sentence BLEU equal to nltk: {bleu_equal}; ROUGE equal to "
        f"rouge-score: {rouge_equal}; corpus BLEU equal to nltk on all rows: {corpus_equal}"
    )
    scale = args.rows / n
    print(
        f"reference libraries, one core, extrapolated to {args.rows} rows: nltk sentence_bleu "
        f"{bleu_s * scale:.1f} s, rouge-score (stemmer) {rouge_s * scale:.1f} s"
    )
    if not (bleu_equal and rouge_equal and corpus_equal):
        raise SystemExit("MISMATCH")


if __name__ == "__main__":
    main()
