"""Every command the course and the guides show is one the command line takes as written:
each ``neuronet …`` line of their ``bash`` blocks parses with neuronet's own parser, whose
choices (a studio lesson's name among them) it checks."""

import re
import shlex
from pathlib import Path

import pytest

from neuronet.cli import make_parser

DOCS = Path(__file__).resolve().parents[1]
PAGES = sorted(DOCS.glob("course/*.md")) + sorted(DOCS.glob("*.md"))
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shown_commands():
    for page in PAGES:
        for block in BLOCK.findall(page.read_text(encoding="utf-8")):
            for line in block.replace("\\\n", " ").splitlines():
                for part in line.split("&&"):
                    words = shlex.split(part, comments=True)
                    if "neuronet" in words and not words[0] == "pip":
                        yield page.relative_to(DOCS).as_posix(), words[words.index("neuronet") + 1:]


COMMANDS = list(shown_commands())


def test_the_pages_show_commands():
    assert len(COMMANDS) >= 20 and {"course/01-one-neuron.md", "course/09-practice.md"} <= {page for page, _ in COMMANDS}


@pytest.mark.parametrize("page, words", COMMANDS, ids=[f"{page}: {' '.join(words)}" for page, words in COMMANDS])
def test_a_shown_command_parses(page, words, capsys):
    parser = make_parser()
    try:
        parser.parse_args(words)
    except SystemExit as exit:
        assert exit.code == 0, f"{page}: `neuronet {' '.join(words)}` does not parse: {capsys.readouterr().err}"
