"""Make Presidio safe to run without a network: import this module before ``presidio_analyzer``.

Two things in Presidio's dependency tree reach for the network at run time:

* ``tldextract`` (Presidio's ``EmailRecognizer`` validates domains with it) builds its module
  level extractor at import time from ``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS``; unset, it fetches
  the Public Suffix List from publicsuffix.org on first use and hangs offline. An empty value
  gives it no URLs, so ``find_first_response`` fails at once and ``_get_suffix_lists`` falls
  back to the snapshot bundled with the wheel (``tldextract/.tld_set_snapshot``) without ever
  opening a socket (checked in tldextract 5.4 ``suffix_list.py`` and in
  ``tests/unit/policies/test_analyzer.py`` with sockets patched to fail).
  ``TLDEXTRACT_CACHE=""`` disables its disk cache, so a read-only container root file system
  produces no warnings and every process reads the same bundled list (parsing it costs ~40 ms,
  once per process; ``build_analyzer`` pays it during warm-up).
* Presidio's spaCy engines call ``spacy.cli.download(model)`` when a model is missing, which
  asks GitHub for a compatibility table and then runs pip. We never want that in the gateway,
  so ``spacy.cli.download`` is replaced by a function that raises ``OSError`` with the reason.

The rule for every module of ``policies`` that imports ``presidio_analyzer`` (ruff's isort
would otherwise move the first-party import below the third-party one)::

    from policies import offline  # noqa: F401  (must run before presidio is imported)

    # isort: split
    from presidio_analyzer import ...

The module is idempotent and cheap after the first import. An operator may still point
``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` at a local copy of a newer list (a file path); remote
URLs are dropped, whoever set them.
"""

from __future__ import annotations

import os
from typing import NoReturn

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("TLDEXTRACT_CACHE", "")

# These imports must follow the environment settings above (tldextract reads them on import).
import spacy.cli
import tldextract.tldextract


def _refuse_download(model: str, *args: object, **kwargs: object) -> NoReturn:
    raise OSError(
        f"spaCy model {model!r} is not installed and this process is offline: "
        "install the model package into the image instead of downloading it at run time"
    )


def _pin_tldextract() -> None:
    """Drop every non-``file:`` suffix-list URL from tldextract's module-level extractor.

    It has some if tldextract was imported before this module, or if the environment named a
    remote list. ``tldextract.extract`` reads the module global ``TLD_EXTRACTOR`` at call time,
    so replacing it is enough even when Presidio already holds a reference to ``tldextract``.
    """
    module = tldextract.tldextract
    urls = module.TLD_EXTRACTOR.suffix_list_urls
    local = tuple(url for url in urls if url.startswith("file:"))
    if local != urls:
        module.TLD_EXTRACTOR = module.TLDExtract(cache_dir=None, suffix_list_urls=local)


# Presidio calls ``spacy.cli.download(name)`` by attribute lookup, so this reaches every caller.
spacy.cli.download = _refuse_download  # type: ignore[attr-defined]  # implicit re-export
_pin_tldextract()
