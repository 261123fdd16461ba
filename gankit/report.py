"""``gankit report RUN_DIR``: one self-contained HTML page built from the files a run wrote.

Everything comes from the run folder (config.yaml, metrics.jsonl, eval.json, samples/,
the PNG/GIF files at the top level and in plots/), never from a live trainer. Images
are inlined as base64 data URIs and curves as inline SVG, so the page opens offline,
can be mailed as one file, and needs no CDN.
"""
from __future__ import annotations

import base64
import html
import json
import math
import re
from pathlib import Path

from gankit.runs import RunDir, read_metrics

MAX_FRAMES = 80  # the strip keeps at most this many grids (evenly spaced, first and last kept)
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
GROUPS = [("Losses", ["D_loss", "G_loss"]), ("Discriminator outputs", ["D(x)", "D(G(z))"]),
          ("Overfitting: r_t (ADA's sign of D on real) and r_v (held-out images)", ["r_t", "r_v"]),
          ("D on training and held-out real images", ["D_train", "D_heldout"]),
          ("Adaptive augmentation: p", ["aug_p"])]
NOT_METRICS = {"step", "elapsed_s"}
MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def data_uri(path: Path) -> str:
    return f"data:{MIME[path.suffix.lower()]};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _number(v) -> float | None:
    """A plottable float, or None (missing, 'nan'/'inf' strings, booleans, text)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2g}"
    return f"{v:.4g}"


def svg_chart(title: str, rows: list[dict], keys: list[str], width: int = 460, height: int = 250) -> str:
    """A line chart of ``keys`` against ``step`` as inline SVG; gaps where a value is missing."""
    series = {k: [(r["step"], _number(r.get(k))) for r in rows if k in r and isinstance(r.get("step"), int)]
              for k in keys}
    pts = [(x, y) for s in series.values() for x, y in s if y is not None]
    if not pts:
        return ""
    left, right, top, bottom = 58, 24, 12 + 14 * max(len(keys), 1), 34
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 == y0:
        y0, y1 = y0 - (abs(y0) * 0.1 or 1), y1 + (abs(y1) * 0.1 or 1)
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad
    x1 = x1 if x1 > x0 else x0 + 1
    pw, ph = width - left - right, height - top - bottom

    def X(x):
        return left + (x - x0) / (x1 - x0) * pw

    def Y(y):
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<text x="{left}" y="17" class="ctitle">{html.escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plot"/>']
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" class="grid"/>'
                   f'<text x="{left - 6}" y="{Y(t) + 4:.1f}" class="ytick">{_fmt(t)}</text>')
    for t in _ticks(x0, x1, 4):
        out.append(f'<line x1="{X(t):.1f}" x2="{X(t):.1f}" y1="{top + ph}" y2="{top + ph + 4}" class="axis"/>'
                   f'<text x="{X(t):.1f}" y="{top + ph + 16}" class="xtick">{_fmt(t)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 3}" class="xlabel">step</text>')
    lx = left + pw
    for i, (k, s) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        segments, seg = [], []
        for x, y in s:
            if y is None:
                segments, seg = segments + [seg] if seg else segments, []
            else:
                seg.append(f"{X(x):.1f},{Y(y):.1f}")
        segments += [seg] if seg else []
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
            else:
                out.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        last = next((y for _, y in reversed(s) if y is not None), None)
        label = f"{k} = {_fmt(last)}" if last is not None else k
        out.append(f'<text x="{lx}" y="{17 + 14 * i}" class="legend" fill="{colour}" '
                   f'text-anchor="end">{html.escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def _metric_keys(rows: list[dict]) -> list[str]:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    return keys


def charts(rows: list[dict]) -> list[str]:
    keys = [k for k in _metric_keys(rows) if k not in NOT_METRICS]
    done, out = set(), []
    for title, group in GROUPS:
        present = [k for k in group if k in keys]
        if present:
            out.append(svg_chart(title, rows, present))
            done.update(present)
    for k in keys:
        if k not in done and any(_number(r.get(k)) is not None for r in rows):
            out.append(svg_chart(k, rows, [k]))
    return [c for c in out if c]


def metric_table(rows: list[dict]) -> str:
    if not rows:
        return "<p class='muted'>metrics.jsonl is empty or missing.</p>"
    keys = _metric_keys(rows)

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return _fmt(v)
        return html.escape(str(v) if not isinstance(v, (dict, list)) else json.dumps(v))

    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(k))}</td>" for k in keys) + "</tr>" for r in rows)
    return f'<div class="tablewrap"><table id="metrics"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def eval_table(path: Path) -> str:
    """eval.json as a key/value table (nested objects flattened with dots)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        return f"<p class='muted'>{html.escape(path.name)}: unreadable ({html.escape(type(e).__name__)})</p>"

    def flat(d, prefix=""):
        if isinstance(d, dict):
            for k, v in d.items():
                yield from flat(v, f"{prefix}{k}.")
        else:
            yield prefix[:-1], d
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v) if isinstance(v, float) else json.dumps(v) if isinstance(v, (list, bool)) or v is None else str(v))}</td></tr>"
                   for k, v in flat(data))
    return f'<table class="kv" id="eval">{rows}</table>'


