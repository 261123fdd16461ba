// The explorer page: every picture is a PNG the server renders from the trained weights.
(function () {
  "use strict";
  var N = 12;
  var state = { base: 1, a: 1, b: 2, label: 0, alphas: [], info: null };
  var $ = function (id) { return document.getElementById(id); };

  function query(params) {
    return Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
  }
  function common() {
    var p = {};
    if (state.info && state.info.num_classes) p.label = state.label;
    return p;
  }
  function aParams() {
    var p = common();
    p.seed = state.a;
    var alphas = state.alphas.map(function (v) { return v.toFixed(2); }).join(",");
    if (alphas) p.alphas = alphas;
    return p;
  }

  // Show ``url`` in ``img`` without cancelling a load in flight: the newest wish waits for
  // it, and wishes in between are skipped. A dragged slider thus keeps at most one request
  // per picture at the server, and the browser never aborts one it has started.
  function setSrc(img, url) {
    img.dataset.want = url;
    if (img.dataset.busy !== "1") load(img);
  }
  function load(img) {
    var url = img.dataset.want;
    if (img.getAttribute("src") === url) return;
    img.dataset.busy = "1";
    img.onload = img.onerror = function () {
      img.dataset.busy = "0";
      if (img.dataset.want !== url) load(img);
    };
    img.src = url;
  }

  function drawGallery() {
    var g = $("gallery");
    if (!g.children.length) {  // the twelve pictures are made once; a redraw changes what they show
      for (var i = 0; i < N; i++) {
        var img = document.createElement("img");
        img.addEventListener("click", function (e) {
          var s = +e.currentTarget.dataset.seed;
          if (e.shiftKey) { state.b = s; } else { state.a = s; }
          markGallery(); updateA(); updateInterp();
        });
        g.appendChild(img);
      }
    }
    [].forEach.call(g.children, function (img, i) {
      var seed = state.base + i;
      img.alt = "sample " + seed;
      img.title = "seed " + seed;
      img.dataset.seed = seed;
      setSrc(img, "api/image.png?" + query(Object.assign(common(), { seed: seed })));
    });
    markGallery();
  }
  function markGallery() {
    [].forEach.call($("gallery").children, function (img) {
      img.classList.toggle("a", +img.dataset.seed === state.a);
      img.classList.toggle("b", +img.dataset.seed === state.b);
    });
    $("a-tag").textContent = "seed " + state.a;
    $("b-tag").textContent = "B = seed " + state.b;
  }

  function updateA() {
    setSrc($("current"), "api/image.png?" + query(aParams()));
  }
  function updateInterp() {
    var p = aParams();
    p.b = state.b;
    p.mode = $("mode").value;
    setSrc($("interp-strip"), "api/interp.png?" + query(Object.assign({ steps: 9 }, p)));
    p.t = (+$("t").value).toFixed(2);
    $("t-value").textContent = p.t;
    setSrc($("interp-point"), "api/image.png?" + query(p));
  }

  function buildSliders(dirs) {
    var box = $("sliders");
    box.innerHTML = "";
    state.alphas = dirs.map(function () { return 0; });
    dirs.forEach(function (d, i) {
      var row = document.createElement("div");
      row.className = "slider";
      var name = document.createElement("span");
      name.textContent = d.name + " (" + (100 * d.explained).toFixed(1) + "%)";
      var input = document.createElement("input");
      input.type = "range"; input.min = -3; input.max = 3; input.step = 0.1; input.value = 0;
      input.id = "dir-" + i;
      input.setAttribute("aria-label", d.name);
      var out = document.createElement("output");
      out.textContent = "0.0";
      input.addEventListener("input", function () {
        state.alphas[i] = +input.value;
        out.textContent = (+input.value).toFixed(1);
        updateA(); updateInterp();
      });
      row.appendChild(name); row.appendChild(input); row.appendChild(out);
      box.appendChild(row);
    });
  }

  function start(info) {
    state.info = info;
    $("title").textContent = info.run;
    $("subtitle").textContent = [info.preset || info.model, info.dataset, "step " + info.step,
      "z: " + info.z_dim + "-d " + info.z_dist].join(" \u00b7 ");
    if (info.num_classes) {
      var sel = $("label");
      info.classes.forEach(function (c, i) {
        var o = document.createElement("option"); o.value = i; o.textContent = c === String(i) ? c : i + ": " + c; sel.appendChild(o);
      });
      sel.addEventListener("change", function () {
        state.label = +sel.value; drawGallery(); updateA(); updateInterp();
      });
      $("class-box").hidden = false;
    }
    buildSliders(info.directions);
    drawGallery(); updateA(); updateInterp();
  }

  $("draw").addEventListener("click", function () {
    state.base = 1 + Math.floor(Math.random() * 2000000000);
    state.a = state.base; state.b = state.base + 1;
    drawGallery(); updateA(); updateInterp();
  });
  $("reset").addEventListener("click", function () {
    [].forEach.call($("sliders").querySelectorAll("input"), function (el) {
      el.value = 0; el.nextSibling.textContent = "0.0";
    });
    state.alphas = state.alphas.map(function () { return 0; });
    updateA(); updateInterp();
  });
  $("t").addEventListener("input", updateInterp);
  $("mode").addEventListener("change", updateInterp);

  fetch("api/info").then(function (r) {
    if (!r.ok) throw new Error("server answered " + r.status);
    return r.json();
  }).then(start).catch(function (e) {
    $("subtitle").innerHTML = "";
    var s = document.createElement("span"); s.className = "error";
    s.textContent = "cannot reach the generator: " + e.message;
    $("subtitle").appendChild(s);
  });
})();
