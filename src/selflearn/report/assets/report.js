// The report's few behaviours: sortable tables, text filters, and the map <-> question table link.
// Plain DOM, no library; the page stays readable with scripts off.
(function () {
  "use strict";

  function cellValue(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    var n = parseFloat(v);
    return v !== "" && !isNaN(n) && isFinite(v) ? n : v.toLowerCase();
  }

  function sortBy(table, col, th) {
    var body = table.tBodies[0];
    var asc = th.getAttribute("data-sort") !== "asc";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("data-sort"); });
    th.setAttribute("data-sort", asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, col), y = cellValue(b, col);
      if (x === "" || y === "") return (x === "") - (y === "");  // blanks last in either direction
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function initSorting() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      if (!table.tHead || !table.tBodies.length) return;
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
        th.addEventListener("click", function () { sortBy(table, col, th); });
      });
    });
  }

  function initFilters() {
    document.querySelectorAll("input.filter").forEach(function (input) {
      var box = document.getElementById(input.getAttribute("data-target"));
      var counter = document.querySelector('[data-count-for="' + input.getAttribute("data-target") + '"]');
      if (!box) return;
      var items = box.querySelectorAll("tbody tr, article.point");
      var texts = Array.prototype.map.call(items, function (el) { return el.textContent.toLowerCase(); });
      function apply() {
        var words = input.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
        Array.prototype.forEach.call(items, function (el, i) {
          var hit = words.every(function (w) { return texts[i].indexOf(w) >= 0; });
          el.hidden = !hit;
          if (hit) shown += 1;
        });
        if (counter) counter.textContent = shown + " of " + items.length + " shown";
      }
      input.addEventListener("input", apply);
      apply();
    });
  }

  function initMaps() {
    document.querySelectorAll("svg.map").forEach(function (map) {
      var table = document.getElementById("questions-" + map.getAttribute("data-run"));
      if (!table) return;
      function mark(i, on) {
        var pt = map.querySelector('[data-q="' + i + '"]');
        if (pt) pt.classList.toggle("hot", on);
      }
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.addEventListener("mouseenter", function () { mark(tr.getAttribute("data-q"), true); });
        tr.addEventListener("mouseleave", function () { mark(tr.getAttribute("data-q"), false); });
      });
      map.querySelectorAll(".pt").forEach(function (pt) {
        pt.addEventListener("click", function () {
          var row = table.querySelector('tr[data-q="' + pt.getAttribute("data-q") + '"]');
          if (!row) return;
          table.querySelectorAll("tr.picked").forEach(function (r) { r.classList.remove("picked"); });
          row.hidden = false;
          row.classList.add("picked");
          table.scrollTop = row.offsetTop - table.clientHeight / 2;
        });
      });
    });
  }

  function init() {
    initSorting();
    initFilters();
    initMaps();
    // Markers for tests and tools: the page finished its set-up, and how many script errors it saw.
    document.body.setAttribute("data-script-errors", String((window.__reportErrors || []).length));
    document.body.setAttribute("data-report-ready", "1");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