def grid_frames(run: RunDir) -> list[tuple[int, Path]]:
    frames = []
    for p in sorted(run.samples.glob("step_*.png")) if run.samples.is_dir() else []:
        m = re.fullmatch(r"step_(\d+)\.png", p.name)
        if m:
            frames.append((int(m.group(1)), p))
    frames.sort()
    if len(frames) > MAX_FRAMES:
        idx = sorted({round(i * (len(frames) - 1) / (MAX_FRAMES - 1)) for i in range(MAX_FRAMES)})
        frames = [frames[i] for i in idx]
    return frames


def gallery_images(run: RunDir) -> list[Path]:
    """PNG/GIF panels at the top level and in plots/ (whatever the run's tools wrote)."""
    found = []
    for folder in (run.root, run.root / "plots"):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".png", ".gif"))
    return found


def _caption(path: Path, root: Path) -> str:
    return str(path.relative_to(root))


def strip_html(frames: list[tuple[int, Path]]) -> str:
    if not frames:
        return "<p class='muted'>No fixed-noise grids in samples/ yet.</p>"
    uris = [data_uri(p) for _, p in frames]
    thumbs = "".join(f'<img class="thumb" data-step="{s}" src="{u}" alt="step {s}" title="step {s}">'
                     for (s, _), u in zip(frames, uris))
    last = len(frames) - 1
    return f"""<div class="strip" id="strip">
  <div class="stripmain"><img id="frame" alt="fixed-noise grid" src="{uris[-1]}">
    <div class="stripctl"><button id="play" type="button">&#9654; play</button>
      <input id="scrub" type="range" min="0" max="{last}" value="{last}" step="1" aria-label="training step">
      <span id="steplabel"></span></div></div>
  <div class="thumbs" id="thumbs">{thumbs}</div>
</div>"""


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
header .sub{color:#b8c0d0;font-size:13px}main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:16px;margin:0 0 10px}.muted{color:#777}
pre{background:#f7f8fa;border:1px solid #eceef2;padding:10px;overflow:auto;max-height:360px;font-size:12.5px}
.tablewrap{max-height:340px;overflow:auto;border:1px solid #eceef2}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
#metrics th{position:sticky;top:0;background:#eef0f4}th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #f0f1f4}
table.kv th{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff}
.chart .plot{fill:#fbfbfd;stroke:#ccd}.chart .grid{stroke:#e6e8ee}.chart .axis{stroke:#99a}
.chart text{font-size:11px;fill:#445}.chart .ytick{text-anchor:end}.chart .xtick,.chart .xlabel{text-anchor:middle}
.chart .ctitle{font-weight:600;font-size:12.5px}.chart .legend{font-size:11.5px;font-weight:600}
.strip{display:flex;flex-direction:column;gap:10px}.stripmain img{image-rendering:pixelated;max-width:100%;border:1px solid #ddd}
.stripctl{display:flex;align-items:center;gap:10px;margin-top:6px}#scrub{flex:1;max-width:520px}
#steplabel{font-variant-numeric:tabular-nums;min-width:110px}
.thumbs{display:flex;gap:4px;overflow-x:auto;padding-bottom:6px}
.thumb{height:56px;image-rendering:pixelated;opacity:.55;cursor:pointer;border:2px solid transparent}
.thumb.on{opacity:1;border-color:#1f77b4}
.gallery{display:flex;flex-wrap:wrap;gap:18px}.gallery figure{margin:0}.gallery img{max-width:540px;image-rendering:pixelated;border:1px solid #ddd}
figcaption{font-size:12px;color:#555;margin-top:4px}
"""

JS = """
(function(){
  var thumbs=[].slice.call(document.querySelectorAll('#thumbs .thumb'));
  if(!thumbs.length) return;
  var frame=document.getElementById('frame'), scrub=document.getElementById('scrub'),
      label=document.getElementById('steplabel'), play=document.getElementById('play'), timer=null;
  function show(i){
    i=Math.max(0,Math.min(thumbs.length-1,i)); scrub.value=i;
    frame.src=thumbs[i].src; label.textContent='step '+thumbs[i].dataset.step+'  ('+(i+1)+'/'+thumbs.length+')';
    thumbs.forEach(function(t,j){t.classList.toggle('on',j===i);});
  }
  scrub.addEventListener('input',function(){show(+scrub.value);});
  thumbs.forEach(function(t,j){t.addEventListener('click',function(){show(j);});});
  document.addEventListener('keydown',function(e){
    if(e.target.tagName==='INPUT'&&e.target!==scrub) return;
    if(e.key==='ArrowLeft'){show(+scrub.value-1);e.preventDefault();}
    if(e.key==='ArrowRight'){show(+scrub.value+1);e.preventDefault();}
  });
  play.addEventListener('click',function(){
    if(timer){clearInterval(timer);timer=null;play.innerHTML='&#9654; play';return;}
    if(+scrub.value>=thumbs.length-1) show(0);
    play.innerHTML='&#10074;&#10074; pause';
    timer=setInterval(function(){var i=+scrub.value+1; if(i>=thumbs.length){clearInterval(timer);timer=null;
      play.innerHTML='&#9654; play';return;} show(i);},350);
  });
  show(thumbs.length-1);
})();
"""


def render(run_dir: str | Path) -> str:
    """The report page for a run folder, as an HTML string."""
    run = RunDir(run_dir)
    if not run.config.is_file():
        raise FileNotFoundError(f"{run.root}: not a gankit run (no config.yaml)")
    config_text = run.config.read_text()
    rows = read_metrics(run.metrics) if run.metrics.is_file() else []
    frames = grid_frames(run)
    panels = gallery_images(run)
    name = run.root.resolve().name
    last = rows[-1] if rows else {}
    summary = ", ".join(f"{k} {_fmt(v) if isinstance(v, float) else v}" for k, v in last.items()
                        if k not in NOT_METRICS) or "no metrics yet"
    sub = (f"step {last.get('step', 0)} &middot; {_fmt(float(last.get('elapsed_s', 0)))} s &middot; "
           f"{html.escape(summary)}")
    eval_path = run.root / "eval.json"
    sections = [
        ("Fixed-noise samples over training", strip_html(frames)),
        ("Curves", f'<div class="charts">{"".join(charts(rows))}</div>' if rows else
         "<p class='muted'>No metrics yet.</p>"),
    ]
    if eval_path.is_file():
        sections.append(("Evaluation (eval.json)", eval_table(eval_path)))
    if panels:
        figs = "".join(f'<figure><img src="{data_uri(p)}" alt="{html.escape(_caption(p, run.root))}">'
                       f'<figcaption>{html.escape(_caption(p, run.root))}</figcaption></figure>' for p in panels)
        sections.append(("Panels", f'<div class="gallery">{figs}</div>'))
    sections += [("Metrics (metrics.jsonl)", metric_table(rows)),
                 ("Configuration (config.yaml)", f"<pre>{html.escape(config_text)}</pre>")]
    body = "".join(f'<section id="{re.sub(r"[^a-z]+", "-", t.lower()).strip("-")}"><h2>{html.escape(t)}</h2>{c}</section>'
                   for t, c in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>gankit report: {html.escape(name)}</title><style>{CSS}</style></head>
<body><header><h1>{html.escape(name)}</h1><div class="sub">{sub}</div></header>
<main>{body}</main><script>{JS}</script></body></html>
"""


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write RUN_DIR/report.html (atomically: a browser never reads half a page)."""
    text = render(run_dir)
    out = Path(out) if out else Path(run_dir) / "report.html"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
