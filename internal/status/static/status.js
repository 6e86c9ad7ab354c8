// membersync customer pages: live progress on the welcome page, local times, gentle reloads.
// Served from /static/status/ (no inline script: the Content-Security-Policy forbids it).
(function () {
  "use strict";

  var stepWords = { done: "(done)", active: "(in progress)", attention: "(needs attention)", todo: "(to do)" };
  var maxPollMs = 30 * 60 * 1000; // stop asking after half an hour; the page says to come back

  function field(root, name) {
    return root.querySelector('[data-field="' + name + '"]');
  }

  function localize(el) {
    var iso = el.getAttribute("datetime");
    if (!iso) return;
    var d = new Date(iso);
    if (isNaN(d.getTime())) return;
    el.textContent = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function setText(el, text) {
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function render(root, p) {
    root.setAttribute("data-state", p.state);
    document.title = p.title;
    field(root, "title").textContent = p.title;
    field(root, "message").textContent = p.message;
    (p.steps || []).forEach(function (s) {
      var li = root.querySelector('[data-step="' + s.id + '"]');
      if (!li) return;
      li.setAttribute("data-status", s.status);
      field(li, "label").textContent = s.label;
      field(li, "status").textContent = stepWords[s.status] || "";
    });
    var noticed = field(root, "noticed");
    if (p.noticed_at) {
      var t = field(root, "noticed-at");
      t.setAttribute("datetime", p.noticed_at);
      localize(t);
      field(root, "alerted").textContent = p.alerted ? "The team has been alerted." : "We retry automatically.";
      noticed.hidden = false;
    } else {
      noticed.hidden = true;
    }
    setText(field(root, "note"), p.note);
    var enter = field(root, "enter");
    if (p.community_url) {
      enter.setAttribute("href", p.community_url);
      enter.hidden = false;
    } else {
      enter.hidden = true;
    }
    var link = field(root, "status-link");
    if (p.status_url) {
      field(root, "status-href").setAttribute("href", p.status_url);
      link.hidden = false;
    } else {
      link.hidden = true;
    }
    if (p.state === "ready" && enter && !enter.hidden) enter.focus();
  }

  function poll(root) {
    var url = root.getAttribute("data-progress");
    var every = parseInt(root.getAttribute("data-poll-ms"), 10) || 2000;
    var started = Date.now();
    var failures = 0;
    function next(ms) {
      if (Date.now() - started > maxPollMs) return;
      window.setTimeout(tick, ms);
    }
    function tick() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (r) {
          if (r.status === 404) return null; // the checkout is gone: keep what the page shows
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (p) {
          if (!p) return;
          failures = 0;
          render(root, p);
          if (!p.done) next(p.poll_ms || every);
        })
        .catch(function () {
          failures++;
          next(Math.min(30000, every * Math.pow(2, failures)));
        });
    }
    // Settled states (the same as the endpoint's "done") need no asking.
    if (["ready", "action", "ended"].indexOf(root.getAttribute("data-state")) < 0) next(every);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), localize);

    var progress = document.querySelector("[data-progress]");
    if (progress) poll(progress);

    // Pages still settling reload now and then while they are being looked at.
    var reload = document.querySelector("[data-reload]");
    if (reload) {
      var secs = parseInt(reload.getAttribute("data-reload"), 10) || 30;
      window.setTimeout(function check() {
        if (document.visibilityState === "visible") window.location.reload();
        else window.setTimeout(check, secs * 1000);
      }, secs * 1000);
    }

    // The billing portal page follows its link at once; the button stays for when it does not.
    var follow = document.querySelector("a[data-follow]");
    if (follow) window.location.replace(follow.href);

    // One press per form: a second tap would ask twice.
    Array.prototype.forEach.call(document.querySelectorAll("form.action"), function (f) {
      f.addEventListener("submit", function () {
        var b = f.querySelector("button");
        if (b) window.setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
