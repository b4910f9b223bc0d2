"""Lists that follow the registry, and words a newcomer can follow (#25).

- A paragraph that lists variant ids (three or more quoted ids, such as
  `"sam"`, `"asam"`, `"wsam"`) lists every id of `variants.registered()`.
- The pages that give a line per variant (the docs index, the cost table of
  choosing_a_variant.md, the cost rule of getting_started.md) name every
  registered variant.
- A term of the project's jargon is defined on each page at its first use
  (ERM; the claims suite's `cnn_beyond` task), and words that only made
  sense to the authors ("seed variants", "main job") are gone.
- The CPU-only PyTorch line is the one PyTorch documents.

Pages a benchmark writes (tables rendered from results files) are checked
on the pages that show them, not on their own.
"""

import os
import re

import pytest

from keras_sam import variants
from keras_sam_bench import render

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IDS = set(variants.registered())
FENCED = re.compile(r"^\s*```.*?^\s*```[ \t]*$", re.S | re.M)
QUOTED_ID = re.compile(r"[\"'](\w+)[\"']")
# term: the words that define it, which must come no later than its first use
# (or right after it, as in "ERM (empirical risk minimization: ...)").
DEFINED = {
    "ERM": r"empirical risk minimi[sz]ation",
    "cnn_beyond": r"the `?cnn`? task(?:'s protocol)?(?: run)? again",
}
NEAR = 20  # characters: how far after a term's first use its definition may start
GONE = [r"seed variants?", r"main job"]


def _pages(root=ROOT):
    """`(relative path, text)` of README.md and docs/**/*.md, but what benchmarks write."""
    for path in render.documents(root):
        with open(path) as f:
            text = f.read()
        relative = os.path.relpath(path, root)
        written = os.path.basename(path) == "table.md" or relative.endswith(
            os.path.join("claims", "claims.md"))
        if written or not render.BLOCK.sub("", text).strip():
            continue
        yield relative, text


def _prose(text):
    """`text` without its code blocks and rendered blocks (line count kept)."""
    blank = lambda m: "\n" * m[0].count("\n")  # noqa: E731
    return FENCED.sub(blank, render.BLOCK.sub(blank, text))


def incomplete_id_lists(pages, ids=IDS):
    """`page: missing ids` for each paragraph listing three or more ids but not all."""
    found = []
    for page, text in pages:
        for paragraph in re.split(r"\n\s*\n", _prose(text)):
            listed = set(QUOTED_ID.findall(paragraph)) & ids
            if len(listed) >= 3 and listed != ids:
                found.append(f"{page}: {sorted(ids - listed)} missing in "
                             f"{paragraph.strip()[:60]!r}")
    return found


def undefined_terms(pages):
    """`page: term` where a term's first use comes before its definition."""
    found = []
    for page, text in pages:
        flat = re.sub(r"\s+", " ", text)
        for term, definition in DEFINED.items():
            use = re.search(rf"\b{term}\b", flat)
            if use is None:
                continue
            meaning = re.search(definition, flat, re.I)
            if meaning is None or meaning.start() > use.start() + NEAR:
                found.append(f"{page}: {term}")
    return found


def test_every_list_of_variant_ids_lists_every_registered_id():
    assert incomplete_id_lists(_pages()) == []


def test_a_list_missing_an_id_is_found():
    page = ('Ids: `"sam"`, `"asam"`, `"wsam"`.\n\n```python\nfor v in ["sam", "asam",'
            ' "gam"]: pass\n```\n\nOne: `"sam"` or `"gam"`.\n')
    found = incomplete_id_lists([("page.md", page)], ids={"sam", "asam", "wsam", "msam"})
    assert len(found) == 1 and found[0].startswith("page.md: ['msam'] missing")


def _names(text):
    """Variant names as the docs write them, hyphens dropped ("GA-SAM" is GASAM)."""
    return set(re.findall(r"[A-Za-z]+", text.replace("-", "")))


@pytest.mark.parametrize("page, start, end", [
    ("docs/index.md", "Variants, one page each", "Choosing a variant"),
    ("docs/choosing_a_variant.md", "| variant |", "Each paper's claim, measured"),
    ("docs/getting_started.md", "**`sam_fraction`**", "**`perturbation_norm`**"),
])
def test_the_pages_with_a_line_per_variant_name_every_variant(page, start, end):
    with open(os.path.join(ROOT, page)) as f:
        text = f.read()
    section = text[text.index(start):text.index(end)]
    classes = {cls.__name__ for cls in variants.registered().values()}
    assert classes - _names(section) == set(), page
    if page != "docs/getting_started.md":
        links = set(re.findall(r"variants/(\w+)\.md", section))
        assert IDS - links == set(), page


def test_jargon_is_defined_where_a_page_first_uses_it():
    assert undefined_terms(_pages()) == []


def test_a_term_used_before_its_definition_is_found():
    pages = [("a.md", "Against ERM, which the next paragraph defines.\n\n"
                      "ERM (empirical risk minimization) is..."),
             ("b.md", "Against ERM (empirical\nrisk minimization: plain training)."),
             ("c.md", "No term here.")]
    assert undefined_terms(pages) == ["a.md: ERM"]


def test_no_words_only_the_authors_knew():
    found = [f"{page}: {words}" for page, text in _pages() for words in GONE
             if re.search(words, re.sub(r"\s+", " ", text), re.I)]
    assert found == []


def test_the_cpu_only_torch_line_is_pytorchs():
    """README gives PyTorch's documented CPU-only line, and no page pins torch for it.

    docs/backends.md shows the CI command, whose pin only this CI machine's
    package index resolves to a CPU build (.ci/run says why).
    """
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
    pinned = [page for page, text in _pages() if re.search(r"torch==\d", text)
              and page != os.path.join("docs", "backends.md")]
    assert pinned == []
