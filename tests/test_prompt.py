"""The prompt: one fixed head (the rules) that llama.cpp can cache, then the sources and the question."""

from rag.prompt import SYSTEM_PROMPT, prompt


def test_every_prompt_starts_with_the_same_head_and_ends_with_the_question() -> None:
    single = prompt("How many homes lost power?", None, ["(Storm, 1 May) a", "b"])
    follow_up = prompt("and who said so?", "How many homes lost power?", ["c"])
    # The cache reuses the longest shared prefix: the head must not depend on the question.
    assert single[:-1] == follow_up[:-1]
    assert [m.content for m in single[:-1]] == [SYSTEM_PROMPT]
    assert single[-1].content == "Sources:\n[1] (Storm, 1 May) a\n[2] b\n\nQuestion: How many homes lost power?"
    assert follow_up[-1].content.endswith(
        "Earlier question: How many homes lost power?\nFollow-up question: and who said so?"
    )
