"""A short real training run: files written, metrics shape, resume, and sampling."""

import numpy as np
import pytest
import torch

from gankit import config as C
from gankit.checkpoint import load_checkpoint
from gankit.cli import main
from gankit.runs import read_metrics


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("run") / "vanilla"
    code = main(["train", "vanilla", "--data-dir", str(data_dir), "--run-dir", str(run), "--steps", "1200",
                 "--set", "train.log_every=100", "--set", "train.checkpoint_every=500", "--no-progress"])
    assert code == 0
    return run


def test_run_folder_has_everything(short_run):
    assert (short_run / "config.yaml").is_file() and (short_run / "final.png").is_file()
    assert (short_run / "samples" / "step_0001000.png").is_file()
    assert (short_run / "samples" / "step_0001200.png").is_file()
    assert C.load(short_run / "config.yaml").train.steps == 1200


def test_metrics_rows_and_last_row_at_final_step(short_run):
    rows = read_metrics(short_run / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(100, 1201, 100))
    for r in rows:
        assert {"step", "elapsed_s", "D_loss", "G_loss", "D(x)", "D(G(z))"} <= r.keys()
        assert all(np.isfinite(r[k]) for k in ("D_loss", "G_loss"))
        assert 0 <= r["D(x)"] <= 1 and 0 <= r["D(G(z))"] <= 1
    assert rows[-1]["elapsed_s"] >= rows[0]["elapsed_s"] > 0
    # D learns to separate real from fake early on: D(x) above D(G(z)) on average.
    assert np.mean([r["D(x)"] - r["D(G(z))"] for r in rows]) > 0


def test_grid_is_a_4x4_picture(short_run):
    from PIL import Image

    im = np.asarray(Image.open(short_run / "final.png"))
    assert im.ndim == 2 and im.shape[0] == im.shape[1] == 3 * (2 + 4 * 30)
    assert im.std() > 10  # not a blank picture


def test_checkpoint_loads_weights_only(short_run):
    state = load_checkpoint(short_run / "checkpoints" / "last.pt")
    assert state["step"] == 1200
    assert set(state["G"]) and set(state["opt_d"])
    torch.load(short_run / "checkpoints" / "last.pt", weights_only=True)


def test_resume_continues_to_new_total(short_run, tmp_path, data_dir):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(short_run, run)
    assert main(["train", "--resume", str(run), "--steps", "1300", "--data-dir", str(data_dir), "--no-progress"]) == 0
    rows = read_metrics(run / "metrics.jsonl")
    assert rows[-1]["step"] == 1300 and [r["step"] for r in rows].count(1200) == 1
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 1300


def test_sample_npz_shape_dtype_range(short_run, tmp_path):
    out = tmp_path / "s.npz"
    assert main(["sample", str(short_run), "--n", "250", "--out", str(out), "--seed", "3"]) == 0
    with np.load(out) as z:
        assert set(z.files) == {"images"}
        images = z["images"]
    assert images.shape == (250, 28, 28) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() >= 200  # digits: black background, bright strokes
    again = tmp_path / "s2.npz"
    main(["sample", str(short_run), "--n", "250", "--out", str(again), "--seed", "3"])
    np.testing.assert_array_equal(np.load(again)["images"], images)


def test_time_budget_stops_early(tmp_path, data_dir, capsys):
    run = tmp_path / "budget"
    assert main(["train", "vanilla", "--data-dir", str(data_dir), "--run-dir", str(run), "--steps", "10000000",
                 "--time-budget", "2", "--no-progress"]) == 0
    rows = read_metrics(run / "metrics.jsonl")
    assert 0 < rows[-1]["step"] < 10000000 and rows[-1]["elapsed_s"] < 10
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == rows[-1]["step"]
    # the user is told how far the preset got and how to go on
    said = capsys.readouterr().out
    assert "at 0% of the configured 10,000,000 steps" in said and f"gankit train --resume {run}" in said
    # ... and that command does go on from where it stopped
    assert main(["train", "--resume", str(run), "--time-budget", "2", "--no-progress"]) == 0
    assert read_metrics(run / "metrics.jsonl")[-1]["step"] > rows[-1]["step"]


def test_a_run_that_ends_within_its_time_budget_says_nothing_of_it(tmp_path, data_dir, capsys):
    run = tmp_path / "quick"
    assert main(["train", "vanilla", "--data-dir", str(data_dir), "--run-dir", str(run), "--steps", "20",
                 "--time-budget", "600", "--no-progress"]) == 0
    said = capsys.readouterr().out
    assert "done: 20 steps" in said and "time budget stopped" not in said


def test_symmetric_range_uses_tanh_and_exports_uint8(tmp_path, data_dir):
    run = tmp_path / "sym"
    assert main(["train", "vanilla", "--data-dir", str(data_dir), "--run-dir", str(run), "--steps", "200",
                 "--set", "data.range=symmetric", "--no-progress"]) == 0
    from gankit.runs import load_generator
    G, cfg, _ = load_generator(run)
    assert isinstance(G.out, torch.nn.Tanh)
    out = tmp_path / "s.npz"
    main(["sample", str(run), "--n", "64", "--out", str(out)])
    assert np.load(out)["images"].dtype == np.uint8
