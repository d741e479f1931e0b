"""One settings object for the whole app; every field can be overridden with a RAG_* env var."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import RagError

DEFAULT_COLLECTION = "rag_chunks"  # the seeds; `rag ingest` without paths syncs seeds/ into it
# Chroma's rule for names, minus room for the "-v12-sentences" suffixes a version adds.
COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,46}[A-Za-z0-9]$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore", populate_by_name=True)

    # Data and store
    # Relative to the working directory, so an installed `rag` works anywhere (`make run` runs in the repo).
    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8000 -> Chroma server instead of index_dir
    collection: str = DEFAULT_COLLECTION  # `--collection NAME` picks another
    cache_dir: Path = Path.home() / ".cache" / "rag"
    # A distributed or hosted Chroma (RAG_CHROMA_URL=https://...): extra HTTP headers as JSON, e.g.
    # RAG_CHROMA_HEADERS='{"Authorization": "Bearer TOKEN"}' or '{"X-Chroma-Token": "TOKEN"}', and the
    # tenant and database to use (Chroma's defaults otherwise).
    chroma_headers: dict[str, str] = {}
    chroma_tenant: str | None = None
    chroma_database: str | None = None
    # BM25 snapshots (rag.lexical): default index/lexical (embedded) or cache_dir/lexical/<server>.
    lexical_dir: Path | None = None
    lexical_page_size: int = 2000  # chunks per Chroma read when building one: bounded memory per read
    # A running app checks at most this often (one cheap Chroma read) whether another process ingested,
    # and then reloads; 0 checks before every question.
    index_check_seconds: float = 2.0
    # `rag bench scale`: real chunks embedded (each with its sentences) to measure the real embedder's rate.
    bench_embed_sample: int = 48
    # Sentence vectors kept per process for recently retrieved chunks (768 floats x ~6 each: ~20 KB a chunk).
    sentence_cache_chunks: int = 4096

    # Chunking: MiniLM truncates at 256 word pieces (~190 words of news text with a title), so chunks stay below.
    chunk_min_words: int = 80
    chunk_max_words: int = 160
    chunk_overlap_sentences: int = 1

    # Bring your own documents: what the upload panel accepts (the CLI reads any size). 50 MB holds a
    # 500-page text PDF; a larger upload would take minutes to embed on a laptop CPU with no way to stop it.
    upload_max_mb: float = 50.0
    upload_max_files: int = 20  # per upload, for the same reason
    upload_types: tuple[str, ...] = (".pdf", ".docx", ".md", ".markdown", ".html", ".htm", ".txt")
    # The UI's example questions: these (RAG_UI_EXAMPLE_QUESTIONS='["…", "…"]'), or else this many
    # built from the collection's section titles ("What do the documents say about <title>?").
    ui_example_questions: tuple[str, ...] = ()
    ui_examples: int = 4
    ui_title: str | None = None  # the UI's heading; default: "Ask the documents" (seeds) or "Ask <collection>"
    ui_description: str | None = None  # one line under it; default: how many documents it answers from

    # Embedding (rag.embedding): nomic-embed-text-v1.5 (default: finds more of the evidence, test hit@1 0.844
    # against MiniLM's 0.750; ~8x slower to ingest, once: vectors are cached) or all-MiniLM-L6-v2 (fast
    # ingest). rag.embedding has the numbers. Changing it needs `rag ingest --rebuild`.
    embed_model: str = "nomic-embed-text-v1.5"
    embed_batch_size: int = 32
    # Document vectors are kept per model and text in cache_dir/embeddings (rag.embedding.embed_documents), so
    # a rebuild or a second index of the same text embeds nothing again; false embeds everything afresh.
    embed_cache: bool = True
    # The decision's relevance signal (rag.decision's `similarity`, and `min_similarity` below) is measured with
    # this model, on which the decisions are fitted, whatever the retrieval embedder. nomic's similarities
    # sit in one narrow, high band
    # (off-topic questions such as "What is the capital of Australia?" 0.48-0.62, answerable ones from 0.55);
    # MiniLM's tell them apart (off-topic 0.09-0.23, answerable dev questions from 0.24).
    relevance_model: str = "all-MiniLM-L6-v2"
    # How MiniLM embeds a question: "numpy" (rag.minilm: no torch import, a fresh process answers ~5 s sooner,
    # ~30 ms a question on 2 busy cores) or "torch" (sentence-transformers: ~10 ms a question once loaded,
    # ~400 MB more RSS). The same weights and the same vectors either way.
    query_embedder: str = "numpy"

    # Retrieval: hybrid+rerank also ranks the fused chunks by their best sentence (rag.retrieval): with the
    # nomic embedder, on the dev split, hit@1 0.845 -> 0.884 and MRR@10 0.900 -> 0.926 over hybrid alone;
    # with MiniLM it does not help (hit@1 0.818 -> 0.812): use "hybrid" there.
    retriever: str = "hybrid+rerank"
    top_k: int = 5
    # A question that compares or combines documents (Question.per_file) also searches single sentences: this
    # many best-matching ones, their chunks fused with the hybrid ranking. A roundup's chunk mixes many topics,
    # so its one sentence about the question's second half is missed by the chunk's vector. 0 turns it off.
    sentence_hits: int = 20
    # A follow-up is also searched with this many first words of the answer it follows, where its "he" or
    # "the village" is often named.
    follow_up_gist_words: int = 40

    # Evidence (rag.evidence): the best sentences of the top_k chunks, as the model's numbered passages.
    # On a CPU the prompt is the time to first token: with 220 words the 1.5B model's first token p50 is 6.5-8.5 s
    # on 2 cores, by how busy the machine is (eval/reports/latency-ab.txt); 180 words lose 14 of 385 dev gold
    # sources from the passages for roughly 0.5 s.
    passage_words: int = 220
    # A question in parts (Question.parts) gets, for each part, the sentence of its hits holding most of that
    # part's terms, when it holds at least this many of them (rag.evidence.part_picks).
    part_min_terms: int = 2
    max_passages: int = 5
    # A picked sentence brings the next one when it goes on there (an open quote, a colon, the next opens
    # with "He"/"It"…): rag.evidence.goes_on. On dev, gold sources among the passages 347 -> 351 of 385 and,
    # with the 180 dev items whose passages moved re-run, right outcome 0.755 -> 0.760 (8 gained, 6 lost),
    # citation precision 0.764 -> 0.786; the prompt grows by ~4 words (median), the budget still holds.
    follow_on: bool = True
    # Added to a sentence's score (cosine similarity + half its share of the question's terms) when it holds
    # the kind of thing asked for (a date for "when", a number for "how many"…) that the question did not name.
    typed_bonus: float = 0.15

    # Answer or abstain (rag.decision): P(the documents answer) from models fitted on the gold set's dev
    # split by `rag eval calibrate`, which reports the dev trade-off behind these defaults.
    # The evidence-only model is weak (out-of-fold dev AUC 0.58): the gate only stops the plainly off-topic;
    # 0.2 keeps 98% of dev's answerable questions.
    gate_threshold: float = 0.2  # below this, on the evidence alone, abstain without asking the model
    # No passage is about the question when its best sentence is less similar than this ("What is the capital
    # of Australia?": 0.16): abstain without asking the model. A guard the fitted models cannot learn, as dev
    # has no question that far off topic; the lowest answerable dev question is at 0.24.
    min_similarity: float = 0.2
    # The share of dev answered right or rightly refused peaks (0.70-0.71) from 0.28 to 0.32: the middle.
    answer_threshold: float = 0.30  # below this, after the model and the claim check, abstain
    # A when / how many / who / where question whose slot filler sits next to this share of its terms is
    # never refused (the model's answer, or the passage as a labelled extract). On the dev split 38 of the
    # 42 questions at or above 0.75 are answerable; the model's "I don't know" varies from CPU to CPU.
    evidence_slot: float = 0.75
    # When the model's answer is not shown, a when / how many / who / where question gets the passages as a
    # labelled extract only if one holds a filler of that kind next to this share of its terms; otherwise it
    # abstains, citing the closest passage. On the dev split (213 items) 0.5 turns 5 extracts of questions
    # the documents don't answer into abstentions and 1 right extract into an abstention; 0.4 changes
    # almost nothing, 0.6 loses 4 right extracts.
    extract_slot: float = 0.5
    # An abstention cites the closest passage when it covers this share of the question's terms
    # ("the documents don't say how many; the closest passage is [1]"), otherwise it cites nothing.
    partial_min_coverage: float = 0.75
    # An extract of a what / which / why question quotes the passage holding most of its terms, and the
    # runner-up too when the runner-up's passage score is within this of the best one's (rag.evidence scores:
    # cosine + term share + typed bonus). Carried over untuned from the extract it replaced.
    extract_runner_up: float = 0.1
    # ... but only when the best passage is thin, shorter than this many words (about one sentence): a
    # runner-up is rarely the evidence (on dev, gold in 1 of 19 such extracts), but the 3 right extracts that
    # needed one had a best passage of 13-31 words. On dev: citation precision 0.739 -> 0.762, right outcome
    # unchanged (32-35 alike; 25 loses 2 right extracts; 45: 0.756; 60: 0.752).
    extract_thin_words: int = 35
    # A checked answer is not shown (the bot abstains, citing the closest passage) when some passage covers
    # this much more of the question's own terms than the passages it cites: the model drew on the wrong one
    # ("Who replaced Stremousov?" answered from a passage about the withdrawal; rag.answer.shortfall). On dev
    # (305 items) right outcome 0.767 -> 0.777 from 0.20 to 0.30 (4 unanswerables now abstain, 1 right
    # cross-document answer lost), 0.780 at 0.15 with abstention precision 0.833; 0.774 from 0.35 up.
    focus_gap: float = 0.25
    # The claim check (rag.citations): shares of an answer sentence that its cited passage's text must hold.
    claim_support: float = 0.5  # of the content words it adds beyond the question
    # of the question's own words it repeats, names aside ("collapsed", "captured"). On dev this lifts the
    # decision's AUC from 0.66 (no such check) to 0.75. 0.85 lets an answer that restates 7 or more of them miss
    # one ("the schedules last twelve hours a day" to "twelve hours of power cuts a day"): on dev 4 extracts
    # become the model's right answers and 1 refusal a right answer; 0.8 lets a wrong answer through.
    claim_echo: float = 0.85
    # Of a yes/no question's words one passage must hold for a "Yes" to stand. All of them: at 0.8 "Isn't it true
    # that Russian officials admitted their own forces damaged the dam?" was confirmed by "Russian occupiers are
    # claiming that a dam has been damaged by a Ukrainian HIMARS strike" (G060, a blind item); on dev 0.9 and 1.0
    # change no other outcome (a "Yes" dropped leaves the rest of the answer, checked as before).
    yes_confirm: float = 1.0
    typo_similarity: float = 0.8  # difflib ratio at which two stemmed words count as one word misspelt

    # UI: the sources panel keeps the passages of this many recent answers per chat (older answers keep
    # their text and [n] markers; their cards go). Bounds a long session's memory.
    ui_source_turns: int = 20

    # LLM
    llm: str = "local"  # local | openai
    llm_model: str | None = None  # local: qwen2.5-1.5b (default), qwen2.5-0.5b or a GGUF path; openai: model name
    # The OpenAI SDK's own variable names, so an existing OpenAI setup just works.
    openai_base_url: str | None = Field(None, validation_alias=AliasChoices("OPENAI_BASE_URL", "RAG_OPENAI_BASE_URL"))
    openai_api_key: str | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY", "RAG_OPENAI_API_KEY"))
    llm_timeout: float = 60.0
    llm_threads: int | None = None  # local model threads; default: every core this process may use
    # llama.cpp's flash attention: on 2 cores, first token p50 5.83 s -> 5.54 s over 20 dev prompts (prompt
    # processing is the time to first token). Its float sums differ, so 5 of those 20 answers were worded
    # differently: the reports were re-run with it (README). Its sums also depend on how much of the prompt
    # llama.cpp reuses from the one before, so an answer can change with the question asked before it
    # (1 of the 99 test items between two runs).
    llm_flash_attention: bool = True
    # Follow-ups see three worked examples before their sources (rag.prompt.EXAMPLES); unset: every model but
    # those rag.llm.NO_EXAMPLES lists (the 0.5B, which copies them).
    follow_up_examples: bool | None = None
    # llama.cpp contexts kept per local model, one per prompt head, so that each head stays computed: a
    # question's (the rules) and a follow-up's (the rules and three worked examples, ~440 tokens, ~7 s on 2
    # cores to recompute). Each context takes ~0.8 GB of RAM (the system's available memory, measured). With 1,
    # a switch recomputes the head in the one context.
    llm_contexts: int = Field(2, ge=1)
    local_context_window: int = 4096  # tokens; our prompts stay far below, a bigger window only costs RAM
    api_context_window: int = 32768  # what an OpenAI-compatible server's model is assumed to take
    temperature: float = 0.0  # deterministic answers (and evals) on a given machine
    seed: int = 42
    max_tokens: int = 256

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, name: str) -> str:
        return collection_name(name)


def collection_name(name: str) -> str:
    """The one rule for collection names (Chroma's, plus our `-vN`/`-live` suffixes fit within it)."""
    if not COLLECTION_NAME.match(name or ""):
        raise ValueError("use 3-48 letters, digits, '.', '_' or '-', starting and ending with a letter or digit")
    return name


class SettingsError(RagError):
    pass


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (e.g. CLI flag) overrides that are not None."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(x) for x in problem["loc"])
        raise SettingsError(f"invalid setting {field}: {problem['msg'].removeprefix('Value error, ')}") from None
