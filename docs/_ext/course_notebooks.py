"""Offer every chapter of the course as a Jupyter notebook to download.

A chapter is written once, as MyST markdown (``docs/course/NN-name.md``); MyST-NB
executes it for the site, and this extension writes the same cells as
``course/NN-name.ipynb`` beside the page, through jupytext, for a reader to run
offline. The library code a page includes with ``literalinclude`` and ``:pyobject:``
is written into the notebook as a code block taken from the same source, so the
notebook shows the same lines as the page.
"""

import re
import textwrap
from pathlib import Path

import jupytext
from sphinx.pycode import ModuleAnalyzer

CHAPTER = re.compile(r"^course/\d\d-[a-z0-9-]+$")
INCLUDE = re.compile(r"```\{literalinclude\}\s+(?P<path>\S+)\n(?P<options>(?::[\w-]+:.*\n)*)```", re.MULTILINE)


def chapters(app):
    return sorted(name for name in app.env.found_docs if CHAPTER.match(name))


def included_source(path, options):
    """The lines ``literalinclude`` shows for ``path`` with these ``:option:`` lines."""
    settings = dict(re.findall(r"^:([\w-]+):\s*(.*)$", options, re.MULTILINE))
    lines = path.read_text(encoding="utf-8").splitlines()
    if "pyobject" in settings:
        _kind, start, end = ModuleAnalyzer.for_file(str(path), "").find_tags()[settings["pyobject"]]
        lines = lines[start - 1:end]  # as literalinclude: the tag ends on its last line
    code = "\n".join(lines).rstrip()
    if "dedent" in settings:  # as literalinclude: by the given width, or by the common indent
        width = settings["dedent"].strip()
        code = ("\n".join(line[int(width):] for line in lines).rstrip() if width else textwrap.dedent(code))
    return code


def with_sources(markdown, folder):
    def expand(match):
        code = included_source((folder / match["path"]).resolve(), match["options"])
        return f"```python\n{code}\n```"
    return INCLUDE.sub(expand, markdown)


def write_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for name in chapters(app):
        source = Path(app.env.doc2path(name))
        notebook = jupytext.read(source)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = with_sources(cell.source, source.parent)
        target = Path(app.outdir, name + ".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        jupytext.write(notebook, target, fmt="ipynb")


def add_download_link(app, pagename, templatename, context, doctree):
    if CHAPTER.match(pagename):
        context["notebook_download"] = pagename.rsplit("/", 1)[-1] + ".ipynb"


def setup(app):
    app.connect("html-page-context", add_download_link)
    app.connect("build-finished", write_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
