/* The filter rules' hottest text helpers in C: instructkit.filters._speedups.

   Each function returns exactly what its Python twin in filters/analysis.py or filters/ngrams.py (and
   the plain reference in tests/filters/test_filter_analysis.py) returns; those modules run the twin
   when this one is not built. Built by `pip install -e .` (setup.py, an optional extension): without a C
   compiler the package installs without it.

   first_over(tokens, n_chars, top, dup)
       The repetition rule's n-gram checks. For a response's words (a list or tuple of str) and each
       (n, frac) in top and then in dup:
         top: characters covered by the most frequent n-gram (its characters times its count; 0 when
              no n-gram occurs twice; ties go to the n-gram that occurs first, as Counter.most_common(1))
         dup: Gopher's duplicated n-gram characters: scanning left to right, an n-gram equal to one seen
              before adds its characters and the scan jumps n positions (overlaps counted once)
       each over n_chars; returns the first check whose share exceeds its frac as ("top" | "dup",
       index of the check in its list, share), else None. The share is the float division Python does.
       Characters are code points, as len(str) counts them; n-grams are joined with single spaces.
       How: each token gets an id in order of first occurrence (a hash table over the str objects'
       cached hashes, equal tokens compared with ==); the n-gram at position i is then the pair (id of
       the (n-1)-gram at i, id of token i + n - 1), so longer n-grams are integer pairs in the same kind
       of table, and counts, the most frequent n-gram and the greedy scan work on ids. A length with no
       repeated n-gram ends the work: no longer n-gram can repeat.

   ASCII text (the caller checks str.isascii()); whitespace is str.split()'s: space, \t \n \v \f \r
   and \x1c-\x1f; letters and digits are [A-Za-z0-9], what str.isalnum() accepts below 128:
   count_words_ascii(text)  whitespace-separated tokens with a letter or digit
   words_ascii(text)        those tokens, a list of str
   alpha_words_ascii(text)  whitespace-separated tokens with a letter
   norm_ascii(text)         the runs of letters and digits, lower-cased, joined by single spaces
   squeeze_ascii(text, max_chars)  " ".join(text[:max_chars].split())
   pii_shapes_ascii(text)   (card, ipv4, phone): whether pii.py's CARD, IPV4 and PHONE can match
   ascii_response(text, n_chars, min_words, top, dup)
                            (words, longest, total, alpha, hit): the repetition rule's measures of a
                            response (word count, longest word, total word length, words with a
                            letter, first_over of its words when it has min_words), with no str per word

   Phrases(phrases).first_in(text, start=0)
       The index of the first of phrases[start:] that occurs in text (str `in`), or -1, with ASCII
       text scanned once for all the phrases.
*/

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>

/* Python < 3.12 may hold a str in the legacy (not "ready") form: make it ready before reading its data. */
static inline int ready(PyObject *text) {
#if PY_VERSION_HEX < 0x030C0000
    return PyUnicode_READY(text);
#else
    (void)text;
    return 0;
#endif
}

typedef struct {
    Py_ssize_t n_grams;   /* positions: len(tokens) - n + 1, or 0 */
    Py_ssize_t distinct;  /* distinct n-grams */
    Py_ssize_t *ids;      /* n_grams: the id of each position's n-gram (0 .. distinct-1) */
    Py_ssize_t *first;    /* distinct: the first position of each n-gram */
    Py_ssize_t *count;    /* distinct: its occurrences */
    Py_ssize_t *chars;    /* len(tokens) + 1: prefix sums of the tokens' lengths */
} Grams;

static void grams_free(Grams *g) {
    PyMem_Free(g->ids);
    PyMem_Free(g->first);
    PyMem_Free(g->count);
    PyMem_Free(g->chars);
}

/* Characters of the n-gram at position i, as if joined with single spaces. */
static Py_ssize_t gram_chars(const Grams *g, Py_ssize_t i, Py_ssize_t n) {
    return g->chars[i + n] - g->chars[i] + n - 1;
}

/* What grams_intern needs of the items it numbers: a hash of item i, and whether items i and j are equal
   (1, 0, or -1 with an exception set). Items with different hashes are never equal. */
