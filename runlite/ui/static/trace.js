/* runlite's trace view: a span tree whose rows carry their waterfall bars, and a span's details.
   Part of runlite (Apache-2.0 or as the package says).

   Each div.trace-view holds its tree as JSON (<script type="application/json"
   class="trace-tree-data">: rows of data.fields, parents before children). Only the rows of open
   subtrees are in the page: subtrees open at first down to OPEN_DEPTH while the rows stay under
   OPEN_ROWS, and a node lists CHILD_PAGE children at a time, so a trace of 10,000 spans draws a
   few hundred rows; the find box opens the subtrees of the first FIND_LIMIT spans whose names
   match. Clicking a row opens its details: fetched from /api/span/<id> when served
   (body[data-served]), read from the page's trace-span-data block in a file report. Every text
   reaches the page through textContent: names, inputs and tracebacks are never parsed as HTML. */
(function () {
  "use strict";
  var OPEN_DEPTH = 3, OPEN_ROWS = 300, OPEN_KIDS = 60, CHILD_PAGE = 200, FIND_LIMIT = 200;
  var served = document.body.getAttribute("data-served") === "1";
  var TYPES = {llm: "LLM", chain: "CHAIN", tool: "TOOL", retriever: "RETR", embedding: "EMB", prompt: "PROMPT",
    parser: "PARSE", trace: "TRACE", experiment: "RUN"};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // indentation: 14px a level for the first 10, then 2px, so a deep chain keeps its names in view
  function indent(depth) { return Math.min(depth, 10) * 14 + Math.min(Math.max(depth - 10, 0), 50) * 2; }

  function ms(v) {
    if (v === null || v === undefined) return "\u2013";
    if (v < 1000) return (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms";
    if (v < 60000) return (v / 1000).toFixed(2) + " s";
    return Math.floor(v / 60000) + " min " + Math.round((v % 60000) / 1000) + " s";
  }

  function num(v) { return v === null || v === undefined ? "\u2013" : Number(v).toLocaleString("en-US"); }
  function cost(v) { return v === null || v === undefined ? "\u2013" : "$" + Number(v).toFixed(v < 100 ? 4 : 2); }

  // ---------------------------------------------------------------- the tree

  function setup(view) {
    var block = view.querySelector("script.trace-tree-data");
    if (!block) return;
    var data = JSON.parse(block.textContent), F = {};
    data.fields.forEach(function (f, i) { F[f] = i; });
    var detailBlock = view.querySelector("script.trace-span-data");
    var inline = detailBlock ? JSON.parse(detailBlock.textContent) : null;
    var spans = data.spans, n = spans.length, total = data.span_ms || 1;
    var kids = new Array(n), tops = [], open = new Uint8Array(n), shown = new Int32Array(n);
    for (var i = 0; i < n; i++) kids[i] = [];
    for (i = 0; i < n; i++) {
      var p = spans[i][F.parent];
      if (p >= 0) kids[p].push(i); else tops.push(i);
      shown[i] = CHILD_PAGE;
    }
    // open breadth first while the rows stay few: a big trace opens collapsed beyond that
    var rows = tops.length, queue = tops.slice();
    while (queue.length) {
      var k = queue.shift(), s = spans[k];
      if (s[F.depth] >= OPEN_DEPTH || !kids[k].length) continue;
      var add = Math.min(kids[k].length, CHILD_PAGE);
      if (kids[k].length > OPEN_KIDS && s[F.depth] > 0) continue;
      if (rows + add > OPEN_ROWS && s[F.depth] > 0) continue;
      open[k] = 1; rows += add;
      for (var j = 0; j < add; j++) queue.push(kids[k][j]);
    }
    // tokens of each subtree, counted as the header counts a trace: its llm spans', else all spans'
    var llmSum = new Float64Array(n), allSum = new Float64Array(n);
    for (i = n - 1; i >= 0; i--) {
      var own = spans[i][F.tokens] || 0;
      llmSum[i] += spans[i][F.type] === "llm" ? own : 0;
      allSum[i] += own;
      var up = spans[i][F.parent];
      if (up >= 0) { llmSum[up] += llmSum[i]; allSum[up] += allSum[i]; }
    }
    var host = view.querySelector(".trace-rows"), panel = view.querySelector(".span-detail");
    var matches = null;  // row index -> 1 for spans matching the find box
    var selected = -1, byId = {};
    for (i = 0; i < n; i++) byId[spans[i][F.id]] = i;
    view.runliteTrace = {data: data, open: open, render: render, select: select, byId: byId};

    function row(i) {
      var s = spans[i], type = s[F.type] || "", status = s[F.status];
      var r = el("div", "span-row" + (i === selected ? " selected" : ""));
      r.setAttribute("role", "treeitem");
      r.setAttribute("tabindex", "0");
      r.setAttribute("data-index", i);
      r.setAttribute("data-id", s[F.id]);
      r.setAttribute("aria-level", s[F.depth] + 1);
      var name = el("div", "span-name");
      name.style.paddingLeft = (4 + indent(s[F.depth])) + "px";
      var t = el("button", "toggle" + (kids[i].length ? "" : " leaf"), kids[i].length ? (open[i] ? "\u25be" : "\u25b8") : "");
      t.type = "button";
      if (kids[i].length) {
        r.setAttribute("aria-expanded", open[i] ? "true" : "false");
        t.setAttribute("aria-label", (open[i] ? "collapse " : "expand ") + kids[i].length + " children");
        t.title = kids[i].length + " child span" + (kids[i].length === 1 ? "" : "s");
      }
      name.appendChild(t);
      name.appendChild(el("span", "type type-" + type.replace(/[^a-z0-9_-]/gi, ""), TYPES[type] || type.slice(0, 8).toUpperCase()));
      var label = el("span", "label", s[F.name]);
      label.title = s[F.name];
      name.appendChild(label);
      if (s[F.error]) name.appendChild(el("span", "err-mark", "\u2716"));
      if (kids[i].length && !open[i]) name.appendChild(el("span", "muted small", "(" + kids[i].length + ")"));
      r.appendChild(name);
      var dur = s[F.end] === null ? null : s[F.end] - s[F.start];
      var tok = kids[i].length ? (llmSum[i] || allSum[i]) : s[F.tokens];
      var meta = el("div", "span-meta", (dur === null ? status : ms(dur)) + (tok ? " \u00b7 " + num(tok) + " tok" : ""));
      if (kids[i].length && tok) meta.title = "tokens of this span and the spans under it";
      if (matches && matches[i]) r.className += " match";
      r.appendChild(meta);
      var track = el("div", "span-track"), bar = el("div", "span-bar t-" + type.replace(/[^a-z0-9_-]/gi, ""));
      var left = Math.max(0, s[F.start] / total), right = s[F.end] === null ? 1 : Math.min(1, s[F.end] / total);
      bar.style.left = (left * 100).toFixed(3) + "%";
      bar.style.width = (Math.max(0, right - left) * 100).toFixed(3) + "%";
      if (s[F.error]) bar.className += " failed";
      if (s[F.end] === null) bar.className += " running";
      bar.title = s[F.name] + ": " + ms(dur) + " from +" + ms(s[F.start]);
      track.appendChild(bar);
      r.appendChild(track);
      return r;
    }

    function more(parent, left) {
      var m = el("div", "more-row");
      m.style.paddingLeft = (22 + indent(spans[parent][F.depth] + 1)) + "px";
      var b = el("button", "", "show " + Math.min(left, CHILD_PAGE) + " more of " + left + " hidden children");
      b.type = "button";
      b.addEventListener("click", function () { shown[parent] += CHILD_PAGE; render(); });
      m.appendChild(b);
      return m;
    }

    function render() {
      var frag = document.createDocumentFragment(), stack = [];
      for (var t = tops.length - 1; t >= 0; t--) stack.push(tops[t]);
      while (stack.length) {
        var item = stack.pop();
        if (typeof item === "object") { frag.appendChild(more(item.parent, item.left)); continue; }
        frag.appendChild(row(item));
        if (open[item]) {
          var ks = kids[item], upto = Math.min(ks.length, shown[item]);
          if (upto < ks.length) stack.push({parent: item, left: ks.length - upto});
          for (var c = upto - 1; c >= 0; c--) stack.push(ks[c]);
        }
      }
      host.textContent = "";
      host.appendChild(frag);
    }

    function reveal(i) {  // open every ancestor of i and page its parent's children to it
      for (var p = spans[i][F.parent], c = i; p >= 0; c = p, p = spans[p][F.parent]) {
        open[p] = 1;
        var at = kids[p].indexOf(c);
        if (at >= shown[p]) shown[p] = at + 1;
      }
    }

    function select(i) {
      selected = i;
      reveal(i);
      render();
      var r = host.querySelector('.span-row[data-index="' + i + '"]');
      if (r) { r.focus({preventScroll: true}); r.scrollIntoView({block: "nearest"}); }
      var id = spans[i][F.id];
      panel.textContent = "";
      panel.appendChild(el("p", "muted", "loading " + spans[i][F.name] + "\u2026"));
      if (inline) {
        if (inline[id]) detail(panel, inline[id]);
        else { panel.textContent = ""; panel.appendChild(el("p", "muted", "This file does not carry the details of this span.")); }
        return;
      }
      if (!served) { panel.textContent = ""; panel.appendChild(el("p", "muted", "Details need the viewer (runlite ui).")); return; }
      fetch("/api/span/" + encodeURIComponent(id), {credentials: "same-origin"}).then(function (res) {
        if (!res.ok) return res.text().then(function (t) { throw new Error(res.status + ": " + t.replace(/<[^>]*>/g, " ").replace(/\s+/g, " ").trim().slice(0, 300)); });
        return res.json();
      }).then(function (d) {
        if (selected === i) detail(panel, d);
      }).catch(function (err) {
        if (selected !== i) return;
        panel.textContent = "";
        panel.appendChild(el("p", "err", "could not load this span: " + err.message));
      });
    }

    host.addEventListener("click", function (ev) {
      var r = ev.target.closest(".span-row");
      if (!r) return;
      var i = +r.getAttribute("data-index");
      if (ev.target.closest(".toggle")) {
        if (kids[i].length) { open[i] = open[i] ? 0 : 1; render(); }
        return;
      }
      select(i);
    });
    host.addEventListener("keydown", function (ev) {
      var r = ev.target.closest(".span-row");
      if (!r) return;
      var i = +r.getAttribute("data-index");
      if (ev.key === "Enter") { ev.preventDefault(); select(i); }
      else if ((ev.key === "ArrowRight" && !open[i]) || (ev.key === "ArrowLeft" && open[i])) {
        if (kids[i].length) { ev.preventDefault(); open[i] = open[i] ? 0 : 1; render(); host.querySelector('.span-row[data-index="' + i + '"]').focus(); }
      } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        var next = ev.key === "ArrowDown" ? r.nextElementSibling : r.previousElementSibling;
        if (next && next.classList.contains("span-row")) next.focus();
      }
    });
    var find = view.querySelector(".trace-find input"), found = view.querySelector(".trace-find output"), timer = 0;
    if (find) find.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var text = find.value.trim().toLowerCase(), hits = 0;
        matches = null;
        if (text) {
          matches = new Uint8Array(n);
          for (var m = 0; m < n && hits < FIND_LIMIT; m++) {
            if (String(spans[m][F.name]).toLowerCase().indexOf(text) >= 0) { matches[m] = 1; reveal(m); hits++; }
          }
        }
        found.textContent = !text ? "" : hits >= FIND_LIMIT ? "the first " + FIND_LIMIT + " matches" : hits + " match" + (hits === 1 ? "" : "es");
        render();
        var first = host.querySelector(".span-row.match");
        if (first) first.scrollIntoView({block: "nearest"});
      }, 150);
    });
    render();
    var pick = view.getAttribute("data-select");
    if (pick && byId[pick] !== undefined) select(byId[pick]);
  }

  // ---------------------------------------------------------------- a span's details

  function json(value, key, depth) {  // a collapsible JSON view
    var isObj = value !== null && typeof value === "object";
    if (!isObj) {
      var leaf = el("div", "leaf");
      if (key !== null) { leaf.appendChild(el("span", "k", key)); leaf.appendChild(document.createTextNode(": ")); }
      var cls = typeof value === "string" ? "s" : typeof value === "number" ? "n" : "z";
      leaf.appendChild(el("span", cls, typeof value === "string" ? JSON.stringify(value).length > 120 || value.indexOf("\n") >= 0 ? value : JSON.stringify(value) : String(value)));
      return leaf;
    }
    var keys = Array.isArray(value) ? value.map(function (_, i) { return i; }) : Object.keys(value);
    var d = el("details");
    if (depth < 3) d.open = true;
    var sum = el("summary");
    if (key !== null) { sum.appendChild(el("span", "k", key)); sum.appendChild(document.createTextNode(": ")); }
    sum.appendChild(el("span", "z", Array.isArray(value) ? "[" + keys.length + " items]" : "{" + keys.length + " keys}"));
    d.appendChild(sum);
    if (!keys.length) return d;
    var filled = false;
    function fill() {
      if (filled) return;
      filled = true;
      keys.forEach(function (k) { d.appendChild(json(value[k], String(k), depth + 1)); });
    }
    if (d.open) fill(); else d.addEventListener("toggle", fill);
    return d;
  }

  function section(panel, title, content, cls) {
    var s = el("section", cls || "");
    s.appendChild(el("h4", "", title));
    s.appendChild(content);
    panel.appendChild(s);
    return s;
  }

  function chat(messages) {
    var box = el("div", "chat");
    function add(m, out) {
      var role = String(m.role || "message");
      var d = el("div", "msg role-" + role.replace(/[^a-z0-9_-]/gi, "") + (out ? " chat-out" : ""));
      d.appendChild(el("span", "role", role + (m.name ? " \u00b7 " + m.name : "")));
      d.appendChild(document.createTextNode(m.content || ""));
      if (m.tool_calls) { var w = el("div", "json"); w.appendChild(json(m.tool_calls, "tool_calls", 1)); d.appendChild(w); }
      box.appendChild(d);
    }
    (messages.input || []).forEach(function (m) { add(m, false); });
    (messages.output || []).forEach(function (m, i) { add(m, i === 0); });
    return box;
  }

  function table(headers, rows) {
    var t = el("table", "grid"), tr = el("tr");
    headers.forEach(function (h) { tr.appendChild(el("th", "", h)); });
    t.appendChild(tr);
    rows.forEach(function (r) {
      var row = el("tr");
      r.forEach(function (c) { row.appendChild(el("td", "", c === null || c === undefined ? "" : typeof c === "object" ? JSON.stringify(c) : c)); });
      t.appendChild(row);
    });
    return t;
  }

  function detail(panel, d) {
    panel.textContent = "";
    var h = el("h3", "", d.name);
    h.appendChild(document.createTextNode(" "));
    h.appendChild(el("span", "status status-" + String(d.status).replace(/[^a-z]/g, ""), d.status));
    panel.appendChild(h);
    var facts = el("dl", "facts span-facts");
    [["type", d.run_type], ["id", d.id], ["start", d.start_time], ["latency", d.latency === null ? null : ms(d.latency * 1000)],
      ["first token", d.time_to_first_token === null ? null : ms(d.time_to_first_token * 1000)],
      ["tokens", d.total_tokens === null ? null : num(d.total_tokens) + " (" + num(d.prompt_tokens) + " in, " + num(d.completion_tokens) + " out)"],
      ["cost", d.total_cost === null ? null : cost(d.total_cost)]].forEach(function (f) {
      if (f[1] === null || f[1] === undefined) return;
      facts.appendChild(el("dt", "", f[0]));
      var dd = el("dd", "", f[1]);
      dd.setAttribute("data-fact", f[0]);
      facts.appendChild(dd);
    });
    panel.appendChild(facts);
    if (d.error_lines) {
      var pre = el("pre", "traceback");
      d.error_lines.forEach(function (line) { pre.appendChild(el("span", "tb-line", line)); });
      section(panel, "Error", pre, "span-error");
    }
    if (d.messages) section(panel, "Conversation", chat(d.messages), "span-chat");
    [["Inputs", d.inputs, "span-inputs"], ["Outputs", d.outputs, "span-outputs"]].forEach(function (p) {
      if (p[1] === null || p[1] === undefined) return;
      var box = el("div", "json");
      box.appendChild(json(p[1], null, 0));
      section(panel, p[0], box, p[2]);
    });
    if (d.tags && d.tags.length) {
      var tags = el("div");
      d.tags.forEach(function (t) { tags.appendChild(el("span", "tag", t)); });
      section(panel, "Tags", tags, "span-tags");
    }
    if (d.metadata && Object.keys(d.metadata).length) {
      var md = el("div", "json");
      md.appendChild(json(d.metadata, null, 1));
      section(panel, "Metadata", md, "span-metadata");
    }
    if (d.events && d.events.length) {
      section(panel, "Events (" + d.events_total + ")", table(["time", "name", "details"], d.events.map(function (e) {
        return [e.time, e.name, e.kwargs || e.message || ""];
      })), "span-events");
    }
    if (d.attachments && d.attachments.length) {
      var box2 = el("div");
      d.attachments.forEach(function (a) {
        box2.appendChild(el("div", "small", a.name + " \u00b7 " + a.mime_type + " \u00b7 " + num(a.size) + " bytes"));
        if (a.data_uri && /^data:image\/(png|jpeg|gif|webp);base64,/.test(a.data_uri)) {
          var img = el("img", "attachment");
          img.alt = a.name;
          img.src = a.data_uri;
          box2.appendChild(img);
        }
      });
      section(panel, "Attachments", box2, "span-attachments");
    }
    if (d.feedback && d.feedback.length) {
      section(panel, "Feedback", table(["key", "score", "value", "comment", "source"], d.feedback.map(function (f) {
        return [f.key, f.score, f.value, f.comment, f.source];
      })), "span-feedback");
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll(".trace-view"), setup);
})();
