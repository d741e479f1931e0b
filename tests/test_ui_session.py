"""A chat session's state stays bounded: the sources panel keeps the recent answers, anchors stay unique."""

from __future__ import annotations

from tests.conftest import free_port


def test_a_long_chat_keeps_the_recent_sources_with_unique_anchors(index_settings) -> None:
    from ui.app import answer_turn

    # The LLM backend points at a closed port: each answer is the labelled extract, fast and cited.
    settings = index_settings.model_copy(
        update={"llm": "openai", "openai_base_url": f"http://127.0.0.1:{free_port()}/v1", "ui_source_turns": 2}
    )
    history, shown, turns = [], [], []
    questions = ["When did Russia leave Kherson?", "Which dam was damaged?", "What did Macron ask Xi Jinping?"]
    for question in questions:
        *_, last = answer_turn(question, history, shown, turns, settings)
        chat, panel, _, history, shown, turns = last
    assert len(shown) == 2 * len(questions) and len(history) == 2 * len(questions)
    assert [q for q, _ in turns] == questions[-2:]  # the oldest answer's sources were dropped
    assert 'href="#src-3-1"' in shown[-1]["content"] and 'id="src-3-1"' in panel  # the third answer links to its card
    assert 'id="src-1-' not in panel and 'id="src-2-1"' in panel
