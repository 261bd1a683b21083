"""The notebooks a reader downloads show the same library code as the pages: every
``literalinclude`` of a chapter, written into its notebook as a code block, holds exactly
the lines Sphinx's own ``literalinclude`` shows on the page."""

import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from sphinx.directives.code import LiteralIncludeReader

DOCS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(DOCS / "_ext"))
import course_notebooks  # noqa: E402

INCLUDES = [(chapter, match) for chapter in sorted(DOCS.glob("course/[0-9][0-9]-*.md"))
            for match in course_notebooks.INCLUDE.finditer(chapter.read_text(encoding="utf-8"))]


def test_the_chapters_include_library_code():
    assert len(INCLUDES) >= 30


def shown_as(chapter, match):
    return f"{chapter.stem}: {' '.join(match['options'].split())}"


@pytest.mark.parametrize("chapter, match", INCLUDES, ids=[shown_as(*include) for include in INCLUDES])
def test_a_notebook_shows_the_lines_the_page_shows(chapter, match):
    path = (chapter.parent / match["path"]).resolve()
    options = {key: value.strip() or None
               for key, value in re.findall(r"^:([\w-]+):(.*)$", match["options"], re.MULTILINE)}
    options.pop("language", None)
    options.pop("caption", None)
    config = SimpleNamespace(source_encoding="utf-8", highlight_language="python")
    if "dedent" in options:
        options["dedent"] = int(options["dedent"]) if options["dedent"] else None
    shown, _ = LiteralIncludeReader(str(path), options, config).read()
    notebook = course_notebooks.included_source(path, match["options"])
    assert notebook == shown.rstrip()
