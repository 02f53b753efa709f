// The import form's progress bar. Without this script the form is posted as
// it is and the server answers with the report; with it, the file is
// uploaded with XMLHttpRequest so the bar can show the upload, then
// "Processing…" while the server imports, and then the same server-rendered
// report (or the form with its error) replaces the page.
(function () {
  "use strict";
  if (!window.FormData || !window.XMLHttpRequest || !window.DOMParser) {
    return;
  }
  init();

  function init() {
    var form = document.getElementById("import-form");
    if (!form) {
      return;
    }
    var file = document.getElementById("import-file");
    var box = document.getElementById("upload-progress");
    var bar = document.getElementById("upload-bar");
    var status = document.getElementById("upload-status");
    var submit = document.getElementById("import-submit");
    var max = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;

    function show(text, failed) {
      box.hidden = false;
      box.classList.toggle("failed", !!failed);
      status.textContent = text;
    }

    form.addEventListener("submit", function (ev) {
      if (!file.files.length) {
        return; // the browser (or, failing that, the server) says what is missing
      }
      ev.preventDefault();
      var f = file.files[0];
      if (max && f.size > max) {
        show("The file is too large: at most " + Math.floor(max / 1048576) + " MiB. Split it and import the parts.", true);
        return;
      }
      submit.disabled = true;
      bar.value = 0;
      show("Uploading… 0 %");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var pct = Math.floor((e.loaded * 100) / e.total);
          bar.value = pct;
          status.textContent = "Uploading… " + pct + " %";
        }
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value"); // indeterminate: the server is at work
        status.textContent = "Processing… a large file takes a minute.";
      });
      xhr.addEventListener("load", function () {
        if ((xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") === 0) {
          swap(xhr.responseText);
          return;
        }
        submit.disabled = false;
        show("The import failed (" + xhr.status + "). Please try again.", true);
      });
      xhr.addEventListener("error", function () {
        submit.disabled = false;
        show("The upload broke off; nothing was imported. Check the connection and try again.", true);
      });
      xhr.send(new FormData(form));
    });
  }

  // swap shows the page the server answered with: this document (and its
  // styles) stays, the new body replaces the old.
  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    document.title = doc.title;
    document.body.replaceWith(document.adoptNode(doc.body));
    window.scrollTo(0, 0);
    var focus = document.querySelector(".error, h1");
    if (focus) {
      focus.setAttribute("tabindex", "-1");
      focus.focus();
    }
    // Scripts in the new body do not run; a form shown again with its
    // error gets the progress bar from here.
    init();
  }
})();
