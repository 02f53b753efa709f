// Small helpers for the editor's pages; each page works without them.
//
// Copy buttons (data-copy="ID"): copy the text of a field to the clipboard.
(function () {
  "use strict";
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (b) {
    var field = document.getElementById(b.getAttribute("data-copy"));
    if (!field || !navigator.clipboard) {
      return;
    }
    b.hidden = false;
    b.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = "Copy"; }, 2000);
      }, function () {
        field.focus();
        field.select();
      });
    });
  });
})();

// Live preview for the compose page: while the editor types, post the subject
// and body to the server (same origin, so the cross-origin protection lets it
// through) and show the rendered email in the sandboxed iframe. Without this
// script the Preview button does the same with a full page load.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var frame = document.getElementById("preview-frame");
  if (!form || !frame || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-preview");
  var subject = document.getElementById("preview-subject");
  var error = document.getElementById("preview-error");
  var as = document.getElementById("preview-as");
  var timer = null;
  var latest = 0;

  function refresh() {
    var n = ++latest;
    var data = new URLSearchParams();
    data.set("subject", form.elements.subject.value);
    data.set("body", form.elements.body.value);
    data.set("as", as ? as.value : "");
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
        var doc = new DOMParser().parseFromString(res.text, "text/html");
        subject.textContent = doc.title;
        error.hidden = true;
        error.textContent = "";
      } else if (res.status === 401 || res.status === 403 || res.text.indexOf("<") === 0) {
        error.textContent = "The preview could not be loaded (status " + res.status + "). Reload the page; you may have been signed out.";
        error.hidden = false;
      } else {
        error.textContent = res.text.trim();
        error.hidden = false;
      }
    }).catch(function () {
      if (n === latest) {
        form.removeAttribute("aria-busy");
        error.textContent = "The preview could not be loaded. Check your connection.";
        error.hidden = false;
      }
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  form.elements.subject.addEventListener("input", later);
  form.elements.body.addEventListener("input", later);
  if (as) {
    as.addEventListener("change", refresh);
  }
})();

// Send a test of the draft as typed, without leaving the page: the answer is
// shown under the buttons, and there is no post to repeat on a reload.
// Without this script the button posts the form and the page comes back
// with the draft and the answer.
(function () {
  "use strict";
  var form = document.getElementById("compose");
  var button = document.getElementById("send-test");
  var notice = document.getElementById("test-notice");
  var error = document.getElementById("test-error");
  if (!form || !button || !notice || !error || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var url = form.getAttribute("data-test");
  button.addEventListener("click", function (ev) {
    ev.preventDefault();
    var data = new URLSearchParams();
    data.set("subject", form.elements.subject.value);
    data.set("body", form.elements.body.value);
    button.disabled = true;
    notice.hidden = error.hidden = true;
    fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Accept": "text/plain" }
    }).then(function (resp) {
      return resp.text().then(function (text) {
        if (resp.ok && !resp.redirected) {
          notice.textContent = text;
          notice.hidden = false;
        } else if (resp.redirected || text.indexOf("<") === 0) {
          error.textContent = "The test was not sent (status " + (resp.redirected ? 401 : resp.status) + "). Reload the page; you may have been signed out.";
          error.hidden = false;
        } else {
          error.textContent = text.trim();
          error.hidden = false;
        }
      });
    }).catch(function () {
      error.textContent = "The test was not sent. Check your connection.";
      error.hidden = false;
    }).then(function () {
      button.disabled = false;
      button.focus();
    });
  });
})();
