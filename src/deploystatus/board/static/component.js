// deploystatus component page: times in UTC or the browser's zone (a switch, remembered), and
// a refresh every few seconds that fetches the page again and swaps in its current state,
// timeline and, on the first page, its newest history, so focus and scroll stay put.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("page-config").textContent);
  var zone = document.getElementById("zone");
  var banner = document.getElementById("banner");
  var fetchedTime = document.getElementById("fetched");
  var fetchedAgo = document.getElementById("fetched-ago");
  var KEY = "deploystatus.localTimes";
  var local = false;
  try { local = localStorage.getItem(KEY) === "1"; } catch (e) { /* storage off: UTC */ }
  var lastFetched = Date.parse(fetchedTime.getAttribute("datetime"));
  var timer = null;

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // "2024-07-30 14:32:05 UTC", or the same in the browser's zone with its short name.
  function shown(ms) {
    var d = new Date(ms);
    if (!local) return d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
    var name = new Intl.DateTimeFormat([], { timeZoneName: "short" }).formatToParts(d)
      .filter(function (part) { return part.type === "timeZoneName"; })
      .map(function (part) { return part.value; })[0] || "";
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " + name;
  }

  function tick(ms, withDate) {
    var d = new Date(ms);
    var clock = local ? pad(d.getHours()) + ":" + pad(d.getMinutes()) : d.toISOString().slice(11, 16);
    if (!withDate) return clock;
    var date = local ? pad(d.getMonth() + 1) + "-" + pad(d.getDate()) : d.toISOString().slice(5, 10);
    return date + " " + clock;
  }

  function ago(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var text = s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min" :
      s < 2 * 86400 ? Math.floor(s / 3600) + " h" : Math.floor(s / 86400) + " d";
    return seconds < 0 ? "in " + text : text + " ago";
  }

  // When the data was fetched: its clock, in the zone chosen.
  function showFetched() {
    fetchedTime.setAttribute("datetime", new Date(lastFetched).toISOString());
    fetchedTime.title = new Date(lastFetched).toISOString();
    fetchedTime.textContent = shown(lastFetched).slice(11);
  }

  // Every time on the page, the timeline's tick labels and hover texts included.
  function showTimes(root) {
    showFetched();
    root.querySelectorAll("time[data-z]").forEach(function (time) {
      time.textContent = shown(Number(time.dataset.t));
    });
    var ticks = root.querySelectorAll("text[data-tick]");
    var first = ticks.length ? Number(ticks[0].dataset.tick) : 0;
    var last = ticks.length ? Number(ticks[ticks.length - 1].dataset.tick) : 0;
    ticks.forEach(function (text) {
      text.textContent = tick(Number(text.dataset.tick), last - first >= 2 * 86400000);
    });
    root.querySelectorAll("title[data-parts]").forEach(function (title) {
      var parts = JSON.parse(title.dataset.parts);
      var times = title.dataset.times.split(",").map(Number);
      title.textContent = parts.map(function (part, i) {
        return part + (i < times.length ? shown(times[i]) : "");
      }).join("");
    });
  }

  function setZone(toLocal) {
    local = toLocal;
    try { localStorage.setItem(KEY, local ? "1" : "0"); } catch (e) { /* not remembered */ }
    zone.setAttribute("aria-pressed", String(local));
    showTimes(document);
  }

  zone.hidden = false;
  zone.setAttribute("aria-pressed", String(local));
  zone.addEventListener("click", function () { setZone(!local); });

  // Refresh: the page itself, every few seconds; a banner while that fails.

  function swap(fresh, selector) {
    var now = document.querySelector(selector);
    var next = fresh.querySelector(selector);
    if (now && next) now.replaceWith(next);
  }

  // Where the keyboard is, as something the fresh page has too: a control of the current
  // state's row of one environment (by its place in that row), or an element with an id.
  function focusedPlace() {
    var active = document.activeElement;
    if (!active || active === document.body) return null;
    var row = active.closest("#current tbody tr");
    if (!row) return active.id ? { id: active.id } : null;
    var controls = Array.prototype.slice.call(row.querySelectorAll("a, button, [tabindex]"));
    return { environment: row.querySelector("th").textContent, index: controls.indexOf(active) };
  }

  function refocus(place) {
    if (!place || document.activeElement !== document.body) return;
    var target = null;
    if (place.id) {
      target = document.getElementById(place.id);
    } else {
      document.querySelectorAll("#current tbody tr").forEach(function (row) {
        if (row.querySelector("th").textContent === place.environment) {
          target = row.querySelectorAll("a, button, [tabindex]")[place.index] || null;
        }
      });
    }
    if (target) target.focus({ preventScroll: true });
  }

  // The timeline's box stays (its scroll and focus with it); what it holds is swapped.
  function apply(fresh) {
    var place = focusedPlace();
    swap(fresh, "#current tbody");
    if (document.querySelector("#timeline-section .timeline-wrap")) {
      swap(fresh, "#timeline-section .note");
      swap(fresh, "#timeline-section .legend");
      swap(fresh, "#timeline");
    } else {
      swap(fresh, "#timeline-section");
    }
    var history = document.getElementById("history");
    if (history && history.dataset.firstPage) swap(fresh, "#history tbody");
    showTimes(document);
    refocus(place);
  }

  function succeeded() {
    lastFetched = Date.now();
    showFetched();
    banner.hidden = true;
    document.body.classList.remove("stale");
  }

  function failed(reason) {
    banner.textContent = "Cannot reach the service: " + reason + ". Showing the data fetched at " +
      fetchedTime.textContent + "; retrying every " + config.refreshSeconds + " s.";
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
    return fetch(location.href, { cache: "no-store", signal: controller.signal, headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) throw new Error("it answered " + response.status);
        return response.text();
      })
      .then(function (text) {
        apply(new DOMParser().parseFromString(text, "text/html"));
        succeeded();
      })
      .catch(function (error) {
        failed(error.name === "AbortError" ? "no answer within 15 s" : error.message || String(error));
      })
      .finally(function () {
        clearTimeout(deadline);
        fetchedAgo.textContent = " (" + ago((Date.now() - lastFetched) / 1000) + ")";
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) refresh();
  });

  if (local) showTimes(document);
  setInterval(function () { fetchedAgo.textContent = " (" + ago((Date.now() - lastFetched) / 1000) + ")"; }, 1000);
  if (document.getElementById("current-section")) schedule(); // a page of no record: nothing to refresh
  window.deploystatusComponent = { refresh: refresh };
})();
