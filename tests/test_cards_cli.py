"""`tracker card` on the command line and `%card` in a real IPython kernel."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests import cards_fixture as fx
from tracker.cards import sections_from_file
from tracker.cli import main
from tracker.store import open_store


@pytest.fixture
def url(sqlite_url: str) -> str:
    st = open_store(sqlite_url, queued=False)
    fx.write_search(st, 8)
    st.write(fx.plain_run_ops())
    st.close()
    return sqlite_url


def test_card_to_stdout_and_to_files(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--store", url, "card", fx.PLAIN_ID[:8]]) == 0
    assert "tracker:card run=" + fx.PLAIN_ID in capsys.readouterr().out
    out = tmp_path / "card.html"
    assert main(["--store", url, "card", fx.SEARCH_ID, "--format", "html", "-o", str(out)]) == 0
    assert f"to {out}" in capsys.readouterr().out
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["--store", url, "card", fx.SEARCH_ID, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["subject"]["run_id"] == fx.SEARCH_ID


def test_regenerating_over_an_edited_card_keeps_the_text(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "card.md"
    assert (
        main(
            [
                "--store",
                url,
                "card",
                fx.PLAIN_ID,
                "-o",
                str(out),
                "--section",
                "owners=Ana <ana@example.org>",
            ]
        )
        == 0
    )
    text = out.read_text().replace(
        "*Needs input: What the model is for, and who its intended users are.*",
        "Sorting **digits** in scanned forms.",
    )
    out.write_text(text)
    assert main(["--store", url, "card", fx.PLAIN_ID, "-o", str(out)]) == 0
    assert "kept 2 human section(s)" in capsys.readouterr().out
    sections = sections_from_file(out)
    assert sections["intended_use"] == "Sorting **digits** in scanned forms."
    assert sections["owners"] == "Ana <ana@example.org>"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["card", "nope"], "no run with id 'nope'"),
        (["card", fx.PLAIN_ID, "-o", "card.txt"], "cannot tell the format"),
        (["card", fx.PLAIN_ID, "--format", "md", "-o", "card.html"], "does not match"),
        (["card", fx.PLAIN_ID, "--section", "purpose=x"], "unknown model card section"),
        (["card", fx.PLAIN_ID, "-o", "missing/card.md"], "does not exist"),
    ],
    ids=["unknown-run", "extension", "format-mismatch", "section", "folder"],
)
def test_mistakes_exit_2_with_one_line(
    url: str,
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--store", url, *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_existing_non_card_file_needs_force(url: str, tmp_path: Path) -> None:
    out = tmp_path / "notes.md"
    out.write_text("mine")
    assert main(["--store", url, "card", fx.PLAIN_ID, "-o", str(out)]) == 2
    assert out.read_text() == "mine"
    assert main(["--store", url, "card", fx.PLAIN_ID, "-o", str(out), "--force"]) == 0


@pytest.mark.kernel
@pytest.mark.slow
def test_card_magic_in_a_real_kernel(url: str, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import tracker\n"
            f"tracker.set_store({url!r})\n"
            "from tracker.capture.card_magic import CardMagics\n"
            "get_ipython().register_magics(CardMagics)\n"
            f"run = tracker.get_run({fx.SEARCH_ID!r})"
        ),
        nbformat.v4.new_code_cell("%card run"),
        nbformat.v4.new_code_cell(f"%card {fx.PLAIN_ID[:10]} --out card.md"),
        nbformat.v4.new_code_cell("%card no-such-run\nprint('cell went on')"),
        nbformat.v4.new_code_cell(f"%card {fx.PLAIN_ID} --format json"),
    ]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    html = nb.cells[1].outputs[0]["data"]["text/html"]
    assert "Model card: digits-svc-search" in html
    assert "<svg" in html
    assert "written to" in nb.cells[2].outputs[0]["text"]
    assert (tmp_path / "card.md").read_text().count("tracker:card run=" + fx.PLAIN_ID) == 1
    texts = {o.get("name"): o.get("text", "") for o in nb.cells[3].outputs}
    assert "%card: no run with id 'no-such-run'" in texts["stderr"]
    assert "cell went on" in texts["stdout"]
    assert nb.cells[4].outputs[0]["data"]["application/json"]["subject"]["run_id"] == fx.PLAIN_ID


@pytest.mark.kernel
@pytest.mark.slow
def test_model_card_notebook_runs(tmp_path: Path) -> None:
    # The kernel inherits this test's TRACKER_STORE and TRACKER_SPOOL_DIR (conftest).
    path = Path(__file__).parent.parent / "notebooks" / "model_card.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    md = (tmp_path / "model_card.md").read_text()
    assert "### By digit" in md
    assert "#### Chosen point" in md
    assert "selected_on_validation" in md
    assert (tmp_path / "model_card.html").read_text().count("<svg") >= 3
