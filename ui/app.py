"""The browser chat: a Gradio app over rag.answer.stream_answer. No retrieval or answer logic here.

Per browser session (gr.State): the plain-text history that follow-ups are answered with, the chat
as displayed, and each answer's sources panel (so citations in earlier answers stay clickable).
A question's path: Retrieved -> the sources panel shows the evidence; Token -> the answer streams;
Done -> the answer is replaced by the verified text with clickable [n] and the cited sources.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import gradio as gr

from rag.answer import Done, Queued, Retrieved, Token, stream_answer
from rag.config import Settings
from rag.errors import RagError
from rag.retrieval import RETRIEVERS
from ui import render

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
EXAMPLES = [
    "When did Russia leave Kherson?",
    "How much military aid did the US announce for Ukraine?",
    "Which dam was damaged in occupied Kherson?",
    "What did Macron ask Xi Jinping?",
]
LLM_BACKENDS = ("local", "openai")
SYSTEM_FONTS = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
# Gradio scopes launch(css=) to the app's content, so the page's own margins are set here. Citations
# are links to #src-TURN-N: open the card's <details>, scroll to it and outline it.
HEAD = """
<style>@media (max-width: 640px) { .gradio-container > .main.app { padding: 8px 10px !important; } }</style>
<script>
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a.cite");
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  const card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  for (let d = card.closest("details"); d; d = d.parentElement.closest("details")) d.open = true;
  document.querySelectorAll("article.card.active").forEach((c) => c.classList.remove("active"));
  card.classList.add("active");
  card.scrollIntoView({behavior: "smooth", block: "center"});
}, true);
</script>
"""


def build_app(settings: Settings) -> gr.Blocks:
    """The chat tab (chat, settings, sources panel) and the "About these documents" tab."""
    about, count = describe_documents(settings)
    with gr.Blocks(title="Ask the news documents") as app:
        history = gr.State([])  # [{"role", "content"}] in plain text, for follow-ups
        shown = gr.State([])  # the chat as displayed (HTML answers)
        turns = gr.State([])  # (question, sources-panel section) per answer
        gr.HTML(
            "<header class='app-head'><h1>Ask the news documents</h1><p>Answers come only from "
            f"{count} news documents about the war in Ukraine; every claim links to the passage it "
            "comes from.</p></header>"
        )
        with gr.Tab("Chat"), gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                chatbot = gr.Chatbot(
                    elem_id="chat",
                    show_label=False,
                    height=None,  # grows with the conversation, then scrolls
                    min_height=360,
                    max_height="64vh",
                    buttons=[],
                    feedback_options=None,
                    placeholder="Ask a question about the documents, or pick an example.",
                    examples=[{"text": q} for q in EXAMPLES],
                )
                question = gr.Textbox(
                    elem_id="question",
                    show_label=False,
                    placeholder="Ask a question… (Enter to send)",
                    submit_btn="Ask",
                    max_lines=4,
                    autofocus=True,
                )
                with gr.Row(elem_classes="under-box"):
                    new_chat = gr.Button(
                        "New chat", size="sm", variant="secondary", elem_id="new-chat", scale=0, min_width=110
                    )
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    llm = gr.Radio(list(LLM_BACKENDS), value=settings.llm, label="LLM backend", elem_id="llm")
                    retriever = gr.Dropdown(list(RETRIEVERS), value=settings.retriever, label="Retriever")
                    top_k = gr.Slider(1, 10, value=min(settings.top_k, 10), step=1, label="Number of sources (k)")
                    temperature = gr.Slider(0.0, 1.0, value=settings.temperature, step=0.05, label="Temperature")
            with gr.Column(scale=2, min_width=300):
                sources = gr.HTML(render.INTRO, elem_id="sources", padding=False)
        with gr.Tab("About these documents"):
            gr.HTML(about, elem_id="about")

        def respond(text, history, shown, turns, llm, retriever, k, temperature):
            request = settings.model_copy(
                update={"llm": llm, "retriever": retriever, "top_k": int(k), "temperature": float(temperature)}
            )
            yield from answer_turn(text, history, shown, turns, request)

        ask = {
            "fn": respond,
            "inputs": [question, history, shown, turns, llm, retriever, top_k, temperature],
            "outputs": [chatbot, sources, question, history, shown, turns],
            "show_progress": "hidden",
            # Every user's evidence shows at once; rag.llm.Turns then serialises generation on the one local
            # model and tells each waiting user their place (20 concurrent sessions: eval/bench_load.py).
            "concurrency_limit": 32,
            "concurrency_id": "answer",
        }
        question.submit(**ask)
        chatbot.example_select(pick_example, None, question, show_progress="hidden").then(**ask)
        reset = {
            "fn": lambda: ([], render.INTRO, "", [], [], []),
            "outputs": [chatbot, sources, question, history, shown, turns],
            "show_progress": "hidden",
        }
        new_chat.click(**reset)
        chatbot.clear(**reset)  # the chat's own trash icon starts a new chat too
    return app


def pick_example(event: gr.SelectData) -> str:
    return event.value["text"]


def answer_turn(
    text: str, history: list[dict], shown: list[dict], turns: list[tuple[str, str]], settings: Settings
) -> Iterator[tuple]:
    """One question, streamed: yields (chat, sources panel, textbox, history, shown, turns)."""
    text = (text or "").strip()
    if not text:
        yield gr.skip(), gr.skip(), gr.skip(), history, shown, turns
        return
    turn = len(shown) // 2 + 1  # each turn shows a question and a reply; `turns` keeps only the recent ones
    asked = [*shown, {"role": "user", "content": render.safe(text)}]  # shown inert: no links or images
    panel = render.panel(turns)

    def show(message: str, sources: str | None = None, done: tuple | None = None) -> tuple:
        chat = [*asked, {"role": "assistant", "content": message}]
        new_history, new_turns = done or (history, turns)
        return chat, sources or panel, "", new_history, chat if done else shown, new_turns

    yield show(render.status("Searching the documents…"))
    written = ""
    try:
        # k and retriever explicitly: the loaded retriever is shared, and keeps its start-up settings.
        for event in stream_answer(text, history, settings, k=settings.top_k, retriever=settings.retriever):
            if isinstance(event, Retrieved):
                live = render.evidence_html(text, event.hits, event.passages)
                panel = render.panel([*turns, (text, live)])
                found = len(event.passages)
                yield show(render.status(f"Found {found} passages; writing the answer…" if found else "Checking…"))
            elif isinstance(event, Queued):
                ahead = "1 question" if event.position == 1 else f"{event.position} questions"
                yield show(render.status(f"The model is answering {ahead} ahead of yours; you are next in line…"
                                         if event.position == 1 else
                                         f"Waiting for the model: {ahead} ahead of yours…"))  # fmt: skip
            elif isinstance(event, Token):
                written += event.text
                yield show(render.pending(written))
            elif isinstance(event, Done):
                answer = event.answer
                # Each section quotes its passages in full: a long chat keeps the recent ones, so a session's
                # memory stays bounded (eval/bench_load.py --name soak).
                new_turns = [*turns, (text, render.sources_html(text, answer, turn))][-settings.ui_source_turns :]
                exchange = [{"role": "user", "content": text}, {"role": "assistant", "content": answer.text}]
                new_history = [*history, *exchange]
                yield show(render.answer_html(answer, turn), render.panel(new_turns), (new_history, new_turns))
    except RagError as exc:
        log.warning("question failed: %s", exc)
        yield show(render.error(str(exc)), done=(history, turns))
    except Exception as exc:  # never a stack trace or a frozen spinner in the browser
        log.exception("unexpected error while answering %r", text)
        message = f"something went wrong ({type(exc).__name__}); see the server log"
        yield show(render.error(message), done=(history, turns))


def describe_documents(settings: Settings) -> tuple[str, int]:
    """The About tab's HTML and the number of documents, read from the index."""
    from rag.store import all_nodes, open_collection, where

    try:
        collection = open_collection(settings)
        if collection is None:
            return render.error(f"there is no index in {where(settings)} yet; run `rag ingest`"), 0
        nodes = all_nodes(settings, collection)
    except RagError as exc:
        return render.error(str(exc)), 0
    return render.about_html(nodes), len({n.metadata["file"] for n in nodes})


