"""Advice says no more than the claims suite's verdicts.

Each paper's claim gets a verdict computed from the committed run
(docs/benchmarks/claims/claims.json). Where a verdict is anything but
"reproduced", the advice that picks a variant for that claim
(docs/choosing_a_variant.md's table) must say so, and the README's pitch
must attribute SAM's gain to its paper and point at the measured verdicts
rather than state the gain as a fact.
"""

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
CLAIMS = json.loads((ROOT / "docs/benchmarks/claims/claims.json").read_text())["claims"]
ROW = re.compile(r"^\| \[[^\]]+\]\(variants/(\w+)\.md\) \|(.*)$", re.M)


def advice_rows(text):
    return {method: row for method, row in ROW.findall(text)}


def own(claim):
    """A claim of the method's own paper (GA-SAM's claim about SAM is not SAM's)."""
    return claim["paper"].split(" (")[0].replace("-", "").lower() == \
        claim["method"].replace("_", "")


def missing_verdicts(text):
    rows = advice_rows(text)
    missing = []
    for claim in CLAIMS:
        if claim["verdict"] == "reproduced" or claim["method"] not in rows or not own(claim):
            continue
        if f"**{claim['verdict']}** here" not in rows[claim["method"]]:
            missing.append(f"{claim['method']}: {claim['claim']} ({claim['verdict']})")
    return missing


def test_advice_carries_every_verdict_that_is_not_reproduced():
    text = (ROOT / "docs/choosing_a_variant.md").read_text()
    assert set(advice_rows(text)) >= {c["method"] for c in CLAIMS}
    assert not missing_verdicts(text), missing_verdicts(text)


def test_a_row_without_its_verdict_is_caught():
    text = (ROOT / "docs/choosing_a_variant.md").read_text()
    broken = re.sub(r"\*\*[^*]+\*\* here", "", text)
    assert missing_verdicts(broken)


def test_readme_pitch_attributes_sam_gain_to_the_paper():
    sam = next(c for c in CLAIMS if c["method"] == "sam" and c["baseline"] == "erm")
    pitch = (ROOT / "README.md").read_text().split("\n\n")[1]
    if sam["verdict"] != "reproduced":
        assert "paper reports" in pitch and "(#results)" in pitch, pitch
        assert "most visibly" not in pitch


def test_each_variant_page_shows_its_papers_claims_with_their_verdicts():
    # Words follow the verdicts: the page of every variant whose paper makes
    # a claim in the suite renders that claim's verdict from claims.json
    # (the rendered-docs test keeps the block equal to the file).
    for method in {c["method"] for c in CLAIMS if own(c)}:
        page = (ROOT / "docs" / "variants" / f"{method}.md").read_text()
        marker = f"<!-- rendered from docs/benchmarks/claims/claims.json#variant:{method} -->"
        assert marker in page, method
        block = page.split(marker)[1].split("<!-- end rendered -->")[0]
        for claim in CLAIMS:
            if claim["method"] == method and own(claim):
                assert f"\"{claim['claim']}\"" in block and f"**{claim['verdict']}**" in block
