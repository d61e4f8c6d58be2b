"""Offline tokenizers and answer normalization for the text metrics.

No tokenizer here loads data: nltk's ``word_tokenize`` needs the ``punkt_tab`` download, so the
``nltk`` choice is ``NLTKWordTokenizer`` (the Treebank-style word splitter that ``word_tokenize``
runs after sentence splitting) and the default is nltk's ``wordpunct`` regex.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from functools import cache
from typing import Literal

TokenizerName = Literal["wordpunct", "nltk", "whitespace"]
Tokenize = Callable[[str], list[str]]

TOKENIZERS: tuple[TokenizerName, ...] = ("wordpunct", "nltk", "whitespace")
# nltk.tokenize.WordPunctTokenizer's pattern.
_WORDPUNCT = re.compile(r"\w+|[^\w\s]+", re.UNICODE | re.MULTILINE | re.DOTALL)

TOKENIZER_DESCRIPTIONS: dict[TokenizerName, str] = {
    "wordpunct": r"nltk WordPunctTokenizer (regex \w+|[^\w\s]+)",
    "nltk": "nltk NLTKWordTokenizer (Treebank rules, no punkt sentence split)",
    "whitespace": "str.split()",
}


@cache
def get_tokenizer(name: TokenizerName, lowercase: bool = False) -> Tokenize:
    """Return the tokenizer called ``name``, optionally lowercasing first.

    Raises:
        ValueError: the name is not one of `TOKENIZERS`.
    """
    base: Tokenize
    if name == "wordpunct":
        base = _WORDPUNCT.findall
    elif name == "whitespace":
        base = str.split
    elif name == "nltk":
        from nltk.tokenize import NLTKWordTokenizer

        base = NLTKWordTokenizer().tokenize
    else:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    if not lowercase:
        return base
    return lambda text: base(text.lower())


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD answer normalization: lowercase, drop punctuation and articles, squeeze spaces.

    Example:
        >>> normalize_answer("The  Eiffel Tower!")
        'eiffel tower'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())
