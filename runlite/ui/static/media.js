// runlite viewer: the media panels of a run page (images, histograms, tables over steps).
// Each panel (figure.media) carries its run, name and the steps of its slider (a JSON block);
// moving the slider asks this server's /api/media/* for that step (an image as a data: URI, a
// histogram's bars and a table page as the server's escaped HTML). No external request ever.
// A live page's <main> is replaced every few seconds: the chosen steps and pages are kept and
// applied again to the new panels.
(function () {
  "use strict";
  var chosen = {};  // "kind run name" -> {step, offset}: what the user picked, kept across refreshes

  function readSteps(fig) {
    var block = fig.querySelector("script.media-steps");
    try { return JSON.parse(block.textContent); } catch (e) { return []; }
  }

  function kind(fig) {
    return fig.classList.contains("media-image") ? "image" : fig.classList.contains("media-histogram") ? "histogram" : "table";
  }

  function address(path, fig, step, extra) {
    var q = "run=" + encodeURIComponent(fig.getAttribute("data-run")) + "&name=" +
      encodeURIComponent(fig.getAttribute("data-name")) + "&step=" + encodeURIComponent(String(step));
    return path + "?" + q + (extra || "");
  }

  function problem(response) {  // the message of the viewer's error page, as text
    return response.text().then(function (text) {
      var doc = new DOMParser().parseFromString(text, "text/html"), pre = doc.querySelector("pre.error");
      throw new Error((pre ? pre.textContent : "") || ("HTTP " + response.status));
    });
  }

  function getJSON(url) {
    return fetch(url, {credentials: "same-origin"}).then(function (r) { return r.ok ? r.json() : problem(r); });
  }

  function say(fig, text) {
    var note = fig.querySelector("p.media-error");
    if (!note) {
      note = document.createElement("p");
      note.className = "note media-error err";
      fig.appendChild(note);
    }
    note.textContent = text;
    note.hidden = !text;
  }

  function setShownStep(fig, step) {
    fig.querySelectorAll(".shown-step").forEach(function (el) { el.textContent = String(step); });
  }

  function moveCursor(fig, step) {  // the distribution's dashed line at the chosen step
    var line = fig.querySelector("svg.distribution line.cursor");
    if (!line) return;
    var x0 = parseFloat(line.getAttribute("data-x0")), x1 = parseFloat(line.getAttribute("data-x1"));
    var left = parseFloat(line.getAttribute("data-left")), right = parseFloat(line.getAttribute("data-right"));
    var x = x1 > x0 ? left + (step - x0) / (x1 - x0) * (right - left) : (left + right) / 2;
    line.setAttribute("x1", x.toFixed(1));
    line.setAttribute("x2", x.toFixed(1));
    line.setAttribute("visibility", "visible");
  }

  function show(fig, state) {
    var k = kind(fig), seq = ++state.seq, url;
    if (k === "image") url = address("/api/media/image", fig, state.step);
    else if (k === "histogram") url = address("/api/media/histogram", fig, state.step, "&color=" + (fig.getAttribute("data-color") || "0"));
    else url = address("/api/media/table", fig, state.step, "&offset=" + state.offset + "&limit=" + state.limit);
    fig.setAttribute("data-loading", "1");
    return getJSON(url).then(function (data) {
      if (seq !== state.seq) return;  // a later move won
      say(fig, "");
      if (k === "image") {
        var img = fig.querySelector("img.media-image");
        img.src = data.src;
        img.alt = fig.getAttribute("data-name") + " at step " + data.step;
        img.hidden = false;
        var caption = fig.querySelector("figcaption");
        if (caption) caption.textContent = data.caption || "";
        var link = fig.querySelector("a.open-image");
        if (link) link.href = address("/media/image", fig, data.step);
        var size = fig.querySelector(".media-size");
        if (size) size.textContent = data.width + " x " + data.height + " \u00b7 " + data.size.toLocaleString() + " bytes";
        fig.querySelectorAll("p.media-note").forEach(function (n) { n.hidden = true; });
      } else if (k === "histogram") {
        fig.querySelector(".histogram-box").innerHTML = data.html;  // our own server's escaped SVG
        moveCursor(fig, data.step);
      } else {
        fig.querySelector(".table-box").innerHTML = data.html;  // our own server's escaped table
        state.total = data.total;
        pagerState(fig, state);
      }
      setShownStep(fig, data.step);
    }).catch(function (e) {
      if (seq === state.seq) say(fig, "step " + state.step + ": " + e.message);
    }).then(function () {
      if (seq === state.seq) fig.removeAttribute("data-loading");
    });
  }

  function pagerState(fig, state) {
    var prev = fig.querySelector("button.page-prev"), next = fig.querySelector("button.page-next");
    if (prev) prev.disabled = state.offset <= 0;
    if (next) next.disabled = state.total == null || state.offset + state.limit >= state.total;
  }

  function setup(fig) {
    if (fig.getAttribute("data-bound")) return;
    fig.setAttribute("data-bound", "1");
    var steps = readSteps(fig), slider = fig.querySelector("input.step-slider");
    var out = fig.querySelector("output.step-value"), key = kind(fig) + " " + fig.getAttribute("data-run") + " " + fig.getAttribute("data-name");
    var box = fig.querySelector(".table-box");
    var state = {seq: 0, step: steps[steps.length - 1], offset: 0, total: null,
                 limit: box ? parseInt(box.getAttribute("data-limit"), 10) || 20 : 0};
    var rows = fig.querySelector("p.table-rows");
    if (rows) {  // "rows a-b of n": the total is the last number
      var m = rows.textContent.replace(/,/g, "").match(/of (\d+)/);
      state.total = m ? parseInt(m[1], 10) : null;
    }
    var timer = null;
    function remember() { chosen[key] = {step: state.step, offset: state.offset}; }
    if (slider) slider.addEventListener("input", function () {
      var step = steps[parseInt(slider.value, 10)];
      if (step === undefined) return;
      state.step = step;
      state.offset = 0;
      if (out) out.textContent = String(step);
      remember();
      clearTimeout(timer);
      timer = setTimeout(function () { show(fig, state); }, 60);
    });
    var prev = fig.querySelector("button.page-prev"), next = fig.querySelector("button.page-next");
    if (prev) prev.addEventListener("click", function () {
      state.offset = Math.max(0, state.offset - state.limit); remember(); show(fig, state);
    });
    if (next) next.addEventListener("click", function () {
      state.offset += state.limit; remember(); show(fig, state);
    });
    pagerState(fig, state);
    moveCursor(fig, state.step);
    var saved = chosen[key], img = fig.querySelector("img.media-image");
    if (saved && steps.indexOf(saved.step) >= 0 && (saved.step !== state.step || saved.offset)) {
      state.step = saved.step;
      state.offset = saved.offset;
      if (slider) slider.value = String(steps.indexOf(saved.step));
      if (out) out.textContent = String(saved.step);
      show(fig, state);
    } else if (img && img.hidden) {
      show(fig, state);  // too large to be put in the page: fetched now
    }
  }

  function init(root) {
    root.querySelectorAll("figure.media[data-run]").forEach(setup);
  }

  var main = document.querySelector("main");
  if (main) new MutationObserver(function () { init(main); }).observe(main, {childList: true});
  init(document);
})();