def theme() -> gr.themes.Base:
    # System fonts: nothing is fetched, not even Gradio's bundled font files.
    return gr.themes.Default(primary_hue="blue", neutral_hue="slate", font=SYSTEM_FONTS, font_mono=MONO_FONTS)


def launch_options() -> dict:
    """How the app is served: styled, no footer links, no API page, nothing fetched from outside."""
    return {
        "theme": theme(),
        "css": (HERE / "style.css").read_text(encoding="utf-8"),
        "head": HEAD,
        "footer_links": [],
        "ssr_mode": False,
        "pwa": False,
        "mcp_server": False,
        "enable_monitoring": False,
        "show_error": False,
    }


def warm_up(settings: Settings) -> None:
    """Load the index, the embedder, the entity model and (for the local backend) the LLM now, not on the
    first question: the evidence must show within a second."""
    from rag.entities import entities
    from rag.ingest import ensure_index
    from rag.llm import LLMError, get_llm
    from rag.retrieval import get_retriever

    ensure_index(settings)
    get_retriever(settings)
    entities("Warm up the entity model in Kyiv on Friday.")
    if settings.llm != "local":
        return
    try:
        get_llm(settings).complete("Hi", max_tokens=1)
    except LLMError as exc:  # the chat still works: answers are then extractive, with a notice
        print(f"warning: {exc}; answers will quote the sources instead", flush=True)


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    share: bool = False,
) -> None:
    """Load everything once, then serve the chat until interrupted."""
    print(f"Loading the index and the {settings.llm} LLM…", flush=True)
    warm_up(settings)
    app = build_app(settings)
    print(f"Serving the chat on http://{host}:{port} (Ctrl-C to stop)", flush=True)
    try:
        app.queue(default_concurrency_limit=1).launch(
            server_name=host, server_port=port, auth=auth, share=share, quiet=True, **launch_options()
        )
    except OSError as exc:  # Gradio's "Cannot find empty port": the port is taken
        raise RagError(f"cannot listen on {host}:{port} (in use or not allowed); choose another --port") from exc
