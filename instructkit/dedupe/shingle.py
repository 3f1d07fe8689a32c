"""Shingles of many texts at once, in numpy: word n-grams, or character n-grams for texts written
without spaces (Chinese, Japanese) and for short texts (under ``min_words`` words).

Tokens are runs of alphanumeric characters (``str.isalnum``) of the NFKC, case-folded text; each CJK
ideograph or kana is a token of its own. This is exactly what exact mode's folding keeps (it turns
everything else into spaces), so an exact duplicate always has the same shingle set.

A batch of texts is joined into one UTF-32 array. Token hashes are polynomial hashes of their code
points (``sum c_k * M^k mod 2^64``, from prefix powers, one ``np.add.reduceat``), word n-gram hashes
are polynomials of token hashes (Horner over shifted views), and both are avalanched with the
MurmurHash3 finaliser. No Python code runs per token or per shingle: about 60-100k texts/s per core
where hashing each token with xxhash in Python managed about 6k/s.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np

_M = np.uint64(0x9E3779B97F4A7C15)  # odd (golden-ratio constant): invertible mod 2^64
_M_INV = np.uint64(pow(int(_M), -1, 1 << 64))
_F1, _F2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_CHAR_TAG = np.uint64(0x5BD1E9955BD1E995)  # keeps character shingles apart from word shingles
_TABLE = 0x30000  # code points below this get a table entry; above: treated as letters (rare)
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF))
SPACELESS_SHARE = 0.3  # a text with at least 30% CJK/kana letters is shingled by characters


def fmix64(h: np.ndarray) -> np.ndarray:
    """The MurmurHash3 64-bit finaliser (an avalanching bijection), element-wise."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> _S33)
        h = h * _F1
        h = h ^ (h >> _S33)
        h = h * _F2
        return h ^ (h >> _S33)


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    # ~20 ms once per process: which code points are letters/digits, and which are CJK/kana.
    word = np.fromiter((chr(i).isalnum() for i in range(_TABLE)), dtype=bool, count=_TABLE)
    cjk = np.zeros(_TABLE, dtype=bool)
    for lo, hi in _CJK_RANGES:
        cjk[lo : hi + 1] = True
    return word, cjk & word