typedef struct {
    size_t (*hash)(const void *ctx, Py_ssize_t i);
    int (*equal)(const void *ctx, Py_ssize_t i, Py_ssize_t j);
    const void *ctx;
} Items;

/* Number g->n_grams items in order of first occurrence: g->ids, g->first, g->count and g->distinct, from
   an open-addressing hash table (the caller sets g->n_grams and g->chars). 0, or -1 with an exception
   set and g's arrays freed. */
static int grams_intern(Grams *g, const Items *items) {
    size_t size = 8;
    while (size < 2 * (size_t)g->n_grams)
        size <<= 1;
    Py_ssize_t *table = PyMem_Calloc(size, sizeof(Py_ssize_t)); /* id + 1 of the item in each slot; 0: empty */
    g->ids = PyMem_Calloc((size_t)g->n_grams + 1, sizeof(Py_ssize_t));
    g->first = PyMem_Calloc((size_t)g->n_grams + 1, sizeof(Py_ssize_t));
    g->count = PyMem_Calloc((size_t)g->n_grams + 1, sizeof(Py_ssize_t));
    if (table == NULL || g->ids == NULL || g->first == NULL || g->count == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < g->n_grams; i++) {
        size_t slot = items->hash(items->ctx, i) & (size - 1);
        for (;;) {
            Py_ssize_t id = table[slot];
            if (id == 0) { /* a new item */
                id = g->distinct++;
                table[slot] = id + 1;
                g->first[id] = i;
                g->count[id] = 1;
                g->ids[i] = id;
                break;
            }
            int eq = items->equal(items->ctx, g->first[id - 1], i);
            if (eq < 0)
                goto fail;
            if (eq) {
                g->count[id - 1] += 1;
                g->ids[i] = id - 1;
                break;
            }
            slot = (slot + 1) & (size - 1);
        }
    }
    PyMem_Free(table);
    return 0;
fail:
    PyMem_Free(table);
    PyMem_Free(g->ids);
    PyMem_Free(g->first);
    PyMem_Free(g->count);
    g->ids = g->first = g->count = NULL;
    return -1;
}

static size_t mix(uint64_t h) {
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    return (size_t)(h ^ (h >> 32));
}

/* Tokens given as str objects: their cached str hashes; equal when the same object or == . */
typedef struct {
    PyObject **items;
    const Py_hash_t *hashes;
} StrTokens;

static size_t str_hash(const void *ctx, Py_ssize_t i) { return mix((uint64_t)((const StrTokens *)ctx)->hashes[i]); }

static int str_equal(const void *ctx, Py_ssize_t i, Py_ssize_t j) {
    const StrTokens *t = ctx;
    if (t->items[i] == t->items[j])
        return 1;
    if (t->hashes[i] != t->hashes[j])
        return 0;
    return PyObject_RichCompareBool(t->items[i], t->items[j], Py_EQ);
}

/* Fill g for the tokens of seq (a PySequence_Fast of str), one id per token. 0, or -1 with an exception. */
static int grams_build(PyObject *seq, Grams *g) {
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    memset(g, 0, sizeof(*g));
    g->chars = PyMem_Calloc((size_t)len + 1, sizeof(Py_ssize_t));
    Py_hash_t *hashes = PyMem_Calloc((size_t)len + 1, sizeof(Py_hash_t));
    if (g->chars == NULL || hashes == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *tok = items[i];
        if (!PyUnicode_Check(tok)) {
            PyErr_Format(PyExc_TypeError, "tokens must be str, got %.100s", Py_TYPE(tok)->tp_name);
            goto fail;
        }
        if (ready(tok) < 0)
            goto fail;
        hashes[i] = PyObject_Hash(tok); /* cached in the str object after the first call */
        if (hashes[i] == -1 && PyErr_Occurred())
            goto fail;
        g->chars[i + 1] = g->chars[i] + PyUnicode_GET_LENGTH(tok);
    }
    g->n_grams = len;
    StrTokens ctx = {items, hashes};
    Items it = {str_hash, str_equal, &ctx};
    if (grams_intern(g, &it) < 0)
        goto fail;
    PyMem_Free(hashes);
    return 0;
fail:
    PyMem_Free(hashes);
    grams_free(g);
    return -1;
}

