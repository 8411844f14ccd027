// cctv page script: live updates over /ws (reconnect with backoff), confirm prompts,
// auto-submitting selects, copy buttons. No dependencies; every value shown is inserted
// with textContent, never as HTML.
(function () {
  "use strict";

  function text(el, value) { el.textContent = value == null ? "" : String(value); }

  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.hasAttribute && e.target.hasAttribute("data-autosubmit")) { e.target.form.submit(); }
  });
  document.addEventListener("click", function (e) {
    var sel = e.target.getAttribute && e.target.getAttribute("data-copy");
    if (sel && navigator.clipboard) { navigator.clipboard.writeText(document.querySelector(sel).textContent); text(e.target, "Copied"); }
  });

  // Snapshot tiles: reload the still image every 5 s.
  Array.prototype.forEach.call(document.querySelectorAll('img[data-refresh="snapshot"]'), function (img) {
    var base = img.getAttribute("src");
    setInterval(function () { img.src = base + (base.indexOf("?") < 0 ? "?" : "&") + "_t=" + Date.now(); }, 5000);
  });
  // Device pickers list only the chosen branch's devices.
  Array.prototype.forEach.call(document.querySelectorAll("form.picker"), function (form) {
    var branch = form.querySelector('select[name="branch_id"]');
    function filter() {
      Array.prototype.forEach.call(form.querySelectorAll('select[name="device_id"] option[data-branch]'), function (o) {
        o.hidden = branch.value !== "" && o.getAttribute("data-branch") !== branch.value;
      });
    }
    branch.addEventListener("change", filter);
    filter();
  });

  // The credential test page: call the device API from the browser.
  var test = document.getElementById("credential-test");
  if (test) {
    test.addEventListener("submit", function (e) {
      e.preventDefault();
      var key = test.elements.key.value, secret = test.elements.secret.value, path = test.elements.endpoint.value;
      var out = function (name, value) { text(document.querySelector('[data-out="' + name + '"]'), value); };
      var started = performance.now();
      fetch(path, { headers: { "X-API-Key": key, "X-API-Secret": secret, "Accept": "application/json" } })
        .then(function (r) {
          out("status", r.status + " " + r.statusText);
          out("time", Math.round(performance.now() - started) + " ms");
          out("limit", r.headers.get("X-RateLimit-Limit"));
          out("remaining", r.headers.get("X-RateLimit-Remaining"));
          out("reset", r.headers.get("X-RateLimit-Reset"));
          out("type", r.headers.get("Content-Type"));
          return r.text();
        })
        .then(function (body) {
          var pretty = body; try { pretty = JSON.stringify(JSON.parse(body), null, 2); } catch (_) { /* not JSON */ }
          out("body", pretty);
          out("curl", "curl " + location.origin + path + " -H 'X-API-Key: " + key + "' -H 'X-API-Secret: <secret>'");
          document.getElementById("credential-result").hidden = false;
        });
    });
  }

  var topics = (document.body.getAttribute("data-topics") || "").split(/\s+/).filter(Boolean);
  if (!topics.length || !window.WebSocket) { return; }

  // The dashboard's cards (persons, the 7-day chart, top branches) come from the server,
  // fetched at most every 2 s while detections arrive; the counter and row move at once.
  var refreshTimer = null, lastRefresh = 0;
  function scheduleRefresh() {
    if (!document.getElementById("trend") || refreshTimer) { return; }
    var wait = Math.max(0, 2000 - (Date.now() - lastRefresh));
    refreshTimer = setTimeout(function () {
      refreshTimer = null; lastRefresh = Date.now();
      var url = new URL(location.href); url.searchParams.set("format", "json");
      fetch(url.pathname + url.search, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) { redrawCards(data); } })
        .catch(function () { /* the next detection tries again */ });
    }, wait);
  }

  function redrawCards(data) {
    var live = function (name) { return document.querySelector('[data-live="' + name + '"]'); };
    var s = data.stats || {};
    if (live("detections-today")) { text(live("detections-today"), s.today); }
    if (live("detections-today-note")) { text(live("detections-today-note"), s.note); }
    if (live("unique-persons")) { text(live("unique-persons"), s.unique_persons); }
    (data.trend || []).forEach(function (t) {
      var bar = document.querySelector('#trend rect[data-day="' + t.date + '"]');
      var label = document.querySelector('#trend text[data-day="' + t.date + '"]');
      if (bar) {
        bar.setAttribute("y", t.y); bar.setAttribute("height", t.height);
        var title = bar.querySelector("title"); if (title) { text(title, t.date + ": " + t.count); }
      }
      if (label) { label.setAttribute("y", t.y - 4); text(label, t.count); }
    });
    var table = document.getElementById("top-branches");
    if (table) {
      var body = table.querySelector("tbody");
      while (body.firstChild) { body.removeChild(body.firstChild); }
      (data.top_branches || []).forEach(function (b) {
        var tr = document.createElement("tr");
        [b.branch_name, b.city, b.detection_count].forEach(function (v, i) {
          var td = document.createElement("td"); text(td, v); if (i === 2) { td.className = "num"; }
          tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      table.hidden = !(data.top_branches || []).length;
      var empty = document.querySelector('[data-empty-for="top-branches"]');
      if (empty && !table.hidden) { empty.remove(); }
    }
  }

  function onDetection(d) {
    var today = document.body.getAttribute("data-today");
    var stats = document.querySelector(".stats[data-scope]");
    var scope = stats ? stats.getAttribute("data-scope") : "";
    var inScope = !scope || String(d.branch_id) === scope;
    var counter = document.querySelector('[data-live="detections-today"]');
    if (counter && inScope && d.detection_date === today) {
      text(counter, (parseInt(counter.textContent, 10) || 0) + 1);
    }
    if (inScope) { scheduleRefresh(); }
    var recent = document.querySelector("#recent-detections tbody");
    if (recent && inScope) {
      var tr = document.createElement("tr");
      tr.className = "fresh";
      [d.local_time || d.detected_at, d.re_id, d.branch_name || d.branch_id, d.device_name || d.device_id, d.detected_count].forEach(function (v, i) {
        var td = document.createElement("td");
        if (i === 1) {
          var a = document.createElement("a");
          a.href = "/persons/" + encodeURIComponent(d.re_id) + "?date=" + encodeURIComponent(d.detection_date);
          text(a, v); td.appendChild(a);
        } else { text(td, v); }
        if (i === 4) { td.className = "num"; }
        tr.appendChild(td);
      });
      recent.insertBefore(tr, recent.firstChild);
      while (recent.children.length > 10) { recent.removeChild(recent.lastChild); }
      var empty = document.querySelector('[data-empty-for="recent-detections"]');
      if (empty) { empty.remove(); }
    }
    var person = document.querySelector("[data-person]");
    if (person && person.getAttribute("data-person") === d.re_id && person.getAttribute("data-date") === d.detection_date) {
      var count = document.querySelector('[data-live="person-count"]');
      if (count && d.outcome !== "tracking_disabled") { text(count, (parseInt(count.textContent, 10) || 0) + (d.detected_count || 1)); }
      var last = document.querySelector('[data-live="person-last"]');
      if (last) { text(last, d.local_time || d.detected_at); }
    }
  }

  // A queue crossed its alert threshold (or went back below it).
  function onQueue(q) {
    var box = document.getElementById("queue-alerts");
    if (!box) { return; }
    var id = "queue-alert-" + q.queue, el = document.getElementById(id);
    if (q.alert) {
      if (!el) { el = document.createElement("div"); el.id = id; el.className = "live-status"; box.appendChild(el); }
      text(el, "Queue " + q.queue + " has " + q.pending + " pending jobs (alert above " + q.threshold + ").");
    } else if (el) { el.remove(); }
  }

  // Someone changed a layout or the estate: offer a reload instead of showing stale data.
  function onChanged(kind) {
    var box = document.getElementById("changed-notice");
    if (!box) { return; }
    var what = {
      layout_updated: "A layout was changed.",
      group_updated: "Groups or branches were changed.",
      resync: "Live updates were interrupted, so figures may be behind."
    };
    text(box.querySelector("span"), what[kind] || what.group_updated);
    box.hidden = false;
  }

  var delay = 500;
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    var banner = document.getElementById("live-status");
    ws.onopen = function () {
      delay = 500;
      if (banner) { banner.hidden = true; }
      ws.send(JSON.stringify({ subscribe: topics }));
      document.body.setAttribute("data-live-connected", "1");
    };
    ws.onmessage = function (m) {
      var e; try { e = JSON.parse(m.data); } catch (_) { return; }
      if (e.type === "detection_update") { onDetection(e.data || {}); }
      if (e.type === "queue_status") { onQueue(e.data || {}); }
      if (e.type === "layout_updated" || e.type === "group_updated" || e.type === "resync") { onChanged(e.type); }
    };
    ws.onclose = function () {
      document.body.removeAttribute("data-live-connected");
      if (banner) { banner.hidden = false; }
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
