"""The README is the test's answer, in Portuguese: its questions, links, figures and length.

The internship test asks for the answers "no próprio Readme.md". These tests keep the README in
that shape (the test's questions verbatim, each answered right below it), keep every relative
link of the README and of docs/ pointing at something, keep the figures the README shares with
the notebooks equal to the one place they are defined (``wschat.teaching.figures``), and keep
the README short enough to read.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbkit import LINK, heading_anchors

from wschat import Replica
from wschat.teaching import figures
from wschat.teaching.ptbr import number

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

#: The test's questions, as the test words them (Parte 1 and Parte 3).
QUESTIONS = (
    "O que são WebSockets?",
    "Como funcionam?",
    "Quando é melhor usar WebSockets em vez de uma API REST tradicional?",
    "Que tipo de tecnologia de comunicação você usaria para esse cenário?",
    "Como garantiria o envio correto para: Todos os usuários? Apenas um usuário específico? "
    "Todas as sessões abertas de um mesmo usuário?",
    "Existe alguma ferramenta ou biblioteca que facilitaria esse tipo de comunicação? "
    "Se sim, qual? E por quê?",
)
#: What the README must say, in this order, as level-2 headings.
PARTS = ("Parte 1", "Parte 2", "Parte 3", "Como rodar", "Trilha", "O servidor de chat", "In English")
#: The same rule as the teaching budgets: words are regex \w+ matches.
MAX_WORDS = 2500
#: An answer is a few plain sentences, not an essay.
MAX_ANSWER_WORDS = 200
TEST_SERVER_URL = "wss://websocket-fh6l.onrender.com/"


def readme() -> str:
    return README.read_text(encoding="utf-8")


def flat(text: str) -> str:
    """The text with every run of white space as one space (a phrase may wrap)."""
    return " ".join(text.split())


def without_code_blocks(text: str) -> str:
    return re.sub(r"(?ms)^\s*```.*?^\s*```", "", text)


def sections(text: str, level: str) -> dict[str, str]:
    """Heading text -> the text under it, up to the next heading of this level or higher."""
    pattern = re.compile(rf"(?m)^{level} (.+)$")
    found = list(pattern.finditer(text))
    result = {}
    for match, following in zip(found, [*found[1:], None], strict=True):
        end = following.start() if following else len(text)
        body = text[match.end():end]
        higher = re.search(rf"(?m)^#{{1,{len(level) - 1}}} ", body)
        result[match.group(1).strip()] = body[: higher.start()] if higher else body
    return result


def part(name: str) -> str:
    """The README's level-2 section whose heading starts with ``name``."""
    return next(body for heading, body in sections(readme(), "##").items()
                if heading.startswith(name))


def code_block(text: str, language: str) -> str:
    start = text.index(f"```{language}\n") + len(f"```{language}\n")
    return text[start:text.index("\n```", start)]


