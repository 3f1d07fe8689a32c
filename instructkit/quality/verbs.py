"""Root verb and direct object of an English instruction, without a parser model.

Self-Instruct (Wang et al. 2023, Figure 2) parsed each generated instruction with the Berkeley Neural
Parser, took the verb closest to the root of the parse tree and its first direct noun object, and drew
the top 20 verbs with their top 4 objects. spaCy's and benepar's English models are not published on
PyPI as official packages, so this module does the light version that fits instruction data, where the
task is nearly always an imperative clause:

1. Split the instruction into clauses at sentence ends, commas, colons and semicolons; look at the
   first four.
2. Drop a polite or framing prefix ("please", "can you", "I want you to", "your task is to", "now").
3. If the clause's first word is in ``VERBS`` (about 230 verbs that start instructions), it is the
   root verb. Its direct object is the head of the noun phrase after it: determiners, pronouns,
   particles and a few adjectives are skipped ("give me some"), then the last word before a
   preposition, conjunction or relative word is the head ("a weekly lunch menu for" -> "menu"), with
   a naive singular ("stories" -> "story"). A clause object ("tell me if ...") has no noun object.

What it misses, measured by ``coverage`` (the share of instructions that got a verb): questions
("What is ...?", "How do I ...?": no imperative verb, counted as ``question``), instructions whose
verb is not a clause's first word ("I would love a poem" -> none), verbs outside the list,
non-English instructions (Chinese has no spaces to split on: counted as ``other``), and noun
phrases cut short by a participle ("a birthday planning checklist" -> "birthday"), and compound
objects ("a poem and a story" -> "poem" only). On the 175
Self-Instruct seed tasks it finds a verb for 153 (87%); on GPTeacher role-play, 85%.
"""

from __future__ import annotations

import re

VERBS = frozenset(
    """act add adjust adopt brainstorm link advise analyse analyze answer apply arrange ask assess assign assume build calculate
    categorize categorise change check choose cite clarify classify come combine compare compile complete compose
    compute condense construct continue convert correct count craft create critique debug decide decode define
    delete derive describe design detect determine develop devise diagnose discuss divide do draft draw edit
    elaborate eliminate embody encode enumerate estimate evaluate examine expand explain explore express extend
    extract fill find finish fix format formulate generate get give group guess help highlight identify illustrate
    imagine implement improve include indicate infer insert interpret introduce invent judge justify label let
    list locate make map match measure mention merge modify name note offer order organize organise outline
    paraphrase parse perform pick plan play point predict prepare present pretend produce propose provide
    put rank rate read recall recommend recreate reduce refactor reformulate remove rename reorder rephrase replace
    reply report represent request research respond restate restructure retell return reverse review revise
    rewrite roleplay role-play say schedule score search select send separate share shorten show simplify
    solve sort specify spell split state suggest summarise summarize supply suppose take teach tell test
    think trace transform translate turn type underline update use validate verify visualize visualise write""".split()
)
# Framing in front of the verb: "please", "can you", "I want you to", "your task is to" ...
_PREFIX = re.compile(
    r"^(?:(?:please|kindly|now|then|also|first|next|finally|so|ok|okay)\b[\s,]*"
    r"|(?:can|could|would|will) you(?: please)?\b\s*"
    r"|i (?:want|need|would like|'d like) you to\b\s*"
    r"|(?:your|the) (?:task|job|goal) is to\b\s*"
    r"|you (?:are asked|need|have|must|should) to\b\s*|you must\b\s*|you should\b\s*"
    r"|help me(?: to)?\b\s*|let'?s\b\s*|try to\b\s*)+",
    re.I,
)
_CLAUSES = re.compile(r"[.!?;:,\n]+")
_WORD = re.compile(r"[a-z][a-z'-]*")
QUESTION = frozenset(
    "what how why who whom whose when where which is are was were do does did can could should would".split()
)
SKIP = frozenset(
    """a an the this that these those some any each every all another such both either no one two three four five
    six seven eight nine ten few several many more most following given above below me us him her them it my your
    our their its his i you we they up out down off over back with about of to for in on into from at by as
    short brief new creative simple detailed good great funny interesting catchy random original single possible
    different similar appropriate suitable best correct main key concise relevant unique common list be""".split()
)
# Words that end a noun phrase: its head noun is the word before (prepositions, conjunctions, relatives).
STOP = frozenset(
    """of to for in on with from about and or but by as if so than into per that which who whom whose where
    when while using based given following this these those the a an its their your my our his her""".split()
)
# A clause as the object ("tell me if ...", "explain how ..."): no noun object.
CLAUSE = frozenset("if whether how what why which who when where are is am was were you're i'm".split())
_KEEP_LIST = re.compile(r"\ba list\b", re.I)
MAX_CLAUSES = 4
MAX_PHRASE = 4  # words of a noun phrase looked at: "a weekly lunch menu" -> menu


def singular(word: str) -> str:
    """A naive singular: ``stories`` -> ``story``, ``sentences`` -> ``sentence``, ``class`` stays."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
        return word[:-1]
    return word


def head_noun(words: list[str]) -> str | None:
    """The head of the noun phrase that starts ``words``: leading determiners, pronouns and particles are
    skipped, then the last word before a preposition, conjunction or relative word is taken."""
    i = 0
    while i < len(words) and words[i] in SKIP:
        i += 1
    if i == len(words) or words[i] in CLAUSE:
        return None
    phrase: list[str] = []
    for w in words[i : i + MAX_PHRASE]:
        if w in STOP or (phrase and w.endswith("ing")):
            break
        phrase.append(w)
    return singular(phrase[-1].removesuffix("'s")) if phrase else None


def verb_object(instruction: str) -> tuple[str | None, str | None, str]:
    """``(verb, object, status)``; status is ``ok``, ``question`` or ``other`` (no verb found).

    >>> verb_object("Please write a short story about a cat.")
    ('write', 'story', 'ok')
    >>> verb_object("Given a sentence, classify its sentiment.")
    ('classify', 'sentiment', 'ok')
    """
    text = instruction.strip().lower()
    first = _WORD.match(text)
    status = "question" if first and first.group(0) in QUESTION else "other"
    for clause in _CLAUSES.split(text)[:MAX_CLAUSES]:
        clause = _PREFIX.sub("", clause.strip())
        words = _WORD.findall(clause)
        if not words or words[0] not in VERBS:
            continue
        verb = words[0]
        if _KEEP_LIST.search(clause) and verb in ("give", "make", "provide", "create", "generate", "write"):
            return verb, "list", "ok"  # "give me a list of ..." -> list, as Self-Instruct's figure has it
        return verb, head_noun(words[1:]), "ok"
    return None, None, status
