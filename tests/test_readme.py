"""The README's contents list names every section, so a newcomer finds each one."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_the_contents_list_links_every_section():
    text = README.read_text()
    sections = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    listed = re.findall(r"^- \[[^\]]+\]\(#([^)]+)\)$", text, flags=re.MULTILINE)
    assert [anchor(section) for section in sections] == listed
