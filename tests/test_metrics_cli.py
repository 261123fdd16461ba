"""``gankit eval`` end to end, the evaluation hook in training, and bad input (exit code 2)."""
import json

import numpy as np
import pytest
from PIL import Image

from gankit import config as C
from gankit.cli import main
from gankit.data import load_dataset
from gankit.runs import read_metrics
from gankit.train import train

REQUIRED = ("fid", "kid", "precision", "recall", "density", "coverage", "class_coverage", "class_kl",
            "inception_score")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def test_images(data_dir):
    return load_dataset("mnist", "test", data_dir).images[:, 0].numpy()


@pytest.mark.parametrize("arrays, message", [
    ({"pics": np.zeros((5, 28, 28), np.uint8)}, "no 'images' key"),
    ({"images": np.zeros((5, 28, 28), np.float32)}, "must be uint8"),
    ({"images": np.zeros((5, 32, 32), np.uint8)}, "must have shape"),
    ({"images": np.zeros((5, 3, 28, 28), np.uint8)}, "must have shape"),
])
def test_bad_npz_is_one_line_and_exit_code_2(tmp_path, capsys, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    code, out, err = run_cli(capsys, "eval", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_unknown_dataset_missing_path_and_not_npz_exit_2(tmp_path, capsys, test_images):
    good = tmp_path / "s.npz"
    np.savez(good, images=test_images[:20])
    (tmp_path / "junk.npz").write_text("not a zip")
    for argv, message in [((str(good), "--dataset", "cifar10"), "no feature extractor for dataset 'cifar10'"),
                          ((str(tmp_path / "missing.npz"),), "no such"),
                          ((str(tmp_path / "junk.npz"),), "not a readable .npz"),
                          ((str(tmp_path),), "not a gankit run")]:
        code, _, err = run_cli(capsys, "eval", *argv)
        assert code == 2 and err.count("\n") == 1 and message in err, (argv, err)


def test_eval_npz_prints_json_with_every_key_on_the_last_line(tmp_path, capsys, test_images, data_dir):
    path = tmp_path / "real.npz"
    np.savez(path, images=test_images[5000:5600])  # real test digits scored against the test split
    code, out, _ = run_cli(capsys, "eval", str(path), "--n", "500", "--json", "--data-dir", str(data_dir))
    assert code == 0
    result = json.loads(out.strip().splitlines()[-1])
    for key in REQUIRED:
        assert isinstance(result[key], float), key
    assert result["n"] == 500 and result["inception_fid"] is None and "unavailable" in result["inception_fid_note"]
    # Real digits: FID at the N = 500 floor (noise scores ~2,700), every class present.
    assert result["fid"] < 60 and result["precision"] > 0.85 and result["class_coverage"] == 1.0
    code, table, _ = run_cli(capsys, "eval", str(path), "--n", "500", "--data-dir", str(data_dir))
    assert code == 0 and all(f"  {k} " in table for k in REQUIRED)


def test_eval_config_is_checked():
    for bad in ("eval.every=-1", "eval.n=10"):
        with pytest.raises(C.ConfigError, match=bad.split("=")[0]):
            C.load_preset("vanilla", [bad])


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("run")
    cfg = C.load_preset("vanilla", ["train.steps=600", "eval.every=200", "eval.n=500", "train.sample_every=200",
                                    "train.log_every=100"])
    train(cfg, run, progress=False, data_dir=data_dir)
    return run


def test_training_logs_scores_and_keeps_the_best_checkpoint_by_fid(evaluated_run):
    import torch

    rows = [r for r in read_metrics(evaluated_run / "metrics.jsonl") if "fid" in r]
    assert [r["step"] for r in rows] == [200, 400, 600]
    assert all(k in rows[0] for k in REQUIRED) and "G_loss" in rows[0]  # scores join the loss row
    best = min(rows, key=lambda r: r["fid"])
    state = torch.load(evaluated_run / "checkpoints" / "best.pt", weights_only=True)
    assert state["step"] == best["step"]


def test_eval_of_a_run_writes_eval_json(evaluated_run, capsys, data_dir):
    code, out, _ = run_cli(capsys, "eval", str(evaluated_run), "--n", "500", "--json", "--no-plots",
                           "--data-dir", str(data_dir))
    assert code == 0
    printed = json.loads(out.strip().splitlines()[-1])
    saved = json.loads((evaluated_run / "eval.json").read_text())
    assert printed == saved and saved["step"] == 600 and saved["checkpoint"] == "last"
    # The in-training score at step 600 used the same seed and size: the numbers agree.
    last = [r for r in read_metrics(evaluated_run / "metrics.jsonl") if "fid" in r][-1]
    assert saved["fid"] == pytest.approx(last["fid"], rel=1e-4)


def test_list_shows_every_metric(capsys):
    from gankit.metrics import METRICS

    code, out, _ = run_cli(capsys, "list", "--json")
    assert code == 0 and set(json.loads(out)["metrics"]) == set(METRICS.names())


@pytest.mark.slow
def test_pictures_of_a_run(evaluated_run, data_dir):
    from gankit.plots import make_all

    paths = {p.name: p for p in make_all(evaluated_run, data_dir=data_dir)}
    assert set(paths) == {"training.gif", "losses.png", "metrics.png", "interpolation.png", "nearest.png"}
    with Image.open(paths["training.gif"]) as gif:
        assert gif.n_frames == len(list((evaluated_run / "samples").glob("step_*.png")))
    with Image.open(paths["interpolation.png"]) as im:  # 8 rows x 10 steps of 28px, scaled 3x
        assert im.size == (3 * (2 + 10 * 30), 3 * (2 + 8 * 30))
