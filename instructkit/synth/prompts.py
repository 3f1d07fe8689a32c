"""Prompt templates for Self-Instruct and Evol-Instruct, with a version string.

``TEMPLATE_VERSION`` lands in every record's ``meta.synth.template`` and in the request cache key:
change it whenever a template's text changes, so old cached answers are never reused for new prompts.

Sources:
- Instruction generation: Stanford Alpaca's ``prompt.txt`` (Taori et al. 2023), the one-request
  variant of Self-Instruct (Wang et al. 2022): "List of 20 tasks", items separated by ``###``, each as
  ``N. Instruction:`` / ``N. Input:`` (``<noinput>`` when empty) / ``N. Output:``.
- Classification identification and input-first / output-first instance generation: Self-Instruct
  (Wang et al. 2022, section 2.2 and Tables 7-9), shortened.
- Evol-Instruct: WizardLM (Xu et al. 2023, Appendix A-G): the in-depth rewriter (add constraints,
  deepen, concretise, increase reasoning steps, complicate input), the in-breadth creator, and the
  equality judge used to eliminate evolutions with no information gain.
"""

from __future__ import annotations

import re

TEMPLATE_VERSION = "synth-prompts/1"

NO_INPUT = "<noinput>"

# --- Self-Instruct -----------------------------------------------------------------------------

INSTRUCTION_HEADER = """You are asked to come up with a set of {num} diverse task instructions. These task \
instructions will be given to a GPT model and we will evaluate the GPT model for completing the instructions.

Here are the requirements:
1. Try not to repeat the verb for each instruction to maximize diversity.
2. The language used for the instruction also should be diverse. For example, you should combine questions \
with imperative instructions.
3. The type of instructions should be diverse. The list should include diverse types of tasks like \
open-ended generation, classification, editing, etc.
4. A GPT language model should be able to complete the instruction. For example, do not ask the assistant \
to create any visual or audio output. For another example, do not ask the assistant to wake you up at 5pm \
or set a reminder because it cannot perform any action.
5. The instructions should be in English.
6. The instructions should be 1 to 2 sentences long. Either an imperative sentence or a question is permitted.
7. You should generate an appropriate input to the instruction. The input field should contain a specific \
example provided for the instruction. It should involve realistic data and should not contain simple \
placeholders. The input should provide substantive content to make the instruction challenging but should \
ideally not exceed 100 words.
8. Not all instructions require input. For example, when an instruction asks about some general \
information, "what is the highest peak in the world", it is not necessary to provide a specific context. \
In this case, we simply put "{no_input}" in the input field.
9. The output should be an appropriate response to the instruction and the input. Make sure the output is \
less than 100 words.

List of {num} tasks:
"""


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":")


def instruction_prompt(tasks: list[dict], num: int = 20) -> str:
    """Alpaca's few-shot prompt: the header, the example tasks, then ``K. Instruction:`` to continue.

    Args:
        tasks: Example tasks with ``instruction``, ``input`` and ``output``.
        num: How many tasks the list should hold in all (Alpaca: 20).
    """
    prompt = INSTRUCTION_HEADER.format(num=num, no_input=NO_INPUT) + "\n"
    for i, task in enumerate(tasks, 1):
        inp = task.get("input") or NO_INPUT
        prompt += "###\n"
        prompt += f"{i}. Instruction: {_one_line(task['instruction'])}\n"
        prompt += f"{i}. Input:\n{inp}\n"
        prompt += f"{i}. Output:\n{task.get('output', '')}\n"
    prompt += "###\n"
    prompt += f"{len(tasks) + 1}. Instruction:"
    return prompt


CLASSIFY_HEADER = (
    "Can the following task be regarded as a classification task with finite output labels? Answer Yes or No.\n\n"
)


def classify_prompt(instruction: str, examples: list[tuple[str, bool]]) -> str:
    """Self-Instruct's classification identification prompt (few-shot, Yes/No)."""
    body = "".join(f"Task: {_one_line(t)}\nIs it classification? {'Yes' if c else 'No'}\n\n" for t, c in examples)
    return CLASSIFY_HEADER + body + f"Task: {_one_line(instruction)}\nIs it classification?"


# Built-in examples for the classification prompt when the seeds carry no is_classification labels.
CLASSIFY_EXAMPLES = [
    ("Given my personality and the job, tell me if I would be suitable.", True),
    ("Give me an example of a time when you had to use your sense of humor.", False),
    ("Replace the placeholders in the given text with appropriate named entities.", False),
    ("Fact checking - tell me if the statement is true, false, or unknown, based on your knowledge.", True),
    ("Return the SSN number for the person.", False),
    ("Detect if the Reddit thread contains hate speech.", True),
    ("Analyze the sentences below to identify biases.", False),
    ("Select the longest sentence in terms of the number of words in the paragraph, output the sentence index.", True),
]

INPUT_FIRST_HEADER = (
    "Come up with an example for the following task. If the task doesn't require additional "
    f"input, write {NO_INPUT} as the input and give the output directly.\n\n"
)

OUTPUT_FIRST_HEADER = (
    "Given the classification task definition, first choose one class label, then generate "
    "an input that corresponds to that label. If the task doesn't require input, write "
    f"{NO_INPUT} as the input.\n\n"
)


