/* runlite's /compare page: hover and highlight on the sweep's SVG plots, and the choice form.
   Part of runlite (Apache-2.0 or as the package says).

   Each run is an SVG element with data-run (its place in the page's list) and data-tip (its
   name and values, escaped by the server) inside an <a href> to the run, so a click opens the
   run with no script. Hovering a line or a point shows the tip and highlights the same run in
   both plots (drawn over the others). Changing a select reloads the page with the new choice;
   ticking axes does so once the ticking pauses. Text reaches the page through textContent. */
(function () {
  "use strict";
  var tip = document.createElement("div");
  tip.className = "sweep-tip"; tip.hidden = true; tip.id = "sweep-tip";
  document.body.appendChild(tip);

  function runs(index) { return document.querySelectorAll('svg.sweep [data-run="' + index + '"]'); }

  function light(index, on) {
    runs(index).forEach(function (el) {
      el.classList.toggle("hot", on);
      if (on) { var a = el.parentNode; a.parentNode.appendChild(a); }  // drawn last: on top
    });
  }

  function place(e) {
    var x = e.clientX + 14, y = e.clientY + 14, w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = Math.max(4, e.clientX - w - 14);
    if (y + h > window.innerHeight - 4) y = Math.max(4, e.clientY - h - 14);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }

  var current = null;
  document.querySelectorAll("svg.sweep").forEach(function (svg) {
    svg.addEventListener("mouseover", function (e) {
      var el = e.target.closest("[data-run]");
      if (!el) return;
      if (current !== null) light(current, false);
      current = el.getAttribute("data-run");
      light(current, true);
      tip.textContent = el.getAttribute("data-tip") || "";
      tip.setAttribute("data-run", current);
      tip.hidden = false; place(e);
    });
    svg.addEventListener("mousemove", function (e) { if (!tip.hidden) place(e); });
    svg.addEventListener("mouseout", function (e) {
      var el = e.target.closest("[data-run]");
      if (!el || (e.relatedTarget && el.contains(e.relatedTarget))) return;
      if (current !== null) light(current, false);
      current = null; tip.hidden = true;
    });
  });

  var form = document.getElementById("sweep-form"), timer = null;
  if (form) {
    form.querySelectorAll("select").forEach(function (sel) {
      if (sel.name === "grammar") return;  // a grammar applies to the search text: wait for Apply
      sel.addEventListener("change", function () { form.requestSubmit(); });
    });
    form.querySelectorAll("fieldset.axes input").forEach(function (box) {
      box.addEventListener("change", function () {
        clearTimeout(timer);
        timer = setTimeout(function () { form.requestSubmit(); }, 900);
      });
    });
  }
})();
