/* The repetition rule's n-gram checks in C: instructkit.filters._ngrams.first_over.

   first_over(tokens, n_chars, top, dup) answers, for a response's words (a list or tuple of str), the
   questions repetition.py asks of each n in top and then in dup (lists of (n, frac)):
     top: characters covered by the most frequent n-gram (its characters times its count; 0 when no
          n-gram occurs twice; ties go to the n-gram that occurs first, as Counter.most_common(1))
     dup: Gopher's duplicated n-gram characters: scanning left to right, an n-gram equal to one seen
          before adds its characters and the scan jumps n positions (overlaps counted once)
   each over n_chars, and returns the first check whose share exceeds its frac as ("top" | "dup",
   index of the check in its list, share), else None. The share is the same float division Python
   does, so the verdicts are those of the Python code (analysis.NGrams, the fallback): the oracle in
   tests/filters/test_filter_analysis.py checks both. Characters are code points, as len(str) counts
   them; n-grams are joined with single spaces.

   How: each token gets an id in order of first occurrence (a hash table over the str objects' cached
   hashes, equal tokens compared with ==); the n-gram at position i is then the pair (id of the
   (n-1)-gram at i, id of token i + n - 1), so longer n-grams are integer pairs in the same kind of
   table. Counts, the most frequent n-gram and the greedy scan work on those ids.

   Built by `pip install -e .` (pyproject.toml, ext-modules, optional): without a C compiler the
   package installs without it and analysis.py runs the Python code. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

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

/* Fill g for the n-grams of seq (a PySequence_Fast of str). 0 on success, -1 with an exception set. */
static int grams_build(PyObject *seq, Py_ssize_t n, Grams *g) {
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_hash_t *hashes = NULL;
    Py_ssize_t *table = NULL;
    memset(g, 0, sizeof(*g));
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "n must be at least 1");
        return -1;
    }
    g->chars = PyMem_Calloc((size_t)len + 1, sizeof(Py_ssize_t));
    hashes = PyMem_Calloc((size_t)len + 1, sizeof(Py_hash_t));
    if (g->chars == NULL || hashes == NULL)
        goto nomem;
    for (Py_ssize_t i = 0; i < len; i++) {
        PyObject *tok = items[i];
        if (!PyUnicode_Check(tok)) {
            PyErr_Format(PyExc_TypeError, "tokens must be str, got %.100s", Py_TYPE(tok)->tp_name);
            goto fail;
        }
        hashes[i] = PyObject_Hash(tok); /* cached in the str object after the first call */
        if (hashes[i] == -1 && PyErr_Occurred())
            goto fail;
        g->chars[i + 1] = g->chars[i] + PyUnicode_GET_LENGTH(tok);
    }
    g->n_grams = len >= n ? len - n + 1 : 0;
    if (g->n_grams == 0) {
        PyMem_Free(hashes);
        return 0;
    }
    size_t size = 8;
    while (size < 2 * (size_t)g->n_grams)
        size <<= 1;
    table = PyMem_Calloc(size, sizeof(Py_ssize_t)); /* id + 1 of the n-gram in each slot; 0: empty */
    g->ids = PyMem_Calloc((size_t)g->n_grams, sizeof(Py_ssize_t));
    g->first = PyMem_Calloc((size_t)g->n_grams, sizeof(Py_ssize_t));
    g->count = PyMem_Calloc((size_t)g->n_grams, sizeof(Py_ssize_t));
    if (table == NULL || g->ids == NULL || g->first == NULL || g->count == NULL)
        goto nomem;
    for (Py_ssize_t i = 0; i < g->n_grams; i++) {
        size_t h = 0x345678UL;
        for (Py_ssize_t k = 0; k < n; k++)
            h = (h ^ (size_t)hashes[i + k]) * 1000003UL + (size_t)k;
        h ^= h >> 17;
        size_t slot = h & (size - 1);
        for (;;) {
            Py_ssize_t id = table[slot];
            if (id == 0) { /* a new n-gram */
                id = g->distinct++;
                table[slot] = id + 1;
                g->first[id] = i;
                g->count[id] = 1;
                g->ids[i] = id;
                break;
            }
            id -= 1;
            Py_ssize_t j = g->first[id];
            int equal = 1;
            for (Py_ssize_t k = 0; k < n && equal; k++) {
                PyObject *a = items[i + k], *b = items[j + k];
                if (a == b)
                    continue;
                if (hashes[i + k] != hashes[j + k]) {
                    equal = 0;
                    break;
                }
                int eq = PyObject_RichCompareBool(a, b, Py_EQ);
                if (eq < 0)
                    goto fail;
                equal = eq;
            }
            if (equal) {
                g->count[id] += 1;
                g->ids[i] = id;
                break;
            }
            slot = (slot + 1) & (size - 1);
        }
    }
    PyMem_Free(table);
    PyMem_Free(hashes);
    return 0;
