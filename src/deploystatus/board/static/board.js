// deploystatus board: filters, order and facets applied at once (kept in the URL), and a
// refresh every few seconds from GET /ui/board.json that sends only the rows that changed
// since the view shown (the server renders every row, here and in the page, with the same
// template), so focus and scroll stay put.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("board-config").textContent);
  var table = document.getElementById("matrix");
  var tbody = table.tBodies[0];
  var form = document.getElementById("filters");
  var search = form.elements.namedItem("q");
  var notGreen = form.elements.namedItem("notgreen");
  var order = form.elements.namedItem("sort");
  var picker = document.getElementById("env-picker");
  var banner = document.getElementById("banner");
  var fetchedTime = document.getElementById("fetched");
  var fetchedAgo = document.getElementById("fetched-ago");
  var empty = document.getElementById("empty");
  var recent = document.getElementById("recent");
  var moreLine = document.getElementById("more-line");
  var more = document.getElementById("more");
  var favicon = document.getElementById("favicon");

  var params = new URLSearchParams(location.search);
  var show = params.get("show") || (notGreen.checked ? "notgreen" : "all");
  var rowsShown = parseInt(params.get("rows"), 10) || config.rowsStep;
  var version = config.version;
  var rows = new Map();
  for (var r = 0; r < tbody.rows.length; r++) rows.set(tbody.rows[r].dataset.c, tbody.rows[r]);
  var lastFetched = Date.parse(fetchedTime.getAttribute("datetime"));
  var timer = null;
  var typing = null;
  var asked = 0; // the latest request: an answer to an older one is dropped
  var everFetched = !banner.textContent;

  // Ages, as the server writes them (views.py: ago), kept current here.

  function span(seconds) {
    var s = Math.floor(Math.abs(seconds));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 2 * 86400) return Math.floor(s / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  }

  function ago(seconds) {
    return seconds < 0 ? "in " + span(seconds) : span(seconds) + " ago";
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  function updateAges() {
    var now = Date.now();
    document.querySelectorAll("main time[data-t]").forEach(function (time) {
      var seconds = (now - Number(time.dataset.t)) / 1000;
      var text = time.dataset.f === "for" ? span(seconds) : ago(seconds);
      if (time.textContent !== text) time.textContent = text;
    });
    fetchedAgo.textContent = " (" + ago((now - lastFetched) / 1000) + ")";
  }

  // The view asked for: what the URL says, as matrix.py's BoardFilters.query writes it.

  function environments() {
    return Array.from(picker.querySelectorAll("input[name=env]"));
  }

  function query() {
    var wanted = new URLSearchParams();
    var text = search.value.trim().toLowerCase();
    if (text) wanted.set("q", text);
    var boxes = environments();
    var chosen = boxes.filter(function (box) { return box.checked; });
    if (chosen.length < boxes.length) {
      if (!chosen.length) wanted.append("env", "");
      chosen.forEach(function (box) { wanted.append("env", box.value); });
    }
    if (show === "notgreen") wanted.set("notgreen", "1");
    else if (show !== "all") wanted.set("show", show);
    if (order.value !== "problems") wanted.set("sort", order.value);
    if (rowsShown !== config.rowsStep) wanted.set("rows", String(rowsShown));
    return wanted.toString();
  }

  function showInUrl(wanted) {
    history.replaceState(null, "", location.pathname + (wanted ? "?" + wanted : ""));
  }

  // Applying an answer of GET /ui/board.json.

  function setEnvironments(names) {
    var boxes = environments();
    var old = boxes.map(function (box) { return box.value; });
    if (old.join("\n") === names.join("\n")) return;
    var allChosen = boxes.every(function (box) { return box.checked; });
    var chosen = new Set(boxes.filter(function (box) { return box.checked; }).map(function (box) { return box.value; }));
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

  function parsed(html, container) {
    var template = document.createElement("template");
    template.innerHTML = html; // the server's markup: free text in it is escaped there
    return container ? template.content : template.content.firstElementChild;
  }

  // Cells whose content changed are outlined for a moment.
  function markChanged(before, after) {
    for (var i = 1; i < after.cells.length; i++) {
      var cell = after.cells[i];
      var old = before.cells[i];
      if (cell.dataset.k && (!old || old.dataset.k !== cell.dataset.k)) {
        cell.classList.add("fresh");
        cell.addEventListener("animationend", function () { this.classList.remove("fresh"); }, { once: true });
      }
    }
  }

  function placeRows(answer) {
    var wanted = new Map();
    var sameColumns = answer.head === null;
    answer.rows.forEach(function (pair) {
      var before = rows.get(pair[0]);
      var tr = pair[1] === null && before ? before : parsed(pair[1] || "");
      if (tr !== before && before && sameColumns && everFetched) markChanged(before, tr);
      wanted.set(pair[0], tr);
    });
    rows.forEach(function (tr, component) {
      if (wanted.get(component) !== tr) tr.remove();
    });
    // Rows that stay are moved only when their place changed, so focus stays on them.
    var next = tbody.firstElementChild;
    wanted.forEach(function (tr) {
      if (next === tr) next = next.nextElementSibling;
      else tbody.insertBefore(tr, next);
    });
    rows = wanted;
  }

  function number(n) {
    return n.toLocaleString("en");
  }

  function apply(answer) {
    version = answer.v;
    if (answer.same) return;
    setEnvironments(answer.environments);
    if (answer.head !== null) table.tHead.replaceChildren(parsed(answer.head));
    placeRows(answer);
    if (answer.recent !== null) recent.replaceChildren(parsed(answer.recent, true));
    document.querySelectorAll("#counts a[data-show]").forEach(function (link) {
      var facet = link.dataset.show;
      link.querySelector("[data-count]").textContent = number(answer.counts[facet]);
      link.setAttribute("href", "?" + answer.queries[facet]);
      if (answer.show === facet) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
    document.getElementById("shown").textContent = number(answer.shown);
    document.getElementById("matched").textContent = number(answer.matched);
    document.getElementById("total").textContent = number(answer.total);
    empty.hidden = answer.shown > 0;
    empty.textContent = answer.total ? "No component matches these filters." : "No deployment has been recorded yet.";
    moreLine.hidden = answer.more <= 0;
    more.setAttribute("href", "?" + answer.moreQuery);
    document.getElementById("more-count").textContent = "(" + number(answer.more) + " not shown)";
    document.title = answer.title + " \u00b7 deploystatus";
    favicon.setAttribute("href", answer.favicon);
  }

  // Fetching: on a change of the view at once, else every few seconds; a banner while it fails.

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

  // Live: while the change feed's stream is open, a transition anywhere refreshes the view
  // (once per burst), and polling slows to a safety net; without the stream (no
  // EventSource, the stream refused or reconnecting), the board polls as before.
  var live = false;
  var burst = null;
  var SAFETY_SECONDS = 60;

  function listen() {
    if (!config.eventsUrl || typeof EventSource === "undefined") return;
    var stream = new EventSource(config.eventsUrl);
    stream.addEventListener("open", function () {
      live = true;
      document.body.dataset.live = "stream";
      schedule();
    });
    stream.addEventListener("transition", function () {
      if (burst !== null || document.hidden) return;
      burst = setTimeout(function () { burst = null; load(); }, 150);
    });
    stream.addEventListener("error", function () {
      live = false; // EventSource reconnects by itself; meanwhile, poll
      document.body.dataset.live = "polling";
      schedule();
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, (live ? SAFETY_SECONDS : config.refreshSeconds) * 1000);
  }

  function load() {
    var wanted = query();
    var mine = ++asked;
    var controller = new AbortController();
    var deadline = setTimeout(function () { controller.abort(); }, 15000);
    var url = config.dataUrl + "?" + (wanted ? wanted + "&" : "") + "known=" + encodeURIComponent(version);
    return fetch(url, { cache: "no-store", signal: controller.signal, headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.ok) return response.json();
        return response.json().then(
          function (body) { throw new Error("it answered " + response.status + " (" + (body.message || body.error) + ")"); },
          function () { throw new Error("it answered " + response.status); }
        );
      })
      .then(function (answer) {
        if (mine !== asked) return; // the view changed meanwhile; a newer answer follows
        apply(answer);
        succeeded();
      })
      .catch(function (error) {
        if (mine !== asked) return;
        failed(error.name === "AbortError" ? "no answer within 15 s" : error.message || String(error));
      })
      .finally(function () {
        clearTimeout(deadline);
        if (mine !== asked) return;
        updateAges();
        schedule();
      });
  }

  function refresh() {
    if (document.hidden) {
      schedule(); // a hidden tab does not poll; visibilitychange refreshes at once
      return Promise.resolve();
    }
    return load();
  }

  function changed() {
    showInUrl(query());
    return load();
  }

  form.addEventListener("input", function (event) {
    if (event.target !== search) return;
    clearTimeout(typing);
    showInUrl(query());
    typing = setTimeout(changed, 150);
  });
  form.addEventListener("change", function (event) {
    if (event.target === search) return;
    if (event.target === notGreen) show = notGreen.checked ? "notgreen" : "all";
    rowsShown = config.rowsStep;
    changed();
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    changed();
  });
  document.getElementById("counts").addEventListener("click", function (event) {
    var link = event.target.closest("a[data-show]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    show = show === link.dataset.show ? "all" : link.dataset.show;
    notGreen.checked = false;
    rowsShown = config.rowsStep;
    changed();
  });
  more.addEventListener("click", function (event) {
    if (event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    rowsShown += config.rowsStep;
    changed();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });

  // The form's hidden copies of show and rows are for browsers without this script.
  form.querySelectorAll("input[type=hidden]").forEach(function (input) { input.remove(); });
  fetchedTime.textContent = clock(lastFetched);
  updateAges();
  setInterval(function () { fetchedAgo.textContent = " (" + ago((Date.now() - lastFetched) / 1000) + ")"; }, 1000);
  setInterval(updateAges, 10000);
  listen();
  if (!everFetched) refresh();
  else schedule();
  window.deploystatusBoard = { refresh: refresh };
})();
