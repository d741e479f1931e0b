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
from rag.config import DEFAULT_COLLECTION, Settings
from rag.errors import RagError
from rag.retrieval import RETRIEVERS
from ui import library, render

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
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


def build_app(settings: Settings, auth_required: bool = False) -> gr.Blocks:
    """The chat tab (chat, settings, sources panel), the Documents tab (upload, list, remove) and the
    "About these documents" tab, for the collection picked at the top (per browser session)."""
    view = library.collection_view(settings)
    with gr.Blocks(title=view["title"]) as app:
        history = gr.State([])  # [{"role", "content"}] in plain text, for follow-ups
        shown = gr.State([])  # the chat as displayed (HTML answers)
        turns = gr.State([])  # (question, sources-panel section) per answer
        chosen = gr.State(settings.collection)  # this session's collection
        with gr.Row(equal_height=False):
            head = gr.HTML(view["head"], elem_id="head")
            picker = gr.Dropdown(
                view["collections"],
                value=settings.collection,
                allow_custom_value=True,  # a new name starts a new collection: upload to fill it
                label="Collection",
                elem_id="collection",
                scale=0,
                min_width=220,
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
                    examples=view["examples"],
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
        with gr.Tab("Documents"):
            upload = gr.File(
                file_count="multiple",
                file_types=list(settings.upload_types),
                type="filepath",
                label=f"Add documents (PDF, Word, HTML, Markdown, text; up to {settings.upload_max_files} files "
                f"of {settings.upload_max_mb:g} MB)",
                elem_id="upload",
            )
            add = gr.Button("Add to the collection", variant="primary", elem_id="add-docs")
            status = gr.HTML("", elem_id="upload-status")
            documents = gr.HTML(view["documents"], elem_id="documents")
            with gr.Row():
                doomed = gr.Dropdown(
                    view["paths"], multiselect=True, label="Remove documents", elem_id="remove-choice", scale=3
                )
                drop = gr.Button("Remove", variant="stop", elem_id="remove-docs", scale=0, min_width=110)
        with gr.Tab("About these documents"):
            about = gr.HTML(view["about"], elem_id="about")

        def respond(text, history, shown, turns, llm, retriever, k, temperature, collection):
            request = settings.model_copy(
                update={
                    "llm": llm,
                    "retriever": retriever,
                    "top_k": int(k),
                    "temperature": float(temperature),
                    "collection": collection,
                }
            )
            yield from answer_turn(text, history, shown, turns, request)

        ask = {
            "fn": respond,
            "inputs": [question, history, shown, turns, llm, retriever, top_k, temperature, chosen],
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

        collection_outputs = [head, documents, doomed, about, chatbot, chosen, status]

        def switch(name: str):
            try:
                view = library.collection_view(settings.model_copy(update={"collection": library.checked_name(name)}))
            except RagError as exc:
                return (*[gr.skip()] * 6, render.messages_html([str(exc)], failed=True))
            return collection_update(view, name, "")

        picker.change(switch, picker, collection_outputs, show_progress="hidden").then(**reset)

        def add_documents(files, name, request: gr.Request, progress=gr.Progress(track_tqdm=True)):  # noqa: B008
            if auth_required and not getattr(request, "username", None):
                return (*[gr.skip()] * 6, render.messages_html(["Sign in to add documents."], failed=True), None)
            try:
                target = settings.model_copy(update={"collection": library.checked_name(name)})
                progress(0, desc="Reading and embedding the documents…")
                lines = library.add_uploads([Path(f) for f in files or []], target)
                view = library.collection_view(target)
            except RagError as exc:
                return (*[gr.skip()] * 6, render.messages_html([str(exc)], failed=True), None)
            return (*collection_update(view, name, render.messages_html(lines)), None)

        add.click(add_documents, [upload, chosen], [*collection_outputs, upload], concurrency_id="ingest")

        def remove_documents(paths, name, request: gr.Request):
            if auth_required and not getattr(request, "username", None):
                return (*[gr.skip()] * 6, render.messages_html(["Sign in to remove documents."], failed=True))
            try:
                target = settings.model_copy(update={"collection": library.checked_name(name)})
                message = library.remove_documents(paths or [], target)
                view = library.collection_view(target)
            except RagError as exc:
                return (*[gr.skip()] * 6, render.messages_html([str(exc)], failed=True))
            return collection_update(view, name, render.messages_html([message]))

        drop.click(remove_documents, [doomed, chosen], collection_outputs, concurrency_id="ingest")
    return app


def collection_update(view: dict, name: str, status: str) -> tuple:
    """The outputs that follow the collection: heading, documents, remove choices, about, chat examples."""
    return (
        view["head"],
        view["documents"],
        gr.update(choices=view["paths"], value=[]),
        view["about"],
        gr.update(value=[], examples=view["examples"]),
        name,
        status,
    )


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
    first question: the evidence must show within a second. A new collection of your own may be empty:
    the app then starts, and its Documents tab fills it."""
    from rag.embedding import get_embedder
    from rag.entities import entities
    from rag.ingest import ensure_index
    from rag.llm import LLMError, get_llm, shows_examples
    from rag.prompt import prompt
    from rag.retrieval import get_retriever
    from rag.store import StoreError

    try:
        ensure_index(settings)
        get_retriever(settings)
    except StoreError as exc:
        if settings.collection == DEFAULT_COLLECTION:
            raise
        print(f"warning: {exc}", flush=True)
        get_embedder(settings)
    entities("Warm up the entity model in Kyiv on Friday.")
    if settings.llm != "local":
        return
    try:
        llm = get_llm(settings)
        for earlier in (None, "Hi"):  # loads it and computes both prompt heads: a question's and a follow-up's
            llm.chat(prompt("Hi", earlier, [], shows_examples(settings)), max_tokens=1)
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
    app = build_app(settings, auth_required=auth is not None)
    print(f"Serving the chat on http://{host}:{port} (Ctrl-C to stop)", flush=True)
    try:
        app.queue(default_concurrency_limit=1).launch(
            server_name=host,
            server_port=port,
            auth=auth,
            share=share,
            quiet=True,
            allowed_paths=library.servable_paths(settings),
            **launch_options(),
        )
    except OSError as exc:  # Gradio's "Cannot find empty port": the port is taken
        raise RagError(f"cannot listen on {host}:{port} (in use or not allowed); choose another --port") from exc
