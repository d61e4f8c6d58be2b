"""Imported by the scoring workers' forkserver: everything BLEU and ROUGE need, loaded once.

Each worker is forked from the forkserver, so what is imported here costs once per pool,
not once per worker. nltk's modules come in through `import_light` (no nltk package init).
"""

from __future__ import annotations

import rouge_score.tokenize

from spyglass.evaluator import _bleu, _rouge
from spyglass.evaluator._light import import_light

import_light("nltk.translate.bleu_score")
import_light("nltk.stem.porter")

__all__ = ["_bleu", "_rouge", "rouge_score"]
