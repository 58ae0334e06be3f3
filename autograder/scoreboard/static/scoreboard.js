// Scoreboard table: sort by any column, filter by text and by flag. No network, no libraries.
(function () {
  "use strict";
  var table = document.getElementById("students");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var search = document.getElementById("filter-text");
  var show = document.getElementById("filter-flag");
  var shown = document.getElementById("shown-count");

  function sortValue(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { raw = cell.textContent.trim(); }
    if (numeric) {
      var n = parseFloat(raw);
      return isNaN(n) ? -Infinity : n;  // rows without a value sort below every number
    }
    return raw.toLowerCase();
  }

  function sortBy(th) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var index = headers.indexOf(th);
    var numeric = th.getAttribute("data-type") === "number";
    var current = th.getAttribute("aria-sort");
    // first click: numbers high to low, text A to Z; a second click reverses
    var descending = current === null ? numeric : current === "ascending";
    headers.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    var keyed = rows.map(function (row, i) {
      return { row: row, key: sortValue(row, index, numeric), i: i };
    });
    keyed.sort(function (a, b) {
      if (a.key < b.key) { return descending ? 1 : -1; }
      if (a.key > b.key) { return descending ? -1 : 1; }
      return a.i - b.i;  // stable
    });
    keyed.forEach(function (k) { tbody.appendChild(k.row); });
  }

  function applyFilter() {
    var text = search.value.trim().toLowerCase();
    var flag = show.value;
    var count = 0;
    rows.forEach(function (row) {
      var haystack = row.getAttribute("data-search") || "";
      var flags = (row.getAttribute("data-flags") || "").split(" ");
      var visible = (text === "" || haystack.indexOf(text) !== -1) &&
                    (flag === "all" || flags.indexOf(flag) !== -1);
      row.hidden = !visible;
      if (visible) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " students shown";
    var params = new URLSearchParams();
    if (text) { params.set("q", text); }
    if (flag !== "all") { params.set("show", flag); }
    var hash = params.toString();
    try {
      window.history.replaceState(null, "", "#" + hash);
    } catch (e) {
      // some browsers refuse history changes on file:// pages; the filter still works
    }
  }

  Array.prototype.forEach.call(table.querySelectorAll("th button.sort"), function (button) {
    button.addEventListener("click", function () { sortBy(button.parentNode); });
  });
  search.addEventListener("input", applyFilter);
  show.addEventListener("change", applyFilter);

  // Restore a filter from the URL fragment (#q=...&show=...), so a view can be bookmarked.
  var initial = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  if (initial.get("q")) { search.value = initial.get("q"); }
  if (initial.get("show")) {
    var wanted = initial.get("show");
    Array.prototype.forEach.call(show.options, function (o) {
      if (o.value === wanted) { show.value = wanted; }
    });
  }
  applyFilter();
}());
