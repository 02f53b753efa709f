// The dev inbox shows an email's HTML part whole: the frame, which runs no
// script of its own, is made as tall as the email it holds.
(function () {
  var frame = document.getElementById("inbox-frame");
  if (!frame) return;
  function fit() {
    try {
      var doc = frame.contentDocument;
      if (!doc || !doc.documentElement) return;
      frame.style.height = Math.max(doc.documentElement.scrollHeight, doc.body ? doc.body.scrollHeight : 0) + 4 + "px";
    } catch (e) { /* another origin: keep the CSS height */ }
  }
  frame.addEventListener("load", function () {
    fit();
    // Images load after the document; each one may make it taller.
    var imgs = frame.contentDocument ? frame.contentDocument.images : [];
    for (var i = 0; i < imgs.length; i++) imgs[i].addEventListener("load", fit);
  });
  // A narrower window wraps the email onto more lines.
  window.addEventListener("resize", fit);
  fit();
})();
