"""report.html is built from the run folder's files, self-contained, and shows what they hold."""
from __future__ import annotations

import base64
import json
import re

import pytest

from gankit import report
from gankit.cli import main
from web_runs import make_run


@pytest.fixture()
def run(tmp_path):
    return make_run(tmp_path / "run")


def _b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_report_is_self_contained_and_inlines_every_image(run, capsys):
    assert main(["report", str(run)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (run / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    for attr in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert attr.startswith("data:image/"), attr
    images = sorted((run / "samples").glob("*.png")) + [run / "final.png", run / "plots" / "curves.png",
                                                          run / "interpolation.gif"]
    for p in images:
        assert _b64(p) in page, f"{p.name} not inlined"
    assert "data:image/gif;base64," in page
    assert "plots/curves.png" in page and "interpolation.gif" in page


def test_strip_has_one_frame_per_grid_in_step_order(run):
    page = report.render(run)
    steps = re.findall(r'class="thumb" data-step="(\d+)"', page)
    assert steps == ["10", "20", "30", "40"]
    assert 'id="scrub" type="range" min="0" max="3" value="3"' in page


def test_metrics_config_and_eval_come_from_the_files(run):
    page = report.render(run)
    assert "<th>D(G(z))</th>" in page and "<th>fid</th>" in page
    assert "123.2" in page  # fid, in the table and the eval section
    assert "z_dim: 8" in page  # config.yaml text
    assert 'id="eval"' in page and "kid.mean" in page
    # change the files: the page follows them (nothing is cached or remembered)
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 50, "elapsed_s": 5.0, "D_loss": 0.987654, "G_loss": 1.0}) + "\n")
    (run / "samples" / "step_0000010.png").unlink()
    (run / "eval.json").unlink()
    page = report.render(run)
    assert "0.9877" in page
    assert re.findall(r'class="thumb" data-step="(\d+)"', page) == ["20", "30", "40"]
    assert 'id="eval"' not in page


def test_curves_are_svg_with_gaps_for_non_finite_values(run):
    charts = report.charts([json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()])
    titles = [re.search(r'aria-label="([^"]+)"', c).group(1) for c in charts]
    assert titles == ["Losses", "Discriminator outputs", "fid"]
    losses = charts[0]
    # D_loss is 'nan' at the second of four rows: one point, then a two-point line; G_loss is whole.
    assert losses.count("<polyline") == 2 and losses.count("<circle") == 1
    assert "D_loss = 0.9" in losses and "G_loss = 1.1" in losses  # legends show the last values


def test_many_grids_are_thinned_keeping_first_and_last(tmp_path, monkeypatch):
    run = make_run(tmp_path / "r", frames=tuple(range(10, 110, 10)), panels=False)
    monkeypatch.setattr(report, "MAX_FRAMES", 4)
    steps = [s for s, _ in report.grid_frames(report.RunDir(run))]
    assert len(steps) == 4 and steps[0] == 10 and steps[-1] == 100


def test_text_from_the_run_is_escaped(run):
    cfg = (run / "config.yaml").read_text().replace("preset: vanilla", "preset: <script>alert(1)</script>")
    (run / "config.yaml").write_text(cfg)
    page = report.render(run)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_an_empty_run_still_reports(tmp_path):
    run = make_run(tmp_path / "r", frames=(), panels=False)
    page = report.render(run)
    assert "No fixed-noise grids" in page and "No metrics yet" in page


def test_not_a_run_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a gankit run" in err