/* The n-grams of length n from those of length n - 1 (prev) and the tokens (uni): the n-gram at i is the
   pair (its (n-1)-gram prefix at i, the token at i + n - 1), so ids compare as integer pairs. */
typedef struct {
    const Grams *prev, *uni;
    Py_ssize_t n;
} Pairs;

static size_t pair_hash(const void *ctx, Py_ssize_t i) {
    const Pairs *p = ctx;
    return mix((uint64_t)p->prev->ids[i] * 0x9E3779B97F4A7C15ULL ^ (uint64_t)p->uni->ids[i + p->n - 1]);
}

static int pair_equal(const void *ctx, Py_ssize_t i, Py_ssize_t j) {
    const Pairs *p = ctx;
    return p->prev->ids[i] == p->prev->ids[j] && p->uni->ids[i + p->n - 1] == p->uni->ids[j + p->n - 1];
}

static int grams_extend(const Grams *prev, const Grams *unigrams, Py_ssize_t n, Grams *g) {
    Py_ssize_t len = unigrams->n_grams;
    memset(g, 0, sizeof(*g));
    g->n_grams = len >= n ? len - n + 1 : 0;
    g->chars = unigrams->chars; /* shared: only the unigram level owns (and frees) it */
    Pairs ctx = {prev, unigrams, n};
    Items it = {pair_hash, pair_equal, &ctx};
    return grams_intern(g, &it);
}

static Py_ssize_t top_chars(const Grams *g, Py_ssize_t n) {
    Py_ssize_t best = -1, best_count = 0;
    for (Py_ssize_t id = 0; id < g->distinct; id++)
        if (g->count[id] > best_count) {
            best = id;
            best_count = g->count[id];
        }
    return best >= 0 && best_count > 1 ? gram_chars(g, g->first[best], n) * best_count : 0;
}

static Py_ssize_t dup_chars(const Grams *g, Py_ssize_t n, unsigned char *seen) {
    Py_ssize_t chars = 0, i = 0;
    if (g->n_grams == g->distinct)
        return 0;
    memset(seen, 0, (size_t)g->distinct + 1);
    while (i < g->n_grams) {
        Py_ssize_t id = g->ids[i];
        if (seen[id]) {
            chars += gram_chars(g, i, n);
            i += n;
        } else {
            seen[id] = 1;
            i += 1;
        }
    }
    return chars;
}

/* first_over(tokens, n_chars, top, dup): the repetition rule's n-gram checks in one call. top and dup are
   lists of (n, frac), checked in that order: the first n whose share (top: the most frequent n-gram's
   characters; dup: the duplicated n-gram characters; over n_chars) exceeds frac, as ("top" | "dup", n,
   share), or None. */
/* The checks of first_over over the n-grams built up from unigrams (the tokens' ids, built by the caller,
   who frees them); the result as first_over returns it, or NULL with an exception set. */
static PyObject *checks_over(const Grams *unigrams, Py_ssize_t len, Py_ssize_t n_chars, PyObject *checks[2]) {
    PyObject *out = NULL;
    Grams *levels = PyMem_Calloc((size_t)len + 2, sizeof(Grams)); /* levels[n]: the n-grams, built on demand */
    unsigned char *seen = PyMem_Calloc((size_t)len + 2, 1);
    Py_ssize_t built = 1; /* levels[1 .. built] are filled */
    /* The smallest n with no repeated n-gram: a repeated m-gram (m > n) starts with a repeated n-gram, so
       from there on every share is 0. */
    Py_ssize_t no_repeat_from = PY_SSIZE_T_MAX;
    if (levels == NULL || seen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    levels[1] = *unigrams;
    if (len > 0 && unigrams->n_grams == unigrams->distinct)
        no_repeat_from = 1;
    for (int kind = 0; kind < 2; kind++) {
        PyObject *list = PySequence_Fast(checks[kind], "checks must be a list of (n, frac)");
        if (list == NULL)
            goto done;
        for (Py_ssize_t c = 0; c < PySequence_Fast_GET_SIZE(list); c++) {
            Py_ssize_t n;
            double frac;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(list, c), "nd", &n, &frac)) {
                Py_DECREF(list);
                goto done;
            }
            if (n < 1) {
                PyErr_SetString(PyExc_ValueError, "n must be at least 1");
                Py_DECREF(list);
                goto done;
            }
            Py_ssize_t chars = 0;
            if (n <= len && n < no_repeat_from) {
                for (; built < n && built < no_repeat_from; built++) {
                    if (grams_extend(&levels[built], &levels[1], built + 1, &levels[built + 1]) < 0) {
                        Py_DECREF(list);
                        goto done;
                    }
                    if (levels[built + 1].n_grams == levels[built + 1].distinct) /* no repeat: none longer */
                        no_repeat_from = built + 1;
                }
                if (n < no_repeat_from)
                    chars = kind == 0 ? top_chars(&levels[n], n) : dup_chars(&levels[n], n, seen);
            }
            double share = (double)chars / (double)n_chars;
            if (share > frac) {
                out = Py_BuildValue("snd", kind == 0 ? "top" : "dup", c, share);
                Py_DECREF(list);
                goto done;
            }
        }
        Py_DECREF(list);
    }
    out = Py_NewRef(Py_None);
