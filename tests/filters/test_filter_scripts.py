"""Scripts decide the language (Han -> zh whatever the detector says), quoted text and task material are
not judged, and spaceless scripts skip word-length rules. Fixtures modelled on the alpaca_zh records the
shipped filters used to drop; the real alpaca_zh demo when it is in the shared data."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from instructkit import api
from instructkit.filters._script import is_spaceless, script_language
from instructkit.filters.language import LanguageFilter, LanguageParams, judged_text
from instructkit.filters.repetition import RepetitionFilter, RepetitionParams
from instructkit.shards import ShardSet


def _sft(user: str, assistant: str) -> dict:
    return {"id": "r", "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def test_script_language_table():
    assert script_language("唔該晒，我哋去飲茶啦，好唔好呀") == "zh"  # Cantonese in Han: zh
    assert script_language("该方程可以写成 x(x-3)=0。根据乘法原理，x = 0或x - 3 = 0。") == "zh"
    assert script_language("東京は日本の首都です。とても大きな都市です。") == "ja"
    assert script_language("안녕하세요 저는 학생입니다") == "ko"
    assert script_language("สวัสดีครับ ผมชื่อสมชาย") == "th"
    assert script_language("Γεια σου κόσμε, τι κάνεις σήμερα;") == "el"
    assert script_language("The cat sat on the mat.") is None  # Latin: the detector decides
    assert script_language("Привет, как дела?") is None  # Cyrillic is shared by many languages
    assert is_spaceless("总价格为：12.50 + 2 * 1.75 = 16.00美元。") and not is_spaceless("Total: 12.50 USD")


def test_judged_text_leaves_out_quotes_material_and_code():
    p = LanguageParams()
    assert judged_text("将“Hola, ¿cómo estás? Me llamo Juan.”翻译成英文", "user", p).replace(" ", "") == "将翻译成英文"
    assert judged_text("翻译下面的句子成英文。\n\nEl gato duerme en la cama todo el día.", "user", p) == (
        "翻译下面的句子成英文。"
    )
    assert judged_text('"Bonjour tout le monde, comment allez-vous?"', "assistant", p) != ""  # all quote: whole
    assert "print" not in judged_text("这是代码：\n```python\nprint('hello world')\n```", "assistant", p)


# Records of the kinds the lite model mislabels, with [en, zh] allowed: all must be kept.
KEEP = [
    _sft("用“黎明”、“天空”和“广阔”这三个词组成一个句子。", "随着黎明的到来，天空逐渐明亮。"),
    _sft(
        "请生成与冬季相关的3到5个词。",
        "冰雪(snow), 寒冷(cold), 热饮(hot drink), 冬至(Winter solstice), 滑冰(ice skating)",
    ),
    _sft("用粤语说一句话。", "唔該晒，我哋去飲茶啦，好唔好呀"),
    _sft("将“Hola, ¿cómo estás? Me llamo Juan y vivo en Madrid.”翻译成英文。", "Hello, how are you? My name is Juan."),
    _sft("把这句话翻译成西班牙语：我喜欢喝茶。", "Me gusta mucho beber té por las mañanas."),
    _sft(
        "比较以下两位人物。\n\nPersona 1: Albert Einstein, físico alemán\nPersona 2: Stephen Hawking",
        "两人都是物理学家。",
    ),
    _sft(
        "找出方程 x2 - 3x = 0 的根。", "该方程可以写成 x(x-3)=0。根据乘法原理，x = 0或x - 3 = 0。因此x1 = 0和x2 = 3。"
    ),
]
DROP = [
    _sft("¿Cuál es la capital de Francia y por qué es famosa?", "La capital de Francia es París, famosa por su arte."),
    _sft("東京について教えてください。", "東京は日本の首都です。とても大きな都市です。"),
    _sft("한국의 수도는 어디입니까?", "한국의 수도는 서울입니다. 아주 큰 도시입니다."),
]


def test_language_rule_keeps_chinese_and_tasks_drops_other_languages():
    rule = LanguageFilter(LanguageParams(langs=["en", "zh"]))
    kept = [r for r in KEEP if rule.check(r) is None]
    assert len(kept) == len(KEEP), [r["messages"][0]["content"] for r in KEEP if r not in kept]
    drops = [rule.check(r) for r in DROP]
    assert [d.details["lang"] for d in drops] == ["es", "ja", "ko"]
    # the old behaviour stays reachable: without the script table the detector's wuu/yue/de answers count
    old = LanguageFilter(LanguageParams(langs=["en", "zh"], scripts=False, skip_quoted=False, task_only=False))
    assert any(old.check(r) is not None for r in KEEP)


def test_spaceless_scripts_skip_word_length_rules():
    rule = RepetitionFilter(RepetitionParams())
    maths = "因此，x(x-3)=0。\n\n根据乘法原理，x=0或x-3=0。" + "所以方程的两个根为x1=0,x2=3。" * 3
    assert rule.check(_sft("解方程 x2 - 3x = 0。", maths)) is None
    junk = "Thequickbrownfoxjumpsoverthelazydog " * 12
    assert rule.check(_sft("Write a sentence.", junk)).reason == "repetition.mean_word_length"


def test_filter_lang_not_a_code_exits_2(cli, tmp_path):
    src = tmp_path / "a.jsonl"
    src.write_text(json.dumps({"instruction": "Say hi to me.", "output": "Hi there!"}) + "\n", encoding="utf-8")
    data = api.ingest([src], tmp_path / "in")
    result = cli("filter", data, "-o", tmp_path / "out", "--lang", "english", ok=False)
    assert result.exit_code == 2 and "unknown language code 'english'" in result.output
    assert "en, zh" in result.output  # the hint lists valid codes
    assert not (tmp_path / "out").exists()


def _alpaca_zh(shared_data):
    found = sorted(shared_data.rglob("alpaca_zh*.json*"))
    if not found:
        pytest.skip("LLaMA-Factory's alpaca_zh demo is not in the shared data")
    return found[0]


def test_alpaca_zh_loses_nothing_to_language_or_word_length(shared_data, tmp_path):
    data = api.ingest([_alpaca_zh(shared_data)], tmp_path / "in")
    out = api.filter(data, tmp_path / "out", config=str(ROOT / "recipes" / "filters.yaml"))
    reasons = ShardSet(out).manifest["counts"].get("rejected", {})
    wrong = {k: v for k, v in reasons.items() if k.startswith("language.") or "word_length" in k}
    assert not wrong, wrong