def instance_prompt(instruction: str, examples: list[dict], *, output_first: bool) -> str:
    """Self-Instruct instance generation: input-first, or output-first for classification tasks.

    Output-first (label, then input) avoids inputs biased towards one label (Wang et al. 2022, 2.2).
    """
    out = OUTPUT_FIRST_HEADER if output_first else INPUT_FIRST_HEADER
    for ex in examples:
        inp = ex.get("input") or NO_INPUT
        out += f"Task: {_one_line(ex['instruction'])}\n"
        if output_first:
            out += f"Class label: {ex.get('output', '')}\nInput: {inp}\n\n"
        else:
            out += f"Input: {inp}\nOutput: {ex.get('output', '')}\n\n"
    out += f"Task: {_one_line(instruction)}\n"
    return out + ("Class label:" if output_first else "Input:")


# --- Self-Instruct for small chat models (prompt_style=short) ---------------------------------
# A 135M-parameter chat model (SmolLM2-135M-Instruct) does not continue Alpaca's 20-item, three-field
# list: it answers one of the examples, or writes "1. Instruction: ..." lines without inputs and
# outputs, and runs for minutes at a 3072-token limit. Asked for one task per request, in a chat turn,
# it writes one new instruction in a few seconds. Self-Instruct's stages stay separate (Wang et al.
# 2022, 2.2): the instruction first, then its instance, here the model's own answer to it (no input:
# a small model cannot invent a realistic input and then use it, and its Yes/No classification answers
# are close to chance, so the classification step is skipped).

# One trial on SmolLM2-135M, 4 requests of 3 Alpaca seeds each: "Here are some example tasks: ... Write one
# new task" gave 1 usable task (the rest echoed the request or answered an example); this bulleted form gave
# 2 task-like lines, one close to a seed. Neither is reliable at 135M: the rules and ROUGE pool sort them.
SHORT_INSTRUCTION = """Give me one more example of a task, similar to these but on a different topic:
{examples}"""
SHORT_REQUEST = "Give me one more example of a task, similar to these but on a different topic"

SHORT_MAX_NEW_TOKENS = 48  # one sentence: ~25 words; about 2-3 s on a 2-core CPU for SmolLM2-135M


def short_instruction_prompt(tasks: list[dict]) -> str:
    """One chat turn asking for a single new task, the examples as a bulleted list (instructions only)."""
    return SHORT_INSTRUCTION.format(examples="\n".join(f"- {_one_line(t['instruction'])}" for t in tasks))


# --- Evol-Instruct (WizardLM, Xu et al. 2023) -------------------------------------------------

DEPTH_HEADER = """I want you act as a Prompt Rewriter.
Your objective is to rewrite a given prompt into a more complex version to make those famous AI systems \
(e.g., chatgpt and GPT4) a bit harder to handle.
But the rewritten prompt must be reasonable and must be understood and responded by humans.
Your rewriting cannot omit the non-text parts such as the table and code in #The Given Prompt#:. Also, please \
do not omit the input in #The Given Prompt#.
You SHOULD complicate the given prompt using the following method:
{method}
You should try your best not to make the #Rewritten Prompt# become verbose, #Rewritten Prompt# can only add \
10 to 20 words into #The Given Prompt#.
'#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten prompt' are not allowed to appear \
in #Rewritten Prompt#
#The Given Prompt#:
{instruction}
#Rewritten Prompt#:
"""

DEPTH_METHODS = {
    "constraints": "Please add one more constraints/requirements into #The Given Prompt#",
    "deepen": "If #The Given Prompt# contains inquiries about certain issues, the depth and breadth of the "
    "inquiry can be increased.",
    "concretize": "Please replace general concepts with more specific concepts.",
    "reasoning": "If #The Given Prompt# can be solved with just a few simple thinking processes, you can rewrite "
    "it to explicitly request multiple-step reasoning.",
    "complicate_input": "Please add concrete input data that the prompt must work on, in a format such as a "
    "table, a code snippet, JSON or a short passage, and refer to it in the prompt.",
}

BREADTH_TEMPLATE = """I want you act as a Prompt Creator.
Your goal is to draw inspiration from the #Given Prompt# to create a brand new prompt.
This new prompt should belong to the same domain as the #Given Prompt# but be even more rare.
The LENGTH and complexity of the #Created Prompt# should be similar to that of the #Given Prompt#.
The #Created Prompt# must be reasonable and must be understood and responded by humans.
'#Given Prompt#', '#Created Prompt#', 'given prompt' and 'created prompt' are not allowed to appear in \
#Created Prompt#
#Given Prompt#:
{instruction}
#Created Prompt#:
"""

EVOL_OPS = (*DEPTH_METHODS, "breadth")

EQUAL_TEMPLATE = """Here are two Instructions to ChatGPT AI, do you think they are equal to each other, which \
meet the following requirements:
1. They have same constraints and requirments.
2. They have same depth and breadth of the inquiry.
The First Prompt: {first}
The Second Prompt: {second}
Your Judgement (Just answer: Equal or Not Equal. No need to explain the reason.):"""


def evol_prompt(op: str, instruction: str) -> str:
    """The Evol-Instruct prompt for one operation (an in-depth method or ``breadth``)."""
    if op == "breadth":
        return BREADTH_TEMPLATE.format(instruction=instruction)
    return DEPTH_HEADER.format(method=DEPTH_METHODS[op], instruction=instruction)


def equal_prompt(first: str, second: str) -> str:
    """WizardLM's equality check: does the evolved instruction add information to its parent?"""
    return EQUAL_TEMPLATE.format(first=first, second=second)
