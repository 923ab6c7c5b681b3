// deploystatus board: filters as you type (kept in the URL), and a refresh from GET /current
// every few seconds that updates only the cells that changed, so focus and scroll stay put.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("board-config").textContent);
  var table = document.getElementById("matrix");
  var headRow = table.tHead.rows[0];
  var tbody = table.tBodies[0];
  var form = document.getElementById("filters");
  var search = form.elements.namedItem("q");
  var notGreen = form.elements.namedItem("notgreen");
  var picker = document.getElementById("env-picker");
  var banner = document.getElementById("banner");
  var fetchedTime = document.getElementById("fetched");
  var fetchedAgo = document.getElementById("fetched-ago");
  var hiddenColumns = document.getElementById("hidden-columns");
  var empty = document.getElementById("empty");

  var environments = [];
  for (var h = 1; h < headRow.cells.length; h++) environments.push(headRow.cells[h].dataset.env);
  var rows = new Map();
  for (var r = 0; r < tbody.rows.length; r++) rows.set(tbody.rows[r].dataset.c, tbody.rows[r]);
  var lastFetched = Date.parse(fetchedTime.getAttribute("datetime"));
  var timer = null;
  var everFetched = !banner.textContent;

  // What the server renders, computed here the same way (board.py: ago, states.py).

  function classify(state) {
    var folded = state.toLowerCase();
    for (var i = 0; i < config.rules.length; i++) {
      var words = config.rules[i][1];
      for (var j = 0; j < words.length; j++) {
        if (folded.indexOf(words[j]) >= 0) return config.rules[i][0];
      }
    }
    return "other";
  }

  function ago(seconds) {
    var future = seconds < 0;
    var s = Math.floor(Math.abs(seconds));
    var text;
    if (s < 60) text = s + " s";
    else if (s < 3600) text = Math.floor(s / 60) + " min";
    else if (s < 2 * 86400) text = Math.floor(s / 3600) + " h";
    else text = Math.floor(s / 86400) + " d";
    return future ? "in " + text : text + " ago";
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  function instant(td) {
    if (td._t === undefined) td._t = Date.parse(td.title);
    return td._t;
  }

  // Cells and rows, as the template writes them.

  // <td class="k-KIND" title="TIMESTAMP"><b>STATE</b> <small>AGE</small></td>; the icon
  // and its name come from CSS.
  function fill(td, record, kind) {
    var state = document.createElement("b");
    state.textContent = record.State;
    var age = document.createElement("small");
    td.className = "k-" + kind;
    td.title = record.Timestamp;
    td._t = Date.parse(record.Timestamp);
    age.textContent = ago((Date.now() - td._t) / 1000);
    td.replaceChildren(state, " ", age);
  }

  function clear(td) {
    td.className = "";
    td.removeAttribute("title");
    td._t = undefined;
    td.replaceChildren();
  }

  function makeRow(component) {
    var tr = document.createElement("tr");
    tr.dataset.c = component;
    var th = document.createElement("th");
    th.scope = "row";
    var link = document.createElement("a");
    link.href = config.componentUrl + encodeURIComponent(component);
    link.textContent = component;
    th.appendChild(link);
    tr.appendChild(th);
    for (var i = 0; i < environments.length; i++) tr.appendChild(document.createElement("td"));
    return tr;
  }

  function selectedEnvironments() {
    var chosen = new Set();
    picker.querySelectorAll("input[name=env]").forEach(function (box) {
      if (box.checked) chosen.add(box.value);
    });
    return chosen;
  }

  // A new set of environments (rare): new columns, in order, and the picker to match.
  function setEnvironments(names) {
    var chosen = selectedEnvironments();
    var allChosen = chosen.size === environments.length;
    var old = environments;
    environments = names;
    while (headRow.cells.length > 1) headRow.deleteCell(1);
    names.forEach(function (name) {
      var th = document.createElement("th");
      th.scope = "col";
      th.dataset.env = name;
      th.textContent = name;
      headRow.appendChild(th);
    });
    rows.forEach(function (tr) {
      var cells = new Map();
      for (var i = 0; i < old.length; i++) cells.set(old[i], tr.cells[i + 1]);
      while (tr.cells.length > 1) tr.deleteCell(1);
      names.forEach(function (name) {
        tr.appendChild(cells.get(name) || document.createElement("td"));
      });
    });
    picker.querySelectorAll("label").forEach(function (label) { label.remove(); });
    names.forEach(function (name) {
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox";
      box.name = "env";
      box.value = name;
      box.checked = allChosen || chosen.has(name) || old.indexOf(name) < 0;
      label.append(box, " " + name);
      picker.appendChild(label);
    });
  }

  function apply(records) {
    var byComponent = new Map();
    var names = new Set();
    var counts = { failed: 0, "in-progress": 0, other: 0, success: 0 };
    records.forEach(function (record) {
      names.add(record.Environment);
      var states = byComponent.get(record.Component);
      if (!states) byComponent.set(record.Component, (states = new Map()));
      states.set(record.Environment, record);
    });
    var sorted = Array.from(names).sort();
    if (sorted.join("\n") !== environments.join("\n")) setEnvironments(sorted);
    rows.forEach(function (tr, component) {
      if (!byComponent.has(component)) {
        tr.remove();
        rows.delete(component);
      }
    });
    var components = Array.from(byComponent.keys()).sort();
    var next = null;
    for (var c = components.length - 1; c >= 0; c--) {
      var tr = rows.get(components[c]);
      if (!tr) {
        tr = makeRow(components[c]);
        tbody.insertBefore(tr, next);
        rows.set(components[c], tr);
      }
      next = tr;
    }
    byComponent.forEach(function (states, component) {
      var cells = rows.get(component).cells;
      for (var i = 0; i < environments.length; i++) {
        var td = cells[i + 1];
        var record = states.get(environments[i]);
        if (!record) {
          if (td.title) clear(td);
          continue;
        }
        var kind = classify(record.State);
        counts[kind] += 1;
        var shown = td.children[0];
        if (td.title !== record.Timestamp || !shown || shown.textContent !== record.State) {
          fill(td, record, kind);
          if (everFetched) {
            td.classList.add("fresh");
            td.addEventListener("animationend", function () { this.classList.remove("fresh"); }, { once: true });
          }
        }
      }
    });
    document.querySelectorAll("#counts [data-kind]").forEach(function (span) {
      span.textContent = counts[span.dataset.kind].toLocaleString("en");
    });
    document.getElementById("total").textContent = rows.size.toLocaleString("en");
    empty.textContent = rows.size ? "No component matches these filters." : "No deployment has been recorded yet.";
  }

  function updateAges() {
    var now = Date.now();
    rows.forEach(function (tr) {
      for (var i = 1; i < tr.cells.length; i++) {
        var td = tr.cells[i];
        if (!td.title) continue;
        var small = td.children[1];
        var text = ago((now - instant(td)) / 1000);
        if (small && small.textContent !== text) small.textContent = text;
      }
    });
    fetchedAgo.textContent = " (" + ago((now - lastFetched) / 1000) + ")";
  }

  // Filters: the URL says what is shown, so a view can be shared.

  function applyFilters(updateUrl) {
    var text = search.value.trim().toLowerCase();
    var chosen = selectedEnvironments();
    var visible = [];
    var hidden = [];
    environments.forEach(function (name, i) {
      if (chosen.has(name)) visible.push(i);
      else hidden.push("#matrix tr > :nth-child(" + (i + 2) + ")");
    });
    hiddenColumns.textContent = hidden.length ? hidden.join(", ") + " { display: none }" : "";
    var shown = 0;
    rows.forEach(function (tr, component) {
      var show = !text || component.indexOf(text) >= 0;
      if (show && notGreen.checked) {
        show = visible.some(function (i) {
          var kind = tr.cells[i + 1].className;
          return kind !== "" && kind.indexOf("k-success") < 0;
        });
      }
      tr.hidden = !show;
      if (show) shown += 1;
    });
    document.getElementById("shown").textContent = shown.toLocaleString("en");
    empty.hidden = shown > 0;
    if (updateUrl) {
      var params = new URLSearchParams();
      if (text) params.set("q", text);
      if (chosen.size < environments.length) {
        if (chosen.size === 0) params.append("env", "");
        environments.forEach(function (name) { if (chosen.has(name)) params.append("env", name); });
      }
      if (notGreen.checked) params.set("notgreen", "1");
      var query = params.toString();
      history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
    }
  }

  form.addEventListener("input", function () { applyFilters(true); });
  form.addEventListener("change", function () { applyFilters(true); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    applyFilters(true);
  });

  // Refresh: GET /current every few seconds; a banner while it fails.

  function succeeded() {
    lastFetched = Date.now();
    everFetched = true;
    fetchedTime.setAttribute("datetime", new Date(lastFetched).toISOString());
    fetchedTime.textContent = clock(lastFetched);
    banner.hidden = true;
    document.body.classList.remove("stale");
  }

  function failed(reason) {
    banner.textContent =
      "Cannot reach the API: " + reason + ". Showing the data fetched at " + clock(lastFetched) +
      "; retrying every " + config.refreshSeconds + " s.";
    banner.hidden = false;
    document.body.classList.add("stale");
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, config.refreshSeconds * 1000);
  }

  function refresh() {
    if (document.hidden) {
      schedule(); // a hidden tab does not poll; visibilitychange refreshes at once
      return Promise.resolve();
    }
    var controller = new AbortController();
    var deadline = setTimeout(function () { controller.abort(); }, 15000);
    return fetch(config.currentUrl, { cache: "no-store", signal: controller.signal, headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.ok) return response.json();
        return response.json().then(
          function (body) { throw new Error("it answered " + response.status + " (" + (body.message || body.error) + ")"); },
          function () { throw new Error("it answered " + response.status); }
        );
      })
      .then(function (body) {
        apply(body.Records);
        succeeded();
        applyFilters(false);
      })
      .catch(function (error) {
        failed(error.name === "AbortError" ? "no answer within 15 s" : error.message || String(error));
      })
      .finally(function () {
        clearTimeout(deadline);
        updateAges();
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });

  fetchedTime.textContent = clock(lastFetched);
  applyFilters(false);
  updateAges();
  setInterval(function () { fetchedAgo.textContent = " (" + ago((Date.now() - lastFetched) / 1000) + ")"; }, 1000);
  if (!everFetched) refresh();
  else schedule();
  window.deploystatusBoard = { refresh: refresh };
})();
