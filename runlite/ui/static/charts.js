/* runlite's charts: uPlot charts built from bucket JSON (each bucket's mean, min and max).
   Part of runlite (Apache-2.0 or as the package says); uPlot is MIT (uPlot.LICENSE).

   A figure.metric names its metric and runs (data-metric, data-asset, data-runs, data-colors).
   In a file report its data is a <script type="application/json" class="chart-data"> inside it;
   in the viewer (body[data-served]) it is fetched from /api/chart when the figure scrolls into
   view (IntersectionObserver, a few fetches at a time) and again, re-bucketed by the server,
   for a zoom window (drag across a chart; double-click resets). Each run is a line (the bucket
   mean, or its EMA when smoothing is on, with the raw mean kept faint) and a faint min..max band.
   Every text reaches the page through textContent: names are never parsed as HTML. */
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d",
    "#475569", "#ea580c"];
  var HEIGHT = 240, MAX_FETCHES = 4, BUCKETS_MIN = 16, BUCKETS_MAX = 4000;
  var body = document.body, served = body.getAttribute("data-served") === "1";
  var opts = {xaxis: "step", ylog: false, smooth: 0};
  var charts = [];          // every live chart state (for the controls and for tests)
  var queue = [], inFlight = 0, observer = null;
  window.runliteCharts = charts;

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  // TensorBoard's smoothing: an exponential moving average, debiased (so the start is not
  // pulled toward zero); gaps and non-finite values are passed through untouched.
  function ema(ys, weight) {
    var out = new Array(ys.length), last = 0, n = 0;
    for (var i = 0; i < ys.length; i++) {
      var y = ys[i];
      if (y === null || !isFinite(y)) { out[i] = y; continue; }
      last = last * weight + (1 - weight) * y; n++;
      out[i] = weight === 0 ? y : last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "\u2013";
    var a = Math.abs(v);
    return (a !== 0 && (a >= 1e6 || a < 1e-3)) ? v.toExponential(4) : String(+v.toPrecision(6));
  }

  function fmtX(v, xaxis) {
    if (v === null || v === undefined) return "";
    if (xaxis === "timestamp") return new Date(v * 1000).toISOString().replace("T", " ").slice(0, 23) + " UTC";
    return xaxis === "time" ? fmt(v) + " s" : "step " + fmt(v);
  }

  function nearest(xs, x) {  // index of the x closest to x in a sorted array
    var lo = 0, hi = xs.length - 1;
    if (hi < 0) return -1;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid + 1; else hi = mid; }
    return (lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x)) ? lo - 1 : lo;
  }

  function colorsOf(fig) {
    var ids = (fig.getAttribute("data-runs") || "").split(" "), cs = (fig.getAttribute("data-colors") || "").split(" ");
    var out = {};
    ids.forEach(function (id, i) { out[id] = PALETTE[(parseInt(cs[i], 10) || 0) % PALETTE.length]; });
    return out;
  }

  // uPlot wants one x array: the runs' buckets are joined on x (gaps where a run has none).
  function table(state) {
    var runs = state.data.runs, log = opts.ylog, hidden = 0, tables = [];
    runs.forEach(function (r) {
      var mean = r.mean, lo = r.min, hi = r.max;
      if (log) {
        var pos = function (v) { if (v !== null && v <= 0) { hidden++; return null; } return v; };
        mean = mean.map(pos); lo = lo.map(function (v) { return v !== null && v <= 0 ? null : v; });
        hi = hi.map(function (v) { return v !== null && v <= 0 ? null : v; });
      }
      var line = opts.smooth > 0 ? ema(mean, opts.smooth) : mean;
      tables.push([r.x, line, mean, lo, hi]);
    });
    state.hidden = hidden;
    return uPlot.join(tables);
  }

  function range(u, lo, hi) {  // a one-point (or flat) series still gets a visible range
    if (lo === null || hi === null) return [0, 1];
    if (lo === hi) { var pad = Math.abs(lo) * 0.1 || 1; return [lo - pad, hi + pad]; }
    return [lo, hi];
  }

  function build(state) {
    var fig = state.fig, host = fig.querySelector(".chart-host"), colors = colorsOf(fig);
    if (state.u) { state.u.destroy(); state.u = null; }
    host.textContent = "";
    var xaxis = state.data.xaxis, series = [{label: "x", value: function (u, v) { return fmtX(v, xaxis); }}];
    var bands = [], few = state.data.runs.every(function (r) { return r.x.length <= 60; });
    state.data.runs.forEach(function (r, i) {
      var c = colors[r.id] || PALETTE[i % PALETTE.length], base = 1 + 4 * i;
      series.push({label: r.name, stroke: c, width: 1.5, spanGaps: true, points: {show: few, size: 6, fill: c}});
      series.push({label: r.name + " (raw)", stroke: alpha(c, 0.3), width: 1, spanGaps: true,
        show: opts.smooth > 0, points: {show: false}});
      series.push({label: r.name + " (min)", stroke: "transparent", width: 0, spanGaps: true, points: {show: false}});
      series.push({label: r.name + " (max)", stroke: "transparent", width: 0, spanGaps: true, points: {show: false}});
      bands.push({series: [base + 3, base + 2], fill: alpha(c, 0.12)});
    });
    var width = Math.max(280, host.clientWidth || fig.clientWidth || 600);
    var u = new uPlot({
      width: width, height: HEIGHT, series: series, bands: bands, legend: {show: false},
      cursor: {drag: {x: true, y: false, setScale: !served}, points: {size: 6}},
      scales: {x: {time: xaxis === "timestamp", range: range}, y: {distr: opts.ylog ? 3 : 1, range: opts.ylog ? undefined : range}},
      axes: [{}, {size: 60}],
      hooks: {setCursor: [function (u) { legendValues(state, u); }], setSelect: [function (u) { zoomTo(state, u); }]}
    }, table(state), host);
    state.u = u;
    fig.setAttribute("data-distr", String(u.scales.y.distr));
    fig.setAttribute("data-xaxis", xaxis);
    fig.setAttribute("data-loaded", "1");
    u.over.addEventListener("dblclick", function () { resetZoom(state); });
    buildLegend(state, colors);
    var note = fig.querySelector(".chart-note");
    if (note) note.textContent = state.hidden ? state.hidden + " non-positive values hidden on the log scale" : "";
  }

  function buildLegend(state, colors) {
    var box = state.fig.querySelector(".chart-legend");
    box.textContent = "";
    state.legend = [];
    state.data.runs.forEach(function (r, i) {
      var item = document.createElement("button");
      item.type = "button"; item.className = "legend-item"; item.setAttribute("data-run", r.id);
      var sw = document.createElement("span"); sw.className = "swatch";
      sw.style.background = colors[r.id] || PALETTE[i % PALETTE.length];
      var name = document.createElement("span"); name.className = "legend-name"; name.textContent = r.name;
      var value = document.createElement("span"); value.className = "legend-value";
      item.appendChild(sw); item.appendChild(name); item.appendChild(value);
      if (state.off[r.id]) item.classList.add("off");
      item.addEventListener("click", function () {
        state.off[r.id] = !state.off[r.id];
        item.classList.toggle("off", !!state.off[r.id]);
        showRun(state, i);
      });
      box.appendChild(item);
      state.legend.push(value);
      if (state.off[r.id]) showRun(state, i);
    });
  }

  function showRun(state, i) {
    var on = !state.off[state.data.runs[i].id], base = 1 + 4 * i;
    state.u.setSeries(base, {show: on});
    state.u.setSeries(base + 1, {show: on && opts.smooth > 0});
    state.u.setSeries(base + 2, {show: on});
    state.u.setSeries(base + 3, {show: on});
  }

  // Hover: every visible run's value at the cursor's x (its bucket nearest to that x).
  function legendValues(state, u) {
    var left = u.cursor.left;
    state.data.runs.forEach(function (r, i) {
      var cell = state.legend[i];
      if (!cell) return;
      if (left === undefined || left < 0 || state.off[r.id]) { cell.textContent = ""; return; }
      var x = u.posToVal(left, "x"), j = nearest(r.x, x);
      if (j < 0) { cell.textContent = ""; return; }
      var ys = opts.smooth > 0 ? ema(r.mean, opts.smooth) : r.mean;
      cell.textContent = fmt(ys[j]) + " @ " + fmtX(r.x[j], state.data.xaxis);
    });
  }

  function params(state, start, stop) {
    var q = new URLSearchParams(), fig = state.fig;
    (fig.getAttribute("data-runs") || "").split(" ").forEach(function (r) { if (r) q.append("run", r); });
    q.set("metric", fig.getAttribute("data-metric") || "");
    if (fig.getAttribute("data-asset")) q.set("asset", fig.getAttribute("data-asset"));
    q.set("xaxis", opts.xaxis);
    var w = state.fig.querySelector(".chart-host").clientWidth || 600;
    q.set("buckets", String(Math.max(BUCKETS_MIN, Math.min(BUCKETS_MAX, Math.round(w / 2)))));
    if (start !== null && start !== undefined) { q.set("start", String(start)); q.set("stop", String(stop)); }
    return q;
  }

  function fetchData(state, start, stop) {
    state.pending = true;
    var q = params(state, start, stop);
    state.fig.setAttribute("data-fetching", "1");
    return fetch("/api/chart?" + q.toString(), {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) return r.text().then(function (t) { throw new Error(r.status + ": " + t.slice(0, 300)); });
      return r.json();
    }).then(function (data) {
      state.data = data; state.zoom = (start === null || start === undefined) ? null : [start, stop];
      state.fig.setAttribute("data-window", state.zoom ? state.zoom.join(" ") : "");
      build(state);
    }).catch(function (e) {
      var note = state.fig.querySelector(".chart-note");
      if (note) note.textContent = "could not load this chart: " + e.message;
      state.fig.setAttribute("data-failed", "1");
    }).then(function () { state.pending = false; state.fig.removeAttribute("data-fetching"); });
  }

  function zoomTo(state, u) {
    var sel = u.select;
    if (!served || sel.width < 3) return;
    var a = u.posToVal(sel.left, "x"), b = u.posToVal(sel.left + sel.width, "x");
    u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
    fetchData(state, a, b);
  }

  function resetZoom(state) {
    if (served) { if (state.zoom) fetchData(state, null, null); }
    // a file report: uPlot's own double-click already shows the whole series again
  }

  // -- lazy loading: only charts in view fetch, a few at a time
  function pump() {
    while (inFlight < MAX_FETCHES && queue.length) {
      var state = queue.shift();
      inFlight++;
      fetchData(state, null, null).then(function () { inFlight--; pump(); });
    }
  }

  function setup(fig) {
    var state = {fig: fig, u: null, data: null, zoom: null, off: {}, legend: [], hidden: 0};
    charts.push(state);
    var inline = fig.querySelector("script.chart-data");
    if (inline) {
      try { state.data = JSON.parse(inline.textContent); } catch (e) { return; }
      build(state);
    } else if (served) {
      state.waiting = true;
      observer.observe(fig);
    }
  }

  function init(root) {
    if (served && !observer) {
      observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) {
          if (!e.isIntersecting) return;
          observer.unobserve(e.target);
          var state = charts.filter(function (s) { return s.fig === e.target; })[0];
          if (state && state.waiting) { state.waiting = false; queue.push(state); }
        });
        pump();
      }, {rootMargin: "200px"});
    }
    for (var i = charts.length - 1; i >= 0; i--) {  // charts of a replaced <main> are gone
      if (!document.body.contains(charts[i].fig)) { if (charts[i].u) charts[i].u.destroy(); charts.splice(i, 1); }
    }
    root.querySelectorAll("figure.metric").forEach(setup);
    bindControls(root);
  }

  function redrawAll() {
    charts.forEach(function (s) { if (s.data) build(s); });
  }

  function bindControls(root) {
    var filter = root.querySelector("#metric-filter");
    if (filter) filter.addEventListener("input", function () {
      var text = filter.value.toLowerCase();
      root.querySelectorAll("section.metric-group").forEach(function (group) {
        var shown = 0;
        group.querySelectorAll("figure.metric").forEach(function (fig) {
          var ok = (fig.getAttribute("data-metric") || "").toLowerCase().indexOf(text) >= 0;
          fig.hidden = !ok; if (ok) shown++;
        });
        group.hidden = shown === 0;
      });
    });
    var xsel = root.querySelector("#xaxis");
    if (xsel) { xsel.value = opts.xaxis; xsel.addEventListener("change", function () {
      opts.xaxis = xsel.value;
      charts.forEach(function (s) { if (s.data) fetchData(s, null, null); });
    }); }
    var ylog = root.querySelector("#ylog");
    if (ylog) { ylog.checked = opts.ylog; ylog.addEventListener("change", function () { opts.ylog = ylog.checked; redrawAll(); }); }
    var smooth = root.querySelector("#smooth"), out = root.querySelector("#smooth-value");
    if (smooth) {
      smooth.value = String(opts.smooth);
      if (out) out.textContent = String(opts.smooth);
      smooth.addEventListener("input", function () {
        opts.smooth = Math.min(0.99, Math.max(0, parseFloat(smooth.value) || 0));
        if (out) out.textContent = opts.smooth.toFixed(2);
        redrawAll();
      });
    }
  }

  // -- live pages: <main> is re-fetched while a run runs (paused while a chart is zoomed)
  var refreshUrl = body.getAttribute("data-refresh") || "", busy = false;
  if (refreshUrl) {
    var timer = setInterval(function () {
      if (busy || document.hidden || charts.some(function (s) { return s.zoom; })) return;
      busy = true;
      fetch(refreshUrl, {credentials: "same-origin"}).then(function (r) {
        if (!r.ok) throw new Error(String(r.status)); return r.text();
      }).then(function (text) {
        var main = document.querySelector("main"), open = [];
        main.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });
        main.innerHTML = text;  // our own server's escaped HTML fragment
        open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
        init(main);
        if (!main.querySelector("h3 .status-running")) clearInterval(timer);  // every run ended
      }).catch(function () {}).then(function () { busy = false; });
    }, parseInt(body.getAttribute("data-refresh-ms"), 10) || 5000);
  }

  init(document);
})();
