"""instructkit.generation: the local backend, the HTTP backend against real local servers, the factory."""

from __future__ import annotations

import json

import pytest
from openai_server import ScriptedServer, openai_server  # noqa: F401

from instructkit.errors import ConfigError, InputError
from instructkit.generation import (
    BudgetExhausted,
    GenerationError,
    HttpGenerator,
    LocalGenerator,
    chat_url,
    make_generator,
)

CONVS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Explain why the sky is blue."}],
    [{"role": "user", "content": "x"}],
]


@pytest.fixture(scope="module")
def local(tiny_model):
    return LocalGenerator(tiny_model, batch_size=2)


def test_local_greedy_is_batch_independent_and_decodes_only_new_tokens(local, tiny_model):
    a = local.generate(CONVS, max_new_tokens=6)
    b = LocalGenerator(tiny_model, batch_size=1).generate(CONVS, max_new_tokens=6)
    assert a == b  # left padding: batched greedy equals one-by-one greedy
    assert len(a) == 3 and all(isinstance(t, str) for t in a)
    # Only new tokens come back: never the prompt text or its template markers.
    assert all("Explain why" not in t and "im_start" not in t for t in a)
    ids = [local.tokenizer(t, add_special_tokens=False)["input_ids"] for t in a]
    assert all(len(i) <= 6 for i in ids)


def test_local_sampling_is_seeded_and_n_shapes(local):
    one = local.generate(CONVS, max_new_tokens=8, temperature=1.0, seed=3, n=2)
    again = local.generate(CONVS, max_new_tokens=8, temperature=1.0, seed=3, n=2)
    other = local.generate(CONVS, max_new_tokens=8, temperature=1.0, seed=4, n=2)
    assert one == again and one != other
    assert len(one) == 3 and all(len(r) == 2 for r in one)
    greedy = local.generate(CONVS[:1], max_new_tokens=4, n=3)
    assert len(greedy) == 1 and len(set(greedy[0])) == 1  # greedy n>1: identical copies


def test_local_stops_at_eos(tiny_model):
    gen = LocalGenerator(tiny_model)
    # Make the end-of-turn token the argmax everywhere: generation must stop after 0 visible tokens.
    eos, calls = gen.tokenizer.eos_token_id, []

    def force_eos(mod, inp, out):
        calls.append(1)
        return out.index_fill(-1, _t(eos), 1e4)

    gen.model.lm_head.register_forward_hook(force_eos)
    assert gen.generate(CONVS, max_new_tokens=20) == ["", "", ""]
    assert len(calls) == 1  # one decoding step for the whole batch, not 20


def test_reply_limit_past_the_context_is_capped(tiny_model, capsys):
    gen = LocalGenerator(tiny_model)
    eos, lengths = gen.tokenizer.eos_token_id, []
    never_eos = lambda mod, inp, out: out.index_fill(-1, _t(eos), -1e4)  # noqa: E731
    gen.model.lm_head.register_forward_hook(never_eos)
    gen.model.register_forward_hook(lambda mod, inp, out: lengths.append(1))
    # 3000 new tokens on a 1024-position model: capped at 512, with a note on stderr.
    out = gen.generate(CONVS[:1], max_new_tokens=3000)
    assert len(out) == 1 and len(lengths) == 512
    assert "capped at 512" in capsys.readouterr().err


def _t(i):
    import torch

    return torch.tensor([i])


