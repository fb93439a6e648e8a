"""The notebook tour (train/tour.ipynb): stored without outputs, and run top to bottom by a real Jupyter kernel."""
import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "train" / "tour.ipynb"


def test_the_notebook_is_stored_without_outputs():
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


@pytest.mark.slow
def test_the_tour_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="pip install -r requirements-notebook.txt runs the tour")
    nbclient = pytest.importorskip("nbclient", reason="pip install -r requirements-notebook.txt runs the tour")
    pytest.importorskip("ipykernel", reason="pip install -r requirements-notebook.txt runs the tour")
    from PIL import Image

    # Tiny settings, read by the notebook's first cell; the kernel inherits this environment.
    for name, value in {"TOUR_STEPS": "4", "TOUR_SAMPLE_EVERY": "2", "TOUR_RENDER_SECONDS": "0.5",
                        "TOUR_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "train")}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "32 images of 64x64 px" in text
    assert "mirrored over 2 CPU devices" in text                          # the trainer's own report
    assert "sample sheet at step 2" in text and "sample sheet at step 4" in text
    assert "default-64: 64x64 px tiles" in text
    assert "wrote 6 frames of 640x360 at 12 fps" in text

    pictures = [Image.open(io.BytesIO(base64.b64decode(o.data["image/png"])))
                for o in outputs if "image/png" in o.get("data", {})]
    # mini set, two sample sheets, the contact sheet, the 14x14 grid and the walk's strip
    assert len(pictures) == 6
    grid = pictures[4]
    assert grid.size == (14 * 66 + 2, 14 * 66 + 2)                       # 14 tiles of 64 px and 2 px gaps a side
    assert len(np.unique(np.asarray(grid.convert("RGB")).reshape(-1, 3), axis=0)) > 1000    # a picture, not a blank
    strip = pictures[5]
    assert strip.size == (2 * (16 * 66 + 2), 2 * 68)

    video = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(video) == 1 and '<video' in video[0] and 'data:video/mp4;base64,' in video[0]
    assert (tmp_path / "run" / "generator.keras").exists()