def slug(heading: str) -> str:
    """The anchor a forge gives a Markdown heading: lower case, punctuation dropped, spaces
    as hyphens (``The fan-out's loop (`x.c`)`` -> ``the-fan-outs-loop-xc``)."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_anchors(path: Path) -> set[str]:
    text = without_code_blocks(path.read_text(encoding="utf-8"))
    return {slug(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}


def broken_links(path: Path) -> list[str]:
    """Relative links of a Markdown page that name no file, or no heading of the file."""
    broken = []
    for target in LINK.findall(without_code_blocks(path.read_text(encoding="utf-8"))):
        if "://" in target or target.startswith("mailto:"):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.is_file() or not linked.is_relative_to(ROOT):
            broken.append(target)
        elif anchor and linked.suffix == ".ipynb":
            if anchor not in heading_anchors(nbformat.read(linked, as_version=4)):
                broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in markdown_anchors(linked):
            broken.append(target)
    return broken


def test_the_readme_follows_the_shape_of_the_test() -> None:
    headings = re.findall(r"(?m)^## (.+)$", readme())
    order = [next(i for i, h in enumerate(headings) if h.startswith(part)) for part in PARTS]
    assert order == sorted(order), headings


@pytest.mark.parametrize("question", QUESTIONS)
def test_each_question_of_the_test_is_answered_right_below_it(question: str) -> None:
    answers = sections(readme(), "###")
    assert question in answers, f"no heading '### {question}'"
    body = answers[question]
    first_paragraph = body.strip().split("\n\n", 1)[0]
    assert first_paragraph.startswith("**R:** "), first_paragraph[:80]


def test_every_answer_is_short_and_links_to_the_notebook_that_shows_it() -> None:
    answers = {q: b for q, b in sections(readme(), "###").items() if "**R:**" in b}
    assert set(QUESTIONS) <= set(answers)
    for question, body in answers.items():
        notebook_links = [t for t in LINK.findall(body) if t.startswith("notebooks/")]
        assert len(notebook_links) == 1, (question, notebook_links)
        assert "#" in notebook_links[0], f"{question}: link to the section, not the notebook"
        answer = body[body.index("**R:**"):body.index("*No notebook:*")]
        words = len(re.findall(r"\w+", answer))
        assert words <= MAX_ANSWER_WORDS, (question, words)


def test_part_3_states_the_scenario_and_the_model() -> None:
    scenario = flat(part("Parte 3"))
    for phrase in ("cair e voltar", "viáveis e escaláveis", "usuário → conjunto de conexões",
                   "sticky sessions", "Redis Stream"):
        assert phrase in scenario, phrase


def test_the_readme_says_a_websocket_is_a_protocol_and_the_browser_object_an_api() -> None:
    answer = flat(sections(readme(), "###")["O que são WebSockets?"])
    assert "**protocolo**" in answer and "RFC 6455" in answer
    assert "`WebSocket` do navegador" in answer and "**API**" in answer


def test_the_readme_script_reads_the_greeting(replica: Replica) -> None:
    """Part 2's script, pointed at the local replica instead of the test's server, prints the
    greeting (the real server is outside this machine: WSCHAT_OFFLINE)."""
    practice = part("Parte 2")
    assert "pip install websocket-client" in practice
    script = code_block(practice, "python")
    assert len([line for line in script.splitlines() if line.strip()]) <= 5
    assert TEST_SERVER_URL in script
    done = subprocess.run([sys.executable, "-c", script.replace(TEST_SERVER_URL, replica.url)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == figures.GREETING


def test_the_readme_states_the_shared_figures_as_defined() -> None:
    text = flat(readme())
    assert f"menos de {number(figures.PUSH_LATENCY_BOUND_MS)} ms" in text
    assert f"**`{figures.GREETING}`**" in text
    script = code_block(part("Parte 2"), "python")
    assert f"timeout={figures.PROBE_TIMEOUT:g}" in script
    assert f"esperam até {number(figures.PROBE_TIMEOUT)} s" in text
    assert f"as {number(figures.HISTORY)} mensagens mais recentes" in text
    assert f"mais de {number(figures.MAX_REPLAY)} mensagens" in text


def test_the_readme_stays_short() -> None:
    assert len(re.findall(r"\w+", readme())) < MAX_WORDS


def test_the_trilha_names_every_notebook_and_marks_the_deeper_ones() -> None:
    trilha = part("Trilha")
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        line = next(line for line in trilha.splitlines() if f"(notebooks/{path.name})" in line)
        assert ("*aprofundamento*" in line) == (path.name[:2] not in ("01", "02", "03")), line


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


#: The first line of a ```python block that is a notebook cell, not a script.
NOTEBOOK_CELL = "# in a notebook cell"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_python_examples_run_as_scripts(path: Path) -> None:
    """Every ```python block compiles as a file would (no top-level ``await``/``async with``),
    except one that says on its first line that it is a notebook cell, where top-level
    ``await`` is allowed (as IPython allows it)."""
    text = path.read_text(encoding="utf-8")
    for number_, block in enumerate(re.findall(r"(?ms)^```python\n(.*?)^```", text)):
        cell = block.startswith(NOTEBOOK_CELL)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if cell else 0
        compile(block, f"{path.name} python block {number_}", "exec", flags=flags)


def test_the_english_summary_links_every_docs_page() -> None:
    summary = part("In English")
    linked = {target for target in LINK.findall(summary) if target.startswith("docs/")}
    assert linked == {f"docs/{page.name}" for page in DOCS}
