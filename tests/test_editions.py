"""The graded file is the one the student worked in (CONTRACT section 4): with both editions in
a folder, the one that differs from the released template; both when both differ."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from autograder.authoring.manifest import MANIFEST_PATH, Manifest
from autograder.grading.submission import EXERCISE_NOTEBOOK, choose_editions
from autograder.paths import SOLUTIONS_DIR, TEMPLATE_PATH
from tests.grading import grade
from tests.submissions.build import REFERENCE

PY = TEMPLATE_PATH.name
TEMPLATE_NB = TEMPLATE_PATH.with_suffix(".ipynb")
SOLVED_NB = SOLUTIONS_DIR / EXERCISE_NOTEBOOK


def _folder(tmp_path: Path, *, py: str | Path, nb: Path | None) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    if isinstance(py, Path):
        shutil.copyfile(py, folder / PY)
    else:
        (folder / PY).write_text(py, encoding="utf-8")
    if nb is not None:
        shutil.copyfile(nb, folder / EXERCISE_NOTEBOOK)
    return folder


def test_a_solved_notebook_beside_the_untouched_script_is_what_is_graded(tmp_path):
    editions = choose_editions(_folder(tmp_path, py=TEMPLATE_PATH, nb=SOLVED_NB))
    assert [p.name for p in editions.files] == [EXERCISE_NOTEBOOK]
    assert "is the released template" in editions.note


def test_a_solved_script_beside_the_untouched_notebook_is_what_is_graded(tmp_path):
    editions = choose_editions(_folder(tmp_path, py=REFERENCE, nb=TEMPLATE_NB))
    assert [p.name for p in editions.files] == [PY]


def test_running_the_untouched_notebook_is_not_working_in_it(tmp_path):
    nb = json.loads(TEMPLATE_NB.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 7
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
    run = tmp_path / "run.ipynb"
    run.write_text(json.dumps(nb), encoding="utf-8")
    editions = choose_editions(_folder(tmp_path, py=REFERENCE, nb=run))
    assert [p.name for p in editions.files] == [PY]


def test_both_changed_means_both_are_graded(tmp_path):
    editions = choose_editions(_folder(tmp_path, py=REFERENCE, nb=SOLVED_NB))
    assert [p.name for p in editions.files] == [PY, EXERCISE_NOTEBOOK]
    assert "higher score counts" in editions.note


def test_both_untouched_grades_the_script(tmp_path):
    editions = choose_editions(_folder(tmp_path, py=TEMPLATE_PATH, nb=TEMPLATE_NB))
    assert [p.name for p in editions.files] == [PY] and "as it was" in editions.note


def test_the_release_manifest_recognises_an_older_template(tmp_path):
    older = TEMPLATE_PATH.read_text(encoding="utf-8") + "\n# a comment of an earlier release\n"
    folder = _folder(tmp_path, py=older, nb=SOLVED_NB)
    assert len(choose_editions(folder).files) == 2  # unknown to this grader: counts as changed
    manifest = Manifest(templates={PY: Manifest.from_files({PY: older.encode()}).templates[PY]})
    (folder / MANIFEST_PATH).parent.mkdir(parents=True)
    (folder / MANIFEST_PATH).write_text(manifest.to_json(), encoding="utf-8")
    editions = choose_editions(folder)  # the manifest in the folder is read
    assert [p.name for p in editions.files] == [EXERCISE_NOTEBOOK]


def test_a_single_file_or_a_folder_with_one_edition_is_graded_as_it_is(tmp_path):
    assert choose_editions(TEMPLATE_PATH).files == (TEMPLATE_PATH,)
    folder = tmp_path / "only"
    folder.mkdir()
    shutil.copyfile(SOLVED_NB, folder / EXERCISE_NOTEBOOK)
    assert [p.name for p in choose_editions(folder).files] == [EXERCISE_NOTEBOOK]


@pytest.mark.slow
def test_grading_a_folder_keeps_the_higher_of_two_changed_editions(tmp_path):
    broken = REFERENCE.replace(
        "return torch.linalg.vector_norm(per_tensor",
        "return 2 * torch.linalg.vector_norm(per_tensor",
    )
    assert broken != REFERENCE
    folder = _folder(tmp_path, py=broken, nb=SOLVED_NB)
    g = grade(folder, tmp_path / "results.json")
    assert g.returncode == 0, g.stderr
    assert g.results["score"] == 110.0
    assert g.results["extra_data"]["submission"].endswith(EXERCISE_NOTEBOOK)
    assert g.results["extra_data"]["other_edition"]["score"] < 110.0
    assert "both were graded and the higher score counts" in g.results["output"]
