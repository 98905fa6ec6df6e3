"""Presidio NLP engines over spaCy pipelines that never download anything.

No German spaCy model can be installed here (the registry's ``de-core-news-md`` is a
placeholder), so the default pipeline is ``spacy.blank(lang)``: a rule-based tokenizer and
nothing else. A blank pipeline leaves ``token.lemma_`` empty, which blinds Presidio's
``LemmaContextAwareEnhancer`` (it compares context words with lemmas), so the pipeline gets one
tiny component, ``lemma_lower``, that sets ``lemma_ = lower_``.

If a real pipeline with a named-entity recogniser is installed (``de_core_news_lg/md/sm`` or
the multilingual ``xx_ent_wiki_sm``), ``ner=None`` (auto) or ``ner=True`` uses it, and its
``PER`` entities become Presidio ``PERSON`` results through ``SpacyRecognizer``. ``ner=True``
without such a model is an error rather than a silent downgrade.

``LazyNlpArtifacts`` defers the spaCy pass until a recognizer actually reads a token, lemma or
entity: the pattern and checksum recognizers of this gateway never do, so a prompt normally
never meets spaCy at all (see ``policies.analyzer`` for why that matters).

Thread safety: spaCy documents no thread-safety for a ``Language`` object, and a call does
mutate shared state (the tokenizer cache and the ``StringStore``, which also grows by every
new token string a long-running process has seen). ``OfflineSpacyNlpEngine.process_text``
therefore holds a lock; the pass is CPU-bound under the GIL anyway, so the lock costs no
parallelism.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from spacy.language import Language
from spacy.tokens import Doc

# Installed-model candidates per language, best first. ``xx_ent_wiki_sm`` is multilingual.
NER_MODELS: dict[str, tuple[str, ...]] = {
    "de": ("de_core_news_lg", "de_core_news_md", "de_core_news_sm", "xx_ent_wiki_sm"),
    "en": ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "xx_ent_wiki_sm"),
}
LEMMA_COMPONENT = "lemma_lower"


@Language.component(LEMMA_COMPONENT)
def lemma_lower(doc: Doc) -> Doc:
    """Give every token its lower-cased text as lemma, so context words can match."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A loaded spaCy pipeline and where it came from (``"blank"`` or a model name)."""

    nlp: Language
    source: str

    @property
    def has_ner(self) -> bool:
        return "ner" in self.nlp.pipe_names


def load_ner_model(language: str) -> Pipeline | None:
    """The first installed NER model for ``language`` that loads, or ``None``.

    ``is_package`` only reads installed distribution metadata; a placeholder package of the
    right name passes it, so the candidate must also load and have an ``ner`` pipe.
    """
    for name in NER_MODELS.get(language, ()):
        if not spacy.util.is_package(name):
            continue
        try:
            nlp = spacy.load(name)
        except (OSError, ImportError, ValueError):
            continue
        if "ner" in nlp.pipe_names:
            return Pipeline(nlp=nlp, source=name)
    return None


def load_pipeline(language: str, *, ner: bool | None = False) -> Pipeline:
    """A spaCy pipeline for ``language``: a real NER model if wanted and installed, else blank.

    ``ner``: ``False`` always blank; ``None`` a model if one is installed; ``True`` requires
    one (``LookupError`` otherwise).
    """
    pipeline = load_ner_model(language) if ner is not False else None
    if pipeline is None:
        if ner is True:
            tried = ", ".join(NER_MODELS.get(language, ())) or "none known"
            raise LookupError(f"no spaCy NER model installed for {language!r} (tried {tried})")
        pipeline = Pipeline(nlp=spacy.blank(language), source="blank")
    if "lemmatizer" not in pipeline.nlp.pipe_names:
        pipeline.nlp.add_pipe(LEMMA_COMPONENT)
    return pipeline


class OfflineSpacyNlpEngine(SpacyNlpEngine):
    """``SpacyNlpEngine`` over pipelines built by ``load_pipeline``: ``load`` never downloads.

    The base class's ``load`` would call ``spacy.cli.download`` for a missing model; this one
    only assembles what ``load_pipeline`` returns. Only ``PER`` is mapped (to ``PERSON``):
    the other labels of a news model (LOC, ORG, MISC) are not entities this gateway acts on.
    """

    def __init__(self, pipelines: dict[str, Pipeline]) -> None:
        super().__init__(
            models=[{"lang_code": lang, "model_name": p.source} for lang, p in pipelines.items()],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping={"PER": "PERSON", "PERSON": "PERSON"},
                labels_to_ignore=["LOC", "ORG", "MISC", "GPE", "NORP", "DATE", "TIME"],
            ),
        )
        self.pipelines = pipelines
        self._lock = threading.Lock()
        # The base class annotates ``nlp`` as ``None`` until ``load``; this engine is born loaded.
        self.nlp = {lang: p.nlp for lang, p in pipelines.items()}  # type: ignore[assignment]

    def load(self) -> None:
        """Nothing to load: the pipelines were built in ``__init__``."""

    @property
    def has_ner(self) -> bool:
        return any(p.has_ner for p in self.pipelines.values())

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        """The base class's spaCy pass, serialised (see the module docstring)."""
        with self._lock:
            return super().process_text(text, language)


class LazyNlpArtifacts(NlpArtifacts):
    """``NlpArtifacts`` whose spaCy pass runs on first access to any of its fields, if ever.

    ``NlpArtifacts.__init__`` is deliberately not called: it would tokenize at once.
    ``__getattr__`` only runs for attributes not yet set, so after the first access every read
    is a plain attribute read. One instance serves one text in one thread.
    """

    _FIELDS = frozenset(
        {"entities", "tokens", "tokens_indices", "lemmas", "keywords", "nlp_engine", "scores"}
    )

    def __init__(self, text: str, language: str, engine: SpacyNlpEngine) -> None:
        self._text = text
        self._language = language
        self._engine = engine
        self.materialised = False

    def __getattr__(self, name: str) -> Any:
        if name not in LazyNlpArtifacts._FIELDS:
            raise AttributeError(name)
        artifacts = self._engine.process_text(self._text, self._language)
        self.__dict__.update(vars(artifacts))
        self.materialised = True
        return self.__dict__[name]


def build_nlp_engine(
    languages: tuple[str, ...] = ("de",), *, ner: bool | None = False
) -> OfflineSpacyNlpEngine:
    """An offline Presidio NLP engine for ``languages`` (``("en", "de")`` for stock Presidio)."""
    return OfflineSpacyNlpEngine({lang: load_pipeline(lang, ner=ner) for lang in languages})
