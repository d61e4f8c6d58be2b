"""nltk modules load without nltk's package init, and leave the real package importable."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_light_import_skips_nltk_init_and_keeps_real_nltk_importable() -> None:
    code = textwrap.dedent(
        """
        import sys
        from spyglass.evaluator._light import import_light

        porter = import_light("nltk.stem.porter")
        bleu = import_light("nltk.translate.bleu_score")
        assert "nltk" not in sys.modules and "scipy" not in sys.modules
        assert not any(k.startswith("nltk") for k in sys.modules), sorted(sys.modules)
        assert import_light("nltk.stem.porter") is porter
        light = porter.PorterStemmer().stem("running")

        import nltk
        from nltk.translate.bleu_score import sentence_bleu

        assert nltk.stem.porter.PorterStemmer().stem("running") == light == "run"
        hyp, ref = "the cat sat on the mat".split(), "the cat sat on a mat".split()
        assert bleu.brevity_penalty(6, 6) == 1
        print(sentence_bleu([ref], hyp))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0
