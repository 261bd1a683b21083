"""Sphinx configuration of neuronet's site: the course (chapters executed at build time
by MyST-NB), the guides and the API reference generated from the docstrings.

Build it offline, warnings as errors, from the repository's root:

    pip install '.[docs]'
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import importlib.util
import os
import re
import sys
from importlib.metadata import version as installed_version

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "_ext"))

project = "neuronet"
author = "the neuronet authors"
copyright = "neuronet's authors"
release = installed_version("neuronet")
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_copybutton",
    "course_notebooks",  # each chapter offered as a notebook to download
]

exclude_patterns = ["_build", "tests", "jupyter_execute", "**.ipynb_checkpoints", "course/*.ipynb"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
suppress_warnings = ["mystnb.unknown_mime_type"]

# The chapters run top to bottom in a fresh kernel at every build; a failing cell
# (an assert whose claim stopped holding) fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 120
nb_execution_in_temp = True  # a chapter that runs the command line writes its run folders there
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# The API reference: numpydoc renders the docstrings' sections; optional extras that
# the docs do not install are mocked so that every module imports.
autodoc_mock_imports = ["mpi4py"]
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # offline: no inventory is fetched

html_theme = "pydata_sphinx_theme"
html_title = "neuronet"
html_favicon = "_static/favicon.svg"
# MathJax 3 as the package sphinx-mathjax-offline ships it, copied into _static/mathjax:
# every page typesets its math offline, with no CDN.
MATHJAX_PACKAGE = os.path.join(os.path.dirname(importlib.util.find_spec("sphinx-mathjax-offline").origin), "static")
html_static_path = ["_static", MATHJAX_PACKAGE]
mathjax_path = "mathjax/tex-chtml.js"
html_css_files = ["course.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_end": ["navbar-icon-links"],
    "secondary_sidebar_items": ["page-toc", "notebook-download"],
    "footer_start": ["copyright"],
    "footer_end": [],
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_sidebars = {"course/[0-9][0-9]-*": []}  # chapters: the article takes the width
templates_path = ["_templates"]
html_context = {"default_mode": "light"}


def skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn adds ``set_fit_request`` and its kin to every estimator; their
    documentation is scikit-learn's, with links into its own site."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


FORMULA = re.compile(r"^(\s*)(Forward|Backward)\b[^:]*:\s")


def formulas_as_blocks(app, what, name, obj, options, lines):
    """A layer's docstring writes its forward formula and its gradients one to a line,
    aligned for ``help()``; on the page they keep that alignment as a formula block."""
    index = 0
    while index < len(lines):
        start = FORMULA.match(lines[index])
        written_as_block = index > 1 and lines[index - 2].rstrip().endswith("::")
        if not start or written_as_block:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and (FORMULA.match(lines[end]) or
                                    lines[end].startswith(start.group(1) + " ") and lines[end].strip()):
            end += 1
        block = ["", "::", ""] + ["    " + line for line in lines[index:end]] + [""]
        lines[index:end] = block
        index += len(block)


def setup(app):
    app.connect("autodoc-skip-member", skip_metadata_requests)
    app.connect("autodoc-process-docstring", formulas_as_blocks)
