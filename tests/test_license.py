"""The license, the citation file and the README's BibTeX agree and parse."""
import re

import yaml

from tests.conftest import ROOT


def test_license_is_apache_and_names_the_weights_terms():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0" in text
    assert "CC BY-NC 4.0" in text  # the released weights keep their authors' terms


def test_citation_cff_parses_and_cites_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "Apache-2.0"
    paper = cff["preferred-citation"]
    assert paper["title"] == "Is Space-Time Attention All You Need for Video Understanding?"
    assert [a["family-names"] for a in paper["authors"]] == ["Bertasius", "Wang", "Torresani"]
    assert paper["year"] == 2021


def test_readme_bibtex_matches_the_citation_file():
    readme = (ROOT / "README.md").read_text()
    bib = re.search(r"```bibtex\n(.*?)```", readme, re.S)
    assert bib, "README.md has no ```bibtex block"
    fields = dict(re.findall(r"(\w+)\s*=\s*\{(.*?)\},?\n", bib.group(1)))
    paper = yaml.safe_load((ROOT / "CITATION.cff").read_text())["preferred-citation"]
    assert fields["title"] == paper["title"] and fields["year"] == str(paper["year"])
    assert fields["author"] == " and ".join(f"{a['given-names']} {a['family-names']}" for a in paper["authors"])
    for doc in ("README.md", "MODEL_ZOO.md"):
        assert "CC BY-NC 4.0" in (ROOT / doc).read_text(), f"{doc} must state the weights' license"