done:
    if (levels != NULL)
        for (Py_ssize_t k = 2; k <= built; k++) {
            levels[k].chars = NULL; /* the unigram level's */
            grams_free(&levels[k]);
        }
    PyMem_Free(levels);
    PyMem_Free(seen);
    return out;
}

static PyObject *ngrams_first_over(PyObject *self, PyObject *args) {
    PyObject *tokens, *checks[2], *seq, *out;
    Py_ssize_t n_chars;
    Grams unigrams;
    if (!PyArg_ParseTuple(args, "OnOO", &tokens, &n_chars, &checks[0], &checks[1]))
        return NULL;
    if (n_chars <= 0) {
        PyErr_SetString(PyExc_ValueError, "n_chars must be positive");
        return NULL;
    }
    seq = PySequence_Fast(tokens, "tokens must be a list or tuple of str");
    if (seq == NULL)
        return NULL;
    if (grams_build(seq, &unigrams) < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    out = checks_over(&unigrams, PySequence_Fast_GET_SIZE(seq), n_chars, checks);
    grams_free(&unigrams);
    Py_DECREF(seq);
    return out;
}

/* --- ASCII text ------------------------------------------------------------------------------- */

static unsigned char ascii_class[128]; /* bit 1: whitespace (str.split), 2: letter, 4: digit */
#define WS 1
#define ALPHA 2
#define DIGIT 4

static void ascii_class_init(void) {
    const char *ws = " \t\n\v\f\r\x1c\x1d\x1e\x1f";
    for (const char *c = ws; *c; c++)
        ascii_class[(unsigned char)*c] |= WS;
    for (int c = 'a'; c <= 'z'; c++)
        ascii_class[c] |= ALPHA;
    for (int c = 'A'; c <= 'Z'; c++)
        ascii_class[c] |= ALPHA;
    for (int c = '0'; c <= '9'; c++)
        ascii_class[c] |= DIGIT;
}

static const Py_UCS1 *ascii_data(PyObject *text, Py_ssize_t *len) {
    if (!PyUnicode_Check(text) || ready(text) < 0 || !PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "text must be an ASCII str");
        return NULL;
    }
    *len = PyUnicode_GET_LENGTH(text);
    return PyUnicode_1BYTE_DATA(text);
}

/* Whitespace-separated tokens holding a character of class `want`. */
static PyObject *count_tokens(PyObject *text, unsigned char want) {
    Py_ssize_t len, count = 0;
    const Py_UCS1 *s = ascii_data(text, &len);
    if (s == NULL)
        return NULL;
    int in_token = 0, counted = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char cls = ascii_class[s[i]];
        if (cls & WS) {
            in_token = 0;
            continue;
        }
        if (!in_token) {
            in_token = 1;
            counted = 0;
        }
        if (!counted && (cls & want)) {
            counted = 1;
            count++;
        }
    }
    return PyLong_FromSsize_t(count);
}

static PyObject *speed_count_words_ascii(PyObject *self, PyObject *text) { return count_tokens(text, ALPHA | DIGIT); }

