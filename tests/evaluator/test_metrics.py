from __future__ import annotations

import math
import warnings

import pytest
from nltk.tokenize import NLTKWordTokenizer, wordpunct_tokenize
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu
from rouge_score import rouge_scorer

from spyglass.evaluator import MetricError, evaluate, metric
from spyglass.evaluator._tokenize import get_tokenizer
from tests.evaluator.conftest import generated_pairs


def scores(prediction: str, target: str | list[str], metrics: list[str]) -> dict[str, float]:
    return evaluate(predictions=[prediction], targets=[target], metrics=metrics).metrics


def test_rouge_values_match_a_hand_count() -> None:
    got = scores("the cat on the mat", "the cat sat on the mat", ["rouge"])
    # unigrams: 5 of 5 predicted, 5 of 6 expected; bigrams: 3 of 4 and 3 of 5; LCS 5.
    assert got["rouge1"] == pytest.approx(10 / 11)
    assert got["rouge2"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert got["rougeL"] == pytest.approx(10 / 11)
    assert got["rougeLsum"] == pytest.approx(10 / 11)


def test_rouge_stems_words_unless_told_not_to() -> None:
    assert scores("running dogs", "run dog", ["rouge1"])["rouge1"] == 1.0
    result = evaluate(
        predictions=["running dogs"],
        targets=["run dog"],
        metrics=["rouge1"],
        metric_options={"rouge1": {"use_stemmer": False}},
    )
    assert result.metrics["rouge1"] == 0.0
    assert result.metric_info["rouge1"]["use_stemmer"] is False


def test_bleu_values_match_a_hand_count() -> None:
    # All n-grams match; brevity penalty exp(1 - 7/6).
    short = scores("the cat sat on the mat", "the cat sat on the mat today", ["bleu"])
    assert short["bleu"] == pytest.approx(math.exp(1 - 7 / 6))
    # p = 3/4, 2/3, 1/2 and 0 -> epsilon 0.1 (method1): geometric mean of the four.
    smoothed = scores("a b c d", "a b c e", ["bleu"])
    assert smoothed["bleu"] == pytest.approx((0.75 * (2 / 3) * 0.5 * 0.1) ** 0.25)
    assert scores("same words here ok", "same words here ok", ["bleu"])["bleu"] == 1.0


def test_answer_metrics_normalize_like_squad() -> None:
    got = scores("The Eiffel Tower!", "eiffel tower", ["exact_match", "token_f1"])
    assert got == {"exact_match": 1.0, "token_f1": 1.0}
    assert scores("the big red apple", "a red apple", ["token_f1"])["token_f1"] == pytest.approx(
        0.8
    )
    assert scores("Rome", ["Paris", "rome"], ["exact_match"])["exact_match"] == 1.0


def test_bleu_equals_nltk_on_generated_pairs_for_each_smoothing() -> None:
    predictions, targets = generated_pairs(300)
    tokenized = [
        (wordpunct_tokenize(p), wordpunct_tokenize(t))
        for p, t in zip(predictions, targets, strict=True)
    ]
    for smoothing in ("method0", "method1", "method2", "method3", "method4", "method5", "method7"):
        result = evaluate(
            predictions=predictions,
            targets=targets,
            metrics=["bleu"],
            metric_options={"bleu": {"smoothing": smoothing}},
        )
        fn = getattr(SmoothingFunction(), smoothing)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = [sentence_bleu([t], p, smoothing_function=fn) for p, t in tokenized]
            corpus = corpus_bleu(
                [[t] for _, t in tokenized], [p for p, _ in tokenized], smoothing_function=fn
            )
        assert [row["bleu"] for row in result.rows] == expected, smoothing
        assert result.metrics["bleu_corpus"] == corpus, smoothing


def test_bleu_equals_nltk_with_several_references_and_the_treebank_tokenizer() -> None:
    predictions, targets = generated_pairs(200, seed=5)
    multi = [[t, targets[(i + 1) % len(targets)]] for i, t in enumerate(targets)]
    result = evaluate(
        predictions=predictions,
        targets=multi,
        metrics=["bleu"],
        metric_options={"bleu": {"tokenizer": "nltk", "lowercase": True, "max_order": 3}},
    )
    tok = NLTKWordTokenizer().tokenize
    smoothing = SmoothingFunction().method1
    expected = [
        sentence_bleu([tok(r.lower()) for r in refs], tok(p.lower()), (1 / 3,) * 3, smoothing)
        for p, refs in zip(predictions, multi, strict=False)
    ]
    assert [row["bleu"] for row in result.rows] == expected


def test_rouge_equals_rouge_score_on_generated_pairs() -> None:
    predictions, targets = generated_pairs(400)
    result = evaluate(predictions=predictions, targets=targets, metrics=["rouge"])
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    for row, prediction, target in zip(result.rows, predictions, targets, strict=False):
        expected = {k: s.fmeasure for k, s in scorer.score(target, prediction).items()}
        assert {k: row[k] for k in expected} == expected


def test_rouge_equals_rouge_score_with_several_references_and_no_stemming() -> None:
    predictions, targets = generated_pairs(150, seed=3)
    multi = [[t, predictions[(i + 7) % len(predictions)]] for i, t in enumerate(targets)]
    result = evaluate(
        predictions=predictions,
        targets=multi,
        metrics=["rouge"],
        metric_options={"rouge": {"use_stemmer": False}},
    )
    scorer = rouge_scorer.RougeScorer(
        ["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=False
    )
    for row, prediction, refs in zip(result.rows, predictions, multi, strict=False):
        expected = {k: s.fmeasure for k, s in scorer.score_multi(refs, prediction).items()}
        assert {k: row[k] for k in expected} == expected


def test_worker_processes_give_the_same_scores_as_one_process() -> None:
    predictions, targets = generated_pairs(600, seed=9)
    inline = evaluate(
        predictions=predictions, targets=targets, metrics=["bleu", "rouge"], workers=1
    )
    pooled = evaluate(
        predictions=predictions, targets=targets, metrics=["bleu", "rouge"], workers=2
    )
    assert pooled.rows == inline.rows
    assert pooled.metrics == inline.metrics


def test_wordpunct_tokenizer_is_nltks() -> None:
    predictions, targets = generated_pairs(100)
    tok = get_tokenizer("wordpunct")
    for text in predictions + targets + ["Good muffins cost $3.88\nin New York.  Don't!"]:
        assert tok(text) == wordpunct_tokenize(text)


def test_every_score_records_how_it_was_computed() -> None:
    info = evaluate(predictions=["a b"], targets=["a b"], metrics=["bleu", "rouge"]).metric_info
    assert info["bleu"]["smoothing"] == "nltk SmoothingFunction(epsilon=0.1).method1"
    assert info["bleu"]["tokenizer"].startswith("nltk WordPunctTokenizer")
    assert info["bleu"]["nltk"]
    assert info["rouge"]["use_stemmer"] is True
    assert info["rouge"]["rouge-score"] == "0.1.2"


def test_custom_metric_functions_score_each_row() -> None:
    @metric("mentions_paris")
    def mentions_paris(prediction: str) -> bool:
        return "paris" in prediction.lower()

    def overlap(prediction: str, target: str, inputs: dict[str, object]) -> dict[str, float]:
        return {"chars": float(len(set(prediction) & set(target))), "inputs": float(len(inputs))}

    result = evaluate(
        [
            {"q": "capital?", "answer": "Paris", "pred": "Paris, France"},
            {"q": "river?", "answer": "Seine", "pred": "the Loire"},
        ],
        predictions="pred",
        targets="answer",
        metrics=["mentions_paris", overlap],
    )
    assert result.metrics["mentions_paris"] == 0.5
    assert [r["overlap_inputs"] for r in result.rows] == [1.0, 1.0]
    assert "overlap_chars" in result.metrics


def test_bad_metric_names_and_options_are_reported() -> None:
    with pytest.raises(MetricError, match="unknown metric 'bluu'; known metrics: .*bleu"):
        evaluate(predictions=["a"], targets=["a"], metrics=["bluu"])
    with pytest.raises(MetricError, match="unknown smoothing 'method9'"):
        evaluate(
            predictions=["a"],
            targets=["a"],
            metrics=["bleu"],
            metric_options={"bleu": {"smoothing": "method9"}},
        )
    with pytest.raises(MetricError, match="parameters must be among"):
        metric("bad")(lambda answer: len(answer))

    def broken(prediction: str) -> float:
        return 1 / len(prediction[5:])

    with pytest.raises(MetricError, match="'broken' failed on row 0"):
        evaluate(predictions=["a"], metrics=[broken])
