// The broadcast pages' live parts; each page works without them.
//
// Live preview for the compose form (#broadcast-compose): while the editor
// types, post the list, subject, preheader and body to the server (same
// origin, so the cross-origin protection lets it through) and show the
// rendered email in the sandboxed iframe. Without this script the Preview
// button does the same with a full page load.
(function () {
  "use strict";
  var form = document.getElementById("broadcast-compose");
  var frame = document.getElementById("preview-frame");
  if (!form || !frame || !window.fetch || !window.URLSearchParams || !window.DOMParser) {
    return;
  }
  var url = form.getAttribute("data-preview");
  var subject = document.getElementById("preview-subject");
  var preheader = document.getElementById("preview-preheader");
  var error = document.getElementById("preview-error");
  var as = document.getElementById("preview-as");
  var timer = null;
  var latest = 0;

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
  }

  function refresh() {
    var n = ++latest;
    var data = new URLSearchParams();
    ["list", "subject", "preheader", "body"].forEach(function (name) {
      data.set(name, form.elements[name].value);
    });
    data.set("as", as ? as.value : "");
    if (preheader) {
      preheader.textContent = form.elements.preheader.value;
    }
    form.setAttribute("aria-busy", "true");
    fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (resp) {
      return resp.text().then(function (text) {
        // A redirect means the session ended: it leads to the sign-in page.
        return { ok: resp.ok && !resp.redirected, status: resp.redirected ? 401 : resp.status, text: text };
      });
    }).then(function (res) {
      if (n !== latest) {
        return; // an older answer: a newer request is on its way
      }
      form.removeAttribute("aria-busy");
      if (res.ok) {
        // A new frame for each preview: setting srcdoc again navigates the
        // frame, and each navigation would be a step in the page's history,
        // so Back would walk through the previews instead of leaving the page.
        var next = frame.cloneNode(false);
        next.srcdoc = res.text;
        frame.replaceWith(next);
        frame = next;
        subject.textContent = new DOMParser().parseFromString(res.text, "text/html").title;
        error.hidden = true;
        error.textContent = "";
      } else if (res.status === 401 || res.status === 403 || res.text.indexOf("<") === 0) {
        showError("The preview could not be loaded (status " + res.status + "). Reload the page; you may have been signed out.");
      } else {
        showError(res.text.trim());
      }
    }).catch(function () {
      if (n === latest) {
        form.removeAttribute("aria-busy");
        showError("The preview could not be loaded. Check your connection.");
      }
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  ["subject", "preheader", "body"].forEach(function (name) {
    form.elements[name].addEventListener("input", later);
  });
  form.elements.list.addEventListener("change", refresh);
  if (as) {
    as.addEventListener("change", refresh);
  }
})();

// Live progress: every element with data-progress-url is followed by polling
// that small JSON endpoint while its broadcast is scheduled, sending or
// paused. The bar and the [data-field] elements of its scope (the closest
// [data-progress-scope]) are updated in place; with data-reload, the page is
// loaded afresh when the broadcast's status changes, so the server renders
// what comes next (the progress once a schedule starts, the results once it
// is done). Without this script, a sending broadcast's page refreshes itself
// (a <noscript> meta refresh).
(function () {
  "use strict";
  if (!window.fetch) {
    return;
  }
  var EVERY = 2000;
  var live = { scheduled: true, sending: true, paused: true };
  var numbers = { sent: true, failed: true, skipped: true, unsubscribes: true, queued: true, recipients: true };

  function update(scope, p) {
    var bar = scope.querySelector(".bar");
    if (bar) {
      bar.setAttribute("aria-valuenow", String(p.percent));
      var parts = { "bar-sent": p.sent_width, "bar-failed": p.failed_width, "bar-skipped": p.skipped_width };
      Object.keys(parts).forEach(function (cls) {
        var seg = bar.querySelector("." + cls);
        if (seg) {
          seg.style.width = parts[cls] + "%";
        }
      });
    }
    Array.prototype.forEach.call(scope.querySelectorAll("[data-field]"), function (el) {
      var name = el.getAttribute("data-field");
      var v = p[name];
      if (v === undefined || v === null) {
        v = "";
      }
      if (numbers[name]) {
        v = Number(v).toLocaleString("en-US");
      }
      el.textContent = String(v);
      if (name === "status_label") {
        el.className = "badge bc-" + p.status;
      }
      if (name === "finish_text") {
        el.hidden = v === "";
      }
    });
  }

  function follow(el) {
    var url = el.getAttribute("data-progress-url");
    var status = el.getAttribute("data-status");
    var reload = el.hasAttribute("data-reload");
    var scope = el.closest("[data-progress-scope]") || el;
    var first = EVERY;
    if (status === "scheduled") {
      first = Math.max(0, parseInt(el.getAttribute("data-wait-ms"), 10) || 0) + 500;
    }

    function poll() {
      fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Accept": "application/json" }
      }).then(function (resp) {
        if (resp.redirected || resp.status === 401 || resp.status === 403 || resp.status === 404) {
          return null; // signed out or gone: stop following
        }
        if (!resp.ok) {
          throw new Error("status " + resp.status);
        }
        return resp.json();
      }).then(function (p) {
        if (!p) {
          return;
        }
        if (p.status !== status && reload) {
          window.location.replace(window.location.pathname);
          return;
        }
        if (p.status !== "scheduled") {
          update(scope, p);
        }
        status = p.status;
        if (live[status]) {
          setTimeout(poll, EVERY);
        }
      }).catch(function () {
        setTimeout(poll, 5 * EVERY); // the server or the network hiccuped: try again later
      });
    }
    if (live[status]) {
      setTimeout(poll, first);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-progress-url]"), follow);
})();