/* The whitespace-separated tokens with a letter or digit, as str objects. */
static PyObject *speed_words_ascii(PyObject *self, PyObject *text) {
    Py_ssize_t len;
    const Py_UCS1 *s = ascii_data(text, &len);
    if (s == NULL)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_ssize_t i = 0;
    while (i < len) {
        while (i < len && (ascii_class[s[i]] & WS))
            i++;
        Py_ssize_t start = i;
        int word = 0;
        while (i < len && !(ascii_class[s[i]] & WS)) {
            word |= ascii_class[s[i]] & (ALPHA | DIGIT);
            i++;
        }
        if (word) {
            PyObject *tok = PyUnicode_FromStringAndSize((const char *)s + start, i - start);
            if (tok == NULL || PyList_Append(out, tok) < 0) {
                Py_XDECREF(tok);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(tok);
        }
    }
    return out;
}

static PyObject *speed_alpha_words_ascii(PyObject *self, PyObject *text) { return count_tokens(text, ALPHA); }

/* " ".join(text[:max_chars].split()): the first max_chars characters, whitespace runs made one space. */
static PyObject *speed_squeeze_ascii(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t max_chars, len, n = 0;
    if (!PyArg_ParseTuple(args, "On", &text, &max_chars))
        return NULL;
    const Py_UCS1 *s = ascii_data(text, &len);
    if (s == NULL)
        return NULL;
    if (max_chars < 0)
        max_chars = len + max_chars > 0 ? len + max_chars : 0; /* as a negative slice bound */
    if (len > max_chars)
        len = max_chars;
    char *buf = PyMem_Malloc((size_t)len + 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    int gap = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (ascii_class[s[i]] & WS) {
            gap = 1;
        } else {
            if (gap && n)
                buf[n++] = ' ';
            gap = 0;
            buf[n++] = (char)s[i];
        }
    }
    PyObject *out = PyUnicode_FromStringAndSize(buf, n);
    PyMem_Free(buf);
    return out;
}

static PyObject *speed_norm_ascii(PyObject *self, PyObject *text) {
    Py_ssize_t len, n = 0;
    const Py_UCS1 *s = ascii_data(text, &len);
    if (s == NULL)
        return NULL;
    char *buf = PyMem_Malloc((size_t)len + 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    int gap = 0; /* a run of other characters since the last letter or digit */
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS1 c = s[i];
        if (ascii_class[c] & (ALPHA | DIGIT)) {
            if (gap && n)
                buf[n++] = ' ';
            gap = 0;
            buf[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        } else {
            gap = 1;
        }
    }
    PyObject *out = PyUnicode_FromStringAndSize(buf, n);
    PyMem_Free(buf);
    return out;
}

/* pii.py's guards for ASCII text in one pass: (card, ipv4, phone), each False only where that regex cannot
   match. With whitespace and . - ( ) deleted ("glued"), a card is 13 digits in a row and a phone 10 digits
   in a row or "+" and 6 digits; an IPv4 address has a digit, ".", a digit. No digit: all False. */
static PyObject *speed_pii_shapes_ascii(PyObject *self, PyObject *text) {
    Py_ssize_t len;
    const Py_UCS1 *s = ascii_data(text, &len);
    if (s == NULL)
        return NULL;
    Py_ssize_t run = 0, plus = -1; /* digits in a row in the glued text; digits after a '+' there (-1: none) */
    int card = 0, ipv4 = 0, phone = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS1 c = s[i];
        if (ascii_class[c] & DIGIT) {
            run++;
            if (plus >= 0)
                plus++;
            if (run >= 13)
                card = 1;
            if (run >= 10 || plus >= 6)
                phone = 1;
            if (!ipv4 && i >= 2 && s[i - 1] == '.' && (ascii_class[s[i - 2]] & DIGIT))
                ipv4 = 1;
        } else if ((ascii_class[c] & WS) || c == '.' || c == '-' || c == '(' || c == ')') {
            continue; /* glue: deleted from the glued text */
        } else {
            run = 0;
            plus = c == '+' ? 0 : -1;
        }
        if (card && ipv4 && phone)
            break;
    }
    return Py_BuildValue("(OOO)", card ? Py_True : Py_False, ipv4 ? Py_True : Py_False, phone ? Py_True : Py_False);
}

/* --- a response of ASCII text, for the repetition rule ------------------------------------------ */

/* Tokens given as byte ranges of ASCII text: equal when their bytes are. */
typedef struct {
    const Py_UCS1 *s;
    const Py_ssize_t *start, *tlen;
    const uint64_t *hashes;
} Ranges;

static size_t range_hash(const void *ctx, Py_ssize_t i) { return mix(((const Ranges *)ctx)->hashes[i]); }

static int range_equal(const void *ctx, Py_ssize_t i, Py_ssize_t j) {
    const Ranges *r = ctx;
    return r->hashes[i] == r->hashes[j] && r->tlen[i] == r->tlen[j] &&
           memcmp(r->s + r->start[i], r->s + r->start[j], (size_t)r->tlen[i]) == 0;
}

/* Fill g for the tokens s[start[i] : start[i] + tlen[i]], one id per token. 0, or -1 with an exception. */
static int grams_build_ranges(const Py_UCS1 *s, const Py_ssize_t *start, const Py_ssize_t *tlen, Py_ssize_t len,
                              Grams *g) {
    memset(g, 0, sizeof(*g));
    g->chars = PyMem_Calloc((size_t)len + 1, sizeof(Py_ssize_t));
    uint64_t *hashes = PyMem_Calloc((size_t)len + 1, sizeof(uint64_t));
    if (g->chars == NULL || hashes == NULL) {
        PyErr_NoMemory();
        PyMem_Free(hashes);
        grams_free(g);
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (Py_ssize_t k = 0; k < tlen[i]; k++)
            h = (h ^ s[start[i] + k]) * 1099511628211ULL;
        hashes[i] = h;
        g->chars[i + 1] = g->chars[i] + tlen[i];
    }
    g->n_grams = len;
    Ranges ctx = {s, start, tlen, hashes};
    Items it = {range_hash, range_equal, &ctx};
    int rc = grams_intern(g, &it);
    PyMem_Free(hashes);
    if (rc < 0)
        grams_free(g);
    return rc;
}

/* ascii_response(text, n_chars, min_words, top, dup) -> (words, longest, total, alpha, hit): what the
   repetition rule measures of a response of ASCII text, without making a str per word. words: the
   whitespace-separated tokens with a letter or digit (analysis.words); longest and total: the longest
   word's length and the sum of their lengths; alpha: the tokens with a letter (analysis.alpha_words);
   hit: first_over(those words, n_chars, top, dup) when there are at least min_words of them, else None. */
static PyObject *speed_ascii_response(PyObject *self, PyObject *args) {
    PyObject *text, *checks[2], *hit = NULL, *out = NULL;
    Py_ssize_t n_chars, min_words, len;
    if (!PyArg_ParseTuple(args, "UnnOO", &text, &n_chars, &min_words, &checks[0], &checks[1]))
        return NULL;
    if (n_chars <= 0) {
        PyErr_SetString(PyExc_ValueError, "n_chars must be positive");
        return NULL;
    }
    const Py_UCS1 *s = ascii_data(text, &len);
    if (s == NULL)
        return NULL;
    PyObject *count = count_tokens(text, ALPHA | DIGIT); /* the words, to allocate for them exactly */
    if (count == NULL)
        return NULL;
    Py_ssize_t cap = PyLong_AsSsize_t(count) + 1;
    Py_DECREF(count);
    Py_ssize_t *start = PyMem_Malloc((size_t)cap * sizeof(Py_ssize_t));
    Py_ssize_t *tlen = PyMem_Malloc((size_t)cap * sizeof(Py_ssize_t));
    if (start == NULL || tlen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t n = 0, longest = 0, total = 0, alpha = 0, i = 0;
    while (i < len) {
        while (i < len && (ascii_class[s[i]] & WS))
            i++;
        Py_ssize_t b = i;
        unsigned char cls = 0;
        while (i < len && !(ascii_class[s[i]] & WS))
            cls |= ascii_class[s[i++]];
        if (cls & (ALPHA | DIGIT)) {
            start[n] = b;
            tlen[n] = i - b;
            if (tlen[n] > longest)
                longest = tlen[n];
            total += tlen[n];
            alpha += (cls & ALPHA) != 0;
            n++;
        }
    }
    if (n >= min_words) {
        Grams unigrams;
        if (grams_build_ranges(s, start, tlen, n, &unigrams) < 0)
            goto done;
        hit = checks_over(&unigrams, n, n_chars, checks);
        grams_free(&unigrams);
        if (hit == NULL)
            goto done;
    } else {
        hit = Py_NewRef(Py_None);
    }
    out = Py_BuildValue("nnnnN", n, longest, total, alpha, hit);
done:
    PyMem_Free(start);
    PyMem_Free(tlen);
    return out;
}

/* --- Phrases: several substrings looked up in one pass ------------------------------------------ */

/* Phrases(phrases).first_in(text, start=0): the index of the first of phrases[start:] that occurs in text,
   or -1, as a loop of str `in` finds it, with ASCII text scanned once for all phrases at a time. Each
   phrase of 3 or more ASCII characters is keyed by its first 3 bytes, hashed into a 65,536-bit table;
   a position of the text is compared with the phrases only where its 3 bytes hit the table. Shorter
   phrases, non-ASCII text and non-ASCII phrases go through PyUnicode_Contains (str `in`). */

#define KEY_BITS 16
typedef struct {
    PyObject_HEAD
    PyObject *phrases; /* tuple of str */
    Py_ssize_t n;
    Py_ssize_t *len;   /* n: length of each phrase */
    uint32_t *key;     /* n: hashed key of its first 3 bytes (ASCII phrases of 3+ characters) */
    unsigned char *kind; /* n: 0 keyed; 1 through PyUnicode_Contains; 2 never in ASCII text (non-ASCII) */
    uint64_t table[(1 << KEY_BITS) / 64];
} Phrases;

static inline uint32_t key3(const Py_UCS1 *s) {
    uint32_t k = (uint32_t)s[0] | ((uint32_t)s[1] << 8) | ((uint32_t)s[2] << 16);
    return (k * 2654435761u) >> (32 - KEY_BITS);
}

static void phrases_dealloc(Phrases *self) {
    Py_XDECREF(self->phrases);
    PyMem_Free(self->len);
    PyMem_Free(self->key);
    PyMem_Free(self->kind);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *phrases_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    PyObject *arg;
    static char *kwlist[] = {"phrases", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &arg))
        return NULL;
    PyObject *tuple = PySequence_Tuple(arg);
    if (tuple == NULL)
        return NULL;
    Phrases *self = (Phrases *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(tuple);
        return NULL;
    }
    self->phrases = tuple;
    self->n = PyTuple_GET_SIZE(tuple);
    self->len = PyMem_Calloc((size_t)self->n + 1, sizeof(Py_ssize_t));
    self->key = PyMem_Calloc((size_t)self->n + 1, sizeof(uint32_t));
    self->kind = PyMem_Calloc((size_t)self->n + 1, 1);
    if (self->len == NULL || self->key == NULL || self->kind == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < self->n; i++) {
        PyObject *p = PyTuple_GET_ITEM(tuple, i);
        if (!PyUnicode_Check(p)) {
            PyErr_Format(PyExc_TypeError, "phrases must be str, got %.100s", Py_TYPE(p)->tp_name);
            Py_DECREF(self);
            return NULL;
        }
        if (ready(p) < 0) {
            Py_DECREF(self);
            return NULL;
        }
        self->len[i] = PyUnicode_GET_LENGTH(p);
        if (!PyUnicode_IS_ASCII(p)) {
            self->kind[i] = 2;
        } else if (self->len[i] < 3) {
            self->kind[i] = 1;
        } else {
            self->key[i] = key3(PyUnicode_1BYTE_DATA(p));
            self->table[self->key[i] >> 6] |= (uint64_t)1 << (self->key[i] & 63);
        }
    }
    return (PyObject *)self;
}

static PyObject *phrases_first_in(Phrases *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t start = 0;
    if (!PyArg_ParseTuple(args, "U|n", &text, &start))
        return NULL;
    if (start < 0)
        start = 0;
    if (ready(text) < 0)
        return NULL;
    Py_ssize_t best = -1;
    int ascii = PyUnicode_IS_ASCII(text);
    /* Phrases that the table does not cover: in list order, the first one found bounds the rest. */
    for (Py_ssize_t i = start; i < self->n; i++) {
        if (ascii && self->kind[i] != 1) {
            continue;
        }
        int rc = PyUnicode_Contains(text, PyTuple_GET_ITEM(self->phrases, i));
        if (rc < 0)
            return NULL;
        if (rc) {
            best = i;
            break;
        }
    }
    if (!ascii)
        return PyLong_FromSsize_t(best);
    Py_ssize_t limit = best < 0 ? self->n : best; /* only an earlier phrase can improve on best */
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t pos = 0; pos + 3 <= len && limit > start; pos++) {
        uint32_t k = key3(s + pos);
        if (!(self->table[k >> 6] & ((uint64_t)1 << (k & 63))))
            continue;
        for (Py_ssize_t i = start; i < limit; i++) {
            if (self->kind[i] == 0 && self->key[i] == k && pos + self->len[i] <= len &&
                memcmp(s + pos, PyUnicode_1BYTE_DATA(PyTuple_GET_ITEM(self->phrases, i)), (size_t)self->len[i]) == 0) {
                limit = i; /* found: now only earlier phrases matter */
                break;
            }
        }
    }
    if (limit < (best < 0 ? self->n : best))
        best = limit;
    return PyLong_FromSsize_t(best);
}

