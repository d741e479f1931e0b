"""The prompt: a fixed head that llama.cpp can cache (the rules; a follow-up's adds worked examples), then the
sources and the question."""

from llama_index.core.llms import MessageRole

from rag.config import Settings
from rag.entities import entities
from rag.llm import shows_examples
from rag.prompt import EXAMPLES, SYSTEM_PROMPT, prompt
from tests.conftest import SEEDS


def test_every_prompt_starts_with_its_kinds_head_and_ends_with_the_question() -> None:
    single = prompt("How many homes lost power?", None, ["(Storm, 1 May) a", "b"])
    other = prompt("Who said so?", None, ["c"])
    follow_up = prompt("and who said so?", "How many homes lost power?", ["c"])
    later = prompt("and when?", "Who said so?", ["d", "e"])
    # The cache reuses the longest shared prefix: a head must not depend on the question.
    assert single[:-1] == other[:-1]
    assert [m.content for m in single[:-1]] == [SYSTEM_PROMPT]
    assert follow_up[:-1] == later[:-1]
    assert follow_up[0].content == SYSTEM_PROMPT
    # the worked examples, each a question and its answer, between the rules and the real question
    assert [m.role for m in follow_up[1:-1]] == [MessageRole.USER, MessageRole.ASSISTANT] * len(EXAMPLES)
    assert [m.content for m in follow_up[1:-1]] == [text for pair in EXAMPLES for text in pair]
    assert single[-1].content == "Sources:\n[1] (Storm, 1 May) a\n[2] b\n\nQuestion: How many homes lost power?"
    assert follow_up[-1].content.endswith(
        "Earlier question: How many homes lost power?\nFollow-up question: and who said so?"
    )


def test_the_examples_name_no_one_and_nowhere_in_the_documents() -> None:
    # An answer that copied a name from an example would then hold a name no passage has: the claim check
    # refuses it, and a user could never be shown an invented example as if it were the documents.
    seeds = " ".join(p.read_text(encoding="utf-8") for p in SEEDS.iterdir() if p.is_file()).lower()
    found = [entities(" ".join(pair)) for pair in EXAMPLES]
    people_and_places = {name.lower() for named in found for label, name in named if label in {"PERSON", "GPE", "LOC"}}
    assert len(people_and_places) >= 3
    assert not {name for name in people_and_places if name in seeds}


def test_examples_are_shown_to_the_models_that_gain_from_them() -> None:
    follow_up = prompt("and when?", "Who sank the ship?", ["a"], examples=False)
    assert [m.content for m in follow_up[:-1]] == [SYSTEM_PROMPT]
    assert shows_examples(Settings(llm="local", llm_model=None))  # the default 1.5B
    assert shows_examples(Settings(llm="openai", llm_model="qwen2.5-0.5b"))  # a server's model of that name
    assert not shows_examples(Settings(llm="local", llm_model="qwen2.5-0.5b"))  # it copies them
    assert shows_examples(Settings(llm="local", llm_model="qwen2.5-0.5b", follow_up_examples=True))
    assert not shows_examples(Settings(llm="local", llm_model=None, follow_up_examples=False))