class _Powers:
    """``M^i`` and ``M^-i`` mod 2^64 for i < n, grown on demand (8 bytes x 2 per character of a batch)."""

    pow = np.ones(1, dtype=np.uint64)
    inv = np.ones(1, dtype=np.uint64)

    @classmethod
    def get(cls, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(cls.pow) < n:
            size = max(n, 2 * len(cls.pow), 1 << 16)
            with np.errstate(over="ignore"):
                for name, base in (("pow", _M), ("inv", _M_INV)):
                    steps = np.full(size, base, dtype=np.uint64)
                    steps[0] = 1
                    setattr(cls, name, np.cumprod(steps, dtype=np.uint64))
        return cls.pow, cls.inv


def _ngrams(units: np.ndarray, n: int) -> np.ndarray:
    length = len(units) - n + 1
    with np.errstate(over="ignore"):
        h = units[:length].copy()
        for k in range(1, n):
            h = h * _M + units[k : k + length]
        return fmix64(h ^ np.uint64(n))


def batch_shingles(
    texts: list[str], ngram: int = 5, char_ngram: int = 3, min_words: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes of many texts: ``(hashes, lengths)``, the hashes of text i being the ``lengths[i]``
    values after those of texts ``0..i-1`` (unsorted, may repeat; none for a text without letters).

    Args:
        texts: The compared texts (raw: normalisation happens here).
        ngram: Words per shingle.
        char_ngram: Characters per shingle in the character fallback.
        min_words: Texts with fewer words (and fewer than ``ngram``) are shingled by characters:
            an 8-word prompt has only 4 word 5-grams, and one changed word changes all of them.
    """
    if not texts:
        return np.empty(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    norm = [unicodedata.normalize("NFKC", t).casefold() for t in texts]
    n_docs = len(norm)
    doc_len = np.fromiter(map(len, norm), dtype=np.int64, count=n_docs)
    doc_start = np.concatenate(([0], np.cumsum(doc_len + 1)[:-1]))
    joined = "\x00".join(norm)
    if joined.isascii():  # most corpora: one byte per character, no CJK (the same hashes, ~2x faster)
        cp = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        # ASCII letters and digits (what str.isalnum says below 128), by arithmetic: 10x a table lookup.
        isw = ((cp - np.uint8(48)) < 10) | (((cp | np.uint8(32)) - np.uint8(97)) < 26)
        isc = None
    else:
        word_t, cjk_t = _tables()
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        small = np.minimum(cp, _TABLE - 1)
        isw = word_t[small]
        isw |= cp >= _TABLE
        isc = cjk_t[small]
    # A token starts at a letter that follows a non-letter, or at/after a CJK character.
    start = isw.copy()
    start[1:] &= ~isw[:-1] if isc is None else ~isw[:-1] | isc[1:] | isc[:-1]
    tstart = np.flatnonzero(start)
    # Token hash: sum of cp * M^(pos - start) over the token's letters (non-letters weigh 0).
    pw, inv = _Powers.get(len(cp))
    with np.errstate(over="ignore"):
        vals = np.multiply(cp, isw, dtype=np.uint64)  # non-letters weigh 0
        vals *= pw[: len(cp)]
        tok = fmix64(np.add.reduceat(vals, tstart) * inv[tstart]) if len(tstart) else np.empty(0, np.uint64)
    tdoc = np.searchsorted(doc_start, tstart, side="right") - 1
    ntok = np.bincount(tdoc, minlength=n_docs)
    # CJK letters per text (each is a token); letters are counted only where there are CJK ones.
    ncjk = np.zeros(n_docs) if isc is None else np.bincount(tdoc, weights=isc[tstart], minlength=n_docs)
    spaceless = np.zeros(n_docs, dtype=bool)
    for d in np.flatnonzero(ncjk).tolist():
        letters = np.count_nonzero(isw[doc_start[d] : doc_start[d] + doc_len[d]])
        spaceless[d] = ncjk[d] >= SPACELESS_SHARE * letters
    by_char = (ntok > 0) & (spaceless | (ntok < max(ngram, min_words)))

    hashes, docs = [], []
    # Word n-grams of all word-mode texts at once; windows that cross texts are dropped.
    wm = (ntok >= ngram) & ~by_char
    sel = wm[tdoc]
    t_w, d_w = tok[sel], tdoc[sel]
    if len(t_w) >= ngram:
        h = _ngrams(t_w, ngram)
        ok = d_w[: len(h)] == d_w[ngram - 1 :]
        hashes.append(h[ok])
        docs.append(d_w[: len(h)][ok])
    # Character n-grams, text by text (short texts and CJK are the minority of a corpus).
    for d in np.flatnonzero(by_char).tolist():
        lo = doc_start[d]
        pos = lo + np.flatnonzero(isw[lo : lo + doc_len[d]])
        units = cp[pos].astype(np.uint64)
        if not spaceless[d]:  # short text: a space between words, so "a bc" != "ab c"
            t_lo, t_hi = np.searchsorted(tdoc, d, side="left"), np.searchsorted(tdoc, d, side="right")
            starts = np.searchsorted(pos, tstart[t_lo:t_hi])[1:]
            units = np.insert(units, starts, np.uint64(32))
        units = units ^ _CHAR_TAG
        hashes.append(_ngrams(units, min(char_ngram, len(units))))
        docs.append(np.full(len(hashes[-1]), d, dtype=np.int64))
    if not hashes:
        return np.empty(0, dtype=np.uint64), np.zeros(n_docs, dtype=np.int64)
    h, dd = np.concatenate(hashes), np.concatenate(docs)
    if len(hashes) > 1:
        order = np.argsort(dd, kind="stable")
        h, dd = h[order], dd[order]
    return h, np.bincount(dd, minlength=n_docs)


def shingle_hashes(text: str, ngram: int = 5, char_ngram: int = 3, min_words: int = 10) -> np.ndarray:
    """The shingle hashes of one text (see ``batch_shingles``)."""
    return batch_shingles([text], ngram, char_ngram, min_words)[0]