static PyMethodDef phrases_methods[] = {
    {"first_in", (PyCFunction)phrases_first_in, METH_VARARGS,
     "first_in(text, start=0) -> index of the first of the phrases[start:] that occurs in text, or -1"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef phrases_members[] = {
    {"phrases", T_OBJECT, offsetof(Phrases, phrases), READONLY, "the phrases, a tuple"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject PhrasesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "instructkit.filters._speedups.Phrases",
    .tp_basicsize = sizeof(Phrases),
    .tp_dealloc = (destructor)phrases_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Phrases(phrases): substrings to look up together; .first_in(text, start=0) -> index or -1",
    .tp_methods = phrases_methods,
    .tp_members = phrases_members,
    .tp_new = phrases_new,
};

static PyMethodDef methods[] = {
    {"first_over", ngrams_first_over, METH_VARARGS,
     "first_over(tokens, n_chars, top, dup) -> ('top' | 'dup', index in that list, share) of the first check "
     "whose share exceeds its frac, or None"},
    {"count_words_ascii", speed_count_words_ascii, METH_O,
     "count_words_ascii(text) -> whitespace-separated tokens with a letter or digit (ASCII text)"},
    {"words_ascii", speed_words_ascii, METH_O,
     "words_ascii(text) -> the whitespace-separated tokens with a letter or digit (ASCII text)"},
    {"alpha_words_ascii", speed_alpha_words_ascii, METH_O,
     "alpha_words_ascii(text) -> whitespace-separated tokens with a letter (ASCII text)"},
    {"squeeze_ascii", speed_squeeze_ascii, METH_VARARGS,
     "squeeze_ascii(text, max_chars) -> ' '.join(text[:max_chars].split()) (ASCII text)"},
    {"norm_ascii", speed_norm_ascii, METH_O,
     "norm_ascii(text) -> the runs of letters and digits, lower-cased, joined by single spaces (ASCII text)"},
    {"pii_shapes_ascii", speed_pii_shapes_ascii, METH_O,
     "pii_shapes_ascii(text) -> (card, ipv4, phone): False where pii.py's regex cannot match (ASCII text)"},
    {"ascii_response", speed_ascii_response, METH_VARARGS,
     "ascii_response(text, n_chars, min_words, top, dup) -> (words, longest, total, alpha, hit) (ASCII text)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_speedups", "The filter rules' hottest text helpers in C (filters/analysis.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    ascii_class_init();
    if (PyType_Ready(&PhrasesType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PhrasesType);
    if (PyModule_AddObject(m, "Phrases", (PyObject *)&PhrasesType) < 0) {
        Py_DECREF(&PhrasesType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