def test_bad_arguments_are_config_errors(local):
    for kwargs in ({"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"n": 0}):
        with pytest.raises(ConfigError):
            local.generate(CONVS, **kwargs)


def test_make_generator_dispatch(tiny_model, tmp_path):
    assert isinstance(make_generator(str(tiny_model)), LocalGenerator)
    with pytest.raises(InputError, match="no such model"):
        make_generator(str(tmp_path / "missing"))
    with pytest.raises(InputError, match="cannot load model"):
        make_generator(str(tmp_path))  # exists, but no model in it
    with ScriptedServer() as server:
        gen = make_generator(server.url, concurrency=2)
        assert isinstance(gen, HttpGenerator) and gen.model == "scripted"  # asked /v1/models
    assert chat_url("http://h:1") == chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"


def test_http_against_transformers_serve(openai_server, local):  # noqa: F811
    gen = HttpGenerator(openai_server.url, openai_server.model, concurrency=3)
    out = gen.generate(CONVS, max_new_tokens=6)
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    assert out == local.generate(CONVS, max_new_tokens=6)  # the same model, greedy: the same text
    assert gen.requests_sent == 3 and gen.usage["completion_tokens"] > 0
    two = gen.generate(CONVS[:2], max_new_tokens=4, temperature=0.8, n=2)
    assert len(two) == 2 and all(len(r) == 2 for r in two)
    with pytest.raises(GenerationError, match="HTTP 400"):  # wrong model name: not retried
        HttpGenerator(openai_server.url, "no-such-model", max_retries=3).generate(CONVS[:1], max_new_tokens=2)


def test_http_retries_500_then_succeeds(monkeypatch):
    with ScriptedServer([500, 503], reply="fine") as server:
        gen = HttpGenerator(server.url, "scripted", max_retries=3, backoff=0.01)
        assert gen.generate(CONVS[:1], max_new_tokens=3) == ["fine"]
    assert len(server.requests) == 3 and gen.requests_sent == 3
    assert server.requests[-1]["body"]["max_tokens"] == 3


def test_http_retries_run_out_and_4xx_is_not_retried():
    with ScriptedServer([429, 429, 429], headers={"Retry-After": "0"}) as server:
        gen = HttpGenerator(server.url, "scripted", max_retries=2, backoff=0.01)
        with pytest.raises(GenerationError, match="after 3 attempts"):
            gen.generate(CONVS[:1])
    assert len(server.requests) == 3
    with ScriptedServer([401]) as server:
        with pytest.raises(GenerationError, match="HTTP 401"):
            HttpGenerator(server.url, "scripted", backoff=0.01).generate(CONVS[:1])
    assert len(server.requests) == 1


def test_http_connection_refused_is_retried_then_reported():
    from openai_server import free_port

    gen = HttpGenerator(f"http://127.0.0.1:{free_port()}", "m", max_retries=1, backoff=0.01, timeout=2)
    with pytest.raises(GenerationError, match="ConnectError"):
        gen.generate(CONVS[:1])
    assert gen.requests_sent == 2


def test_http_budget():
    with ScriptedServer([500]) as server:
        gen = HttpGenerator(server.url, "scripted", max_requests=3, backoff=0.01)
        with pytest.raises(BudgetExhausted, match="4 requests needed"):
            gen.generate(CONVS + CONVS[:1])  # checked before anything is sent
        assert server.requests == []
        assert gen.generate(CONVS[:2]) == ["ok", "ok"]  # 500 + retry + 1 = 3 requests
        with pytest.raises(BudgetExhausted, match="budget"):
            gen.generate(CONVS[:1])
    assert len(server.requests) == 3


def test_api_key_sent_from_env_but_never_stored(monkeypatch):
    secret = "sk-test-DO-NOT-LEAK-1234"
    monkeypatch.setenv("MY_JUDGE_KEY", secret)
    with ScriptedServer([400]) as server:
        gen = HttpGenerator(server.url, "scripted", api_key_env="MY_JUDGE_KEY", backoff=0.01)
        with pytest.raises(GenerationError) as err:
            gen.generate(CONVS[:1])
        gen.generate(CONVS[:1])
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {secret}"
    text = json.dumps(gen.describe()) + repr(gen) + str(err.value) + json.dumps(vars(gen), default=str)
    assert secret not in text
    monkeypatch.delenv("MY_JUDGE_KEY")
    with ScriptedServer() as server:
        HttpGenerator(server.url, "scripted", api_key_env="MY_JUDGE_KEY").generate(CONVS[:1])
    assert "Authorization" not in server.requests[-1]["headers"]
