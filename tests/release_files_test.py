"""The files a release carries: LICENSE, CHANGELOG.md and CITATION.cff.

CITATION.cff names, for every registered variant, the paper to cite: the
one in the `Reference:` section of the variant's docstring (matched by its
arXiv id), which the variant's page in docs/variants/ also names, with a
**Cite** line.
"""

import pathlib
import re
import tomllib

import pytest
import yaml

import keras_sam

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARXIV = re.compile(r"arXiv:(\d{4}\.\d{4,5})")
VARIANTS = sorted(keras_sam.variants.registered().items())


def citation():
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def docstring_papers(cls):
    """The arXiv ids in the `Reference:` section of the class's docstring."""
    doc = cls.__doc__ or ""
    assert "Reference:" in doc, f"{cls.__name__}'s docstring has no Reference: section"
    return set(ARXIV.findall(doc.split("Reference:", 1)[1]))


def test_license_is_the_apache_license_pyproject_names():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["license"] == "Apache-2.0"


def test_changelog_top_version_is_the_package_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    versions = re.findall(r"^## \[([^\]]+)\]", text, flags=re.MULTILINE)
    released = [v for v in versions if v.lower() != "unreleased"]
    assert released, "CHANGELOG.md has no '## [X.Y.Z]' section"
    assert released[0] == keras_sam.__version__


def test_citation_describes_this_release():
    data = citation()
    assert data["cff-version"] == "1.2.0"
    assert data["type"] == "software" and data["title"].startswith("keras_sam")
    assert data["authors"] and data["message"]
    assert str(data["version"]) == keras_sam.__version__
    assert data["license"] == "Apache-2.0"


@pytest.mark.parametrize("identifier,cls", VARIANTS, ids=[i for i, _ in VARIANTS])
def test_every_variant_has_its_paper_in_citation(identifier, cls):
    papers = docstring_papers(cls)
    assert papers, f"{cls.__name__}'s Reference: names no arXiv id"
    named = [ref for ref in citation()["references"]
             if f"keras_sam.variants.{cls.__name__} (variant id {identifier})"
             in ref.get("notes", "")]
    assert len(named) == 1, (
        f"CITATION.cff needs one reference whose notes name "
        f"keras_sam.variants.{cls.__name__} (variant id {identifier})")
    ref = named[0]
    cited = {ARXIV.search(i["value"]).group(1) for i in ref["identifiers"]}
    assert cited & papers, (cls.__name__, cited, papers)
    assert ref["url"] == f"https://arxiv.org/abs/{sorted(cited)[0]}"
    assert ref["title"] and ref["authors"] and ref["year"]


def test_every_reference_is_a_variant_paper():
    papers = set().union(*(docstring_papers(cls) for _, cls in VARIANTS))
    references = citation()["references"]
    for ref in references:
        assert {ARXIV.search(i["value"]).group(1) for i in ref["identifiers"]} <= papers
    assert len(references) == len({r["url"] for r in references})


@pytest.mark.parametrize("identifier,cls", VARIANTS, ids=[i for i, _ in VARIANTS])
def test_every_variant_page_names_the_paper_to_cite(identifier, cls):
    page = (ROOT / "docs" / "variants" / f"{identifier}.md").read_text()
    assert "**Reference.**" in page and "**Cite**" in page
    assert f"`keras_sam.variants.{cls.__name__}`" in page
    reference = page.split("**Reference.**", 1)[1]
    assert docstring_papers(cls) <= set(ARXIV.findall(reference))
    assert "CITATION.cff" in page


def test_package_description_lists_no_variants():
    """pyproject's one-line description names no variant that can go stale."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        description = tomllib.load(f)["project"]["description"]
    assert "Sharpness-Aware Minimization" in description
    for identifier, cls in VARIANTS:
        if cls.__name__ != "SAM":
            assert cls.__name__ not in description.replace("-", ""), cls.__name__
    assert not re.search(r"\d|\b(eight|nine|ten|eleven|twelve|thirteen)\b",
                         description.replace("Keras 3", "Keras"), flags=re.IGNORECASE)
