"""The arena end to end on a tiny budget (real training, real metrics), and its parsing."""
import json
import statistics

import pytest

from gankit import config as C
from gankit.arena import parse_entry, rank, split_overrides
from gankit.cli import main
from gankit.errors import ConfigError

CONFIGS = ["vanilla:model.g_hidden=[32],model.d_hidden=[32]",
           "vanilla:model.g_hidden=[32],model.d_hidden=[32],tricks.label_smoothing=0.9,tricks.ema=0.9"]


@pytest.fixture(scope="module")
def arena(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("arena") / "a"
    code = main(["arena", *CONFIGS, "--steps", "40", "--seeds", "2", "--eval-n", "200", "--eval-every", "20",
                 "--data-dir", str(data_dir), "--out", str(out)])
    assert code == 0
    return out


def test_arena_json_has_every_run_with_metrics(arena):
    doc = json.loads((arena / "arena.json").read_text())
    assert doc["budget"] == {"steps": 40} and doc["seeds"] == 2 and doc["dataset"] == "mnist"
    assert [c["label"] for c in doc["configs"]] == CONFIGS
    for c in doc["configs"]:
        assert [r["seed"] for r in c["runs"]] == [0, 1]
        for r in c["runs"]:
            assert r["steps"] == 40 and r["metrics"]["fid"] > 0
            assert r["batch"] == 2  # a step budget and MLPs: the two seeds trained as one batch
            assert [p["step"] for p in r["fid_curve"]] == [20, 40]
            cfg = C.load(f"{r['run_dir']}/config.yaml")
            assert cfg.train.seed == r["seed"] and cfg.train.steps == 40
        fids = [r["metrics"]["fid"] for r in c["runs"]]
        assert c["summary"]["fid"]["mean"] == pytest.approx(statistics.fmean(fids))
        assert c["summary"]["fid"]["sd"] == pytest.approx(statistics.stdev(fids))
    assert doc["configs"][1]["active_tricks"] == ["tricks.label_smoothing=0.9", "tricks.ema=0.9"]
    # Different seeds really are different runs.
    a, b = doc["configs"][0]["runs"]
    assert a["metrics"]["fid"] != b["metrics"]["fid"]


def test_ranking_and_report(arena):
    doc = json.loads((arena / "arena.json").read_text())
    means = {c["label"]: c["summary"]["fid"]["mean"] for c in doc["configs"]}
    assert doc["ranking"] == sorted(means, key=means.get) == rank(doc)
    report = (arena / "arena.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert [r.split("`")[1] for r in rows] == doc["ranking"]
    assert "40 iterations" in report and "2 seed(s)" in report
    for c in doc["configs"]:
        assert (arena / "grids" / f"{c['slug']}.png").is_file()
    assert (arena / "fid_curves.png").stat().st_size > 10_000 and (arena / "grids.png").is_file()


def test_rerun_reuses_finished_runs(arena, data_dir):
    ckpt = arena / "runs" / parse_entry(CONFIGS[0]).slug / "seed-0" / "checkpoints" / "last.pt"
    before = ckpt.stat().st_mtime_ns
    assert main(["arena", CONFIGS[0], "--steps", "40", "--seeds", "1", "--eval-n", "200", "--eval-every", "20",
                 "--data-dir", str(data_dir), "--out", str(arena)]) == 0
    assert ckpt.stat().st_mtime_ns == before


def test_config_syntax():
    assert split_overrides("a=1,b=[2,3],c={x: 1, y: 2}") == ["a=1", "b=[2,3]", "c={x: 1, y: 2}"]
    e = parse_entry("vanilla:tricks.minibatch_discrimination=[8,4],train.batch_size=64")
    assert (e.preset, e.overrides) == ("vanilla", ["tricks.minibatch_discrimination=[8,4]", "train.batch_size=64"])
    assert parse_entry("vanilla").overrides == []
    with pytest.raises(ConfigError):
        parse_entry("vanilla:tricks.ema")


@pytest.mark.parametrize("argv", [
    ["vanilla", "vanilla"],                                 # the same configuration twice
    ["vanilla:tricks.label_smootin=0.9"],                   # unknown key
    ["nosuchpreset"],
    ["vanilla", "--steps", "10", "--time-budget", "5"],
    ["vanilla", "--seeds", "0"],
])
def test_bad_arena_arguments_exit_2_and_train_nothing(argv, tmp_path, capsys):
    assert main(["arena", *argv, "--out", str(tmp_path / "a")]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "a" / "runs").exists()
