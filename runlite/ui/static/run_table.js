/* runlite's run table (the viewer's "/" page). Part of runlite (Apache-2.0 or as the package says).

   The server does the work (sort, paging, groups, columns are all in the address); this script
   only adds what needs the browser:
   - the chosen columns are remembered (localStorage) when applied, and re-applied when the page
     opens without explicit columns (an address with col=... always wins, so links share a view);
   - group header rows collapse and expand their runs;
   - a select-all box for the page, and the Compare button says how many runs are checked
     (disabled outside 1..data-max).
   No request of its own, no HTML parsing of data: every text comes from the server, escaped. */
(function () {
  "use strict";
  var KEY = "runlite.runTable.columns";
  var table = document.getElementById("runs");
  if (!table) { return; }

  function saved() {
    try {
      var value = JSON.parse(window.localStorage.getItem(KEY) || "null");
      return Array.isArray(value) ? value.filter(function (c) { return typeof c === "string"; }) : null;
    } catch (e) { return null; }
  }

  function save(columns) {
    try { window.localStorage.setItem(KEY, JSON.stringify(columns)); } catch (e) { /* private mode: not kept */ }
  }

  // Re-apply the remembered columns when the address names none.
  var params = new URLSearchParams(window.location.search);
  var remembered = saved();
  if (!params.has("col") && remembered && remembered.length) {
    remembered.slice(0, 20).forEach(function (c) { params.append("col", c); });
    params.delete("page");
    window.location.replace("/?" + params.toString());
    return;
  }

  var chooser = document.getElementById("column-form");
  if (chooser) {
    chooser.addEventListener("submit", function () {
      var chosen = [];
      chooser.querySelectorAll('input[name="col"]:checked').forEach(function (box) { chosen.push(box.value); });
      save(chosen);
    });
    var reset = document.getElementById("columns-reset");
    reset.addEventListener("click", function () {
      save([]);
      chooser.querySelectorAll('input[name="col"]').forEach(function (box) { box.checked = false; });
      chooser.submit();
    });
  }

  // Collapsible groups.
  table.querySelectorAll("button.group-toggle").forEach(function (button) {
    button.addEventListener("click", function () {
      var open = button.getAttribute("aria-expanded") !== "false";
      button.setAttribute("aria-expanded", open ? "false" : "true");
      button.textContent = open ? "\u25b8" : "\u25be";
      var group = button.getAttribute("data-group");
      table.querySelectorAll('tr[data-run-id][data-group="' + group + '"]').forEach(function (row) {
        row.hidden = open;
      });
    });
  });

  // Selection: select-all on the page, a count on the Compare button.
  var form = document.getElementById("compare-form");
  var all = document.getElementById("select-all");
  var compare = document.getElementById("compare");
  var note = document.getElementById("selected");
  var max = parseInt(form.getAttribute("data-max"), 10) || 20;
  function boxes() { return Array.prototype.slice.call(table.querySelectorAll('tbody input[name="id"]')); }
  function update() {
    var checked = boxes().filter(function (b) { return b.checked; }).length;
    if (compare) {
      compare.disabled = checked < 1 || checked > max;
      note.textContent = checked > max ? "(" + checked + " checked: compare at most " + max + ")"
        : "(" + checked + " checked, up to " + max + ")";
    }
    if (all) {
      var n = boxes().length;
      all.checked = n > 0 && checked === n;
      all.indeterminate = checked > 0 && checked < n;
    }
  }
  if (all) {
    all.addEventListener("change", function () {
      boxes().forEach(function (b) { if (!b.closest("tr").hidden) { b.checked = all.checked; } });
      update();
    });
  }
  table.addEventListener("change", function (event) {
    if (event.target && event.target.name === "id") { update(); }
  });
  update();
})();
