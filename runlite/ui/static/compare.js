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

  // One handler for the whole page: the element under the pointer says which run is hovered
  // (none off the plots). Moving the hovered element to the top does not re-trigger it.
  var current = null;
  document.addEventListener("mouseover", function (e) {
    var el = e.target.closest && e.target.closest("svg.sweep [data-run]");
    var index = el ? el.getAttribute("data-run") : null;
    if (index !== current) {
      if (current !== null) light(current, false);
      current = index;
      if (index !== null) light(index, true);
    }
    if (!el) { tip.hidden = true; tip.removeAttribute("data-run"); return; }
    var text = el.getAttribute("data-tip");
    if (text === null) {  // a scatter point's text is its run's line's
      var line = document.querySelector('svg.sweep [data-tip][data-run="' + index + '"]');
      text = line ? line.getAttribute("data-tip") : "";
    }
    tip.textContent = text;
    tip.setAttribute("data-run", index);
    tip.hidden = false; place(e);
  });
  document.addEventListener("mousemove", function (e) { if (!tip.hidden) place(e); });

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