nomem:
    PyErr_NoMemory();
fail:
    PyMem_Free(table);
    PyMem_Free(hashes);
    grams_free(g);
    return -1;
}

/* The n-grams of length n from those of length n - 1 and the tokens (level 1): the n-gram at i is the
   pair (its (n-1)-gram prefix at i, the token at i + n - 1), so ids compare as integer pairs. */
static int grams_extend(const Grams *prev, const Grams *unigrams, Py_ssize_t n, Grams *g) {
    Py_ssize_t len = unigrams->n_grams;
    Py_ssize_t *table = NULL;
    memset(g, 0, sizeof(*g));
    g->n_grams = len >= n ? len - n + 1 : 0;
    g->chars = unigrams->chars; /* shared: only the unigram level owns (and frees) it */
    if (g->n_grams == 0)
        return 0;
    size_t size = 8;
    while (size < 2 * (size_t)g->n_grams)
        size <<= 1;
    table = PyMem_Calloc(size, sizeof(Py_ssize_t));
    g->ids = PyMem_Calloc((size_t)g->n_grams, sizeof(Py_ssize_t));
    g->first = PyMem_Calloc((size_t)g->n_grams, sizeof(Py_ssize_t));
    g->count = PyMem_Calloc((size_t)g->n_grams, sizeof(Py_ssize_t));
    if (table == NULL || g->ids == NULL || g->first == NULL || g->count == NULL)
        goto nomem;
    for (Py_ssize_t i = 0; i < g->n_grams; i++) {
        Py_ssize_t a = prev->ids[i], b = unigrams->ids[i + n - 1];
        size_t h = ((size_t)a * 0x9E3779B97F4A7C15ULL) ^ ((size_t)b * 0xC2B2AE3D27D4EB4FULL);
        h ^= h >> 29;
        size_t slot = h & (size - 1);
        for (;;) {
            Py_ssize_t id = table[slot];
            if (id == 0) {
                id = g->distinct++;
                table[slot] = id + 1;
                g->first[id] = i;
                g->count[id] = 1;
                g->ids[i] = id;
                break;
            }
            id -= 1;
            Py_ssize_t j = g->first[id];
            if (prev->ids[j] == a && unigrams->ids[j + n - 1] == b) {
                g->count[id] += 1;
                g->ids[i] = id;
                break;
            }
            slot = (slot + 1) & (size - 1);
        }
    }
    PyMem_Free(table);
    return 0;
nomem:
    PyErr_NoMemory();
    PyMem_Free(table);
    g->chars = NULL; /* the unigram level's */
    grams_free(g);
    return -1;
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
static PyObject *ngrams_first_over(PyObject *self, PyObject *args) {
    PyObject *tokens, *checks[2], *seq, *out = NULL;
    Py_ssize_t n_chars;
    if (!PyArg_ParseTuple(args, "OnOO", &tokens, &n_chars, &checks[0], &checks[1]))
        return NULL;
    if (n_chars <= 0) {
        PyErr_SetString(PyExc_ValueError, "n_chars must be positive");
        return NULL;
    }
    seq = PySequence_Fast(tokens, "tokens must be a list or tuple of str");
    if (seq == NULL)
        return NULL;
    Py_ssize_t len = PySequence_Fast_GET_SIZE(seq);
    Grams *levels = PyMem_Calloc((size_t)len + 2, sizeof(Grams)); /* levels[n]: the n-grams, built on demand */
    unsigned char *seen = PyMem_Calloc((size_t)len + 2, 1);
    Py_ssize_t built = 0; /* levels[1 .. built] are filled */
    /* The smallest n with no repeated n-gram: a repeated m-gram (m > n) starts with a repeated n-gram, so
       from there on every share is 0. */
    Py_ssize_t no_repeat_from = PY_SSIZE_T_MAX;
    if (levels == NULL || seen == NULL) {
        PyErr_NoMemory();
        goto done;
    }
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
                    int rc = built == 0 ? grams_build(seq, 1, &levels[1])
                                        : grams_extend(&levels[built], &levels[1], built + 1, &levels[built + 1]);
                    if (rc < 0) {
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
        for (Py_ssize_t k = 1; k <= built; k++) {
            if (k > 1)
                levels[k].chars = NULL; /* the unigram level's */
            grams_free(&levels[k]);
        }
    PyMem_Free(levels);
    PyMem_Free(seen);
    Py_DECREF(seq);
    return out;
}

static PyMethodDef methods[] = {
    {"first_over", ngrams_first_over, METH_VARARGS,
     "first_over(tokens, n_chars, top, dup) -> ('top' | 'dup', index in that list, share) of the first check "
     "whose share exceeds its frac, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_ngrams", "The repetition rule's n-gram counts in C (analysis.NGrams).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ngrams(void) { return PyModule_Create(&module); }
