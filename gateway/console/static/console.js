// Sovereign Gateway console: the little the pages do in the browser. Every flow works
// without it; it only asks before irreversible steps, copies a new key, and takes the key off
// the page when the page is left.
"use strict";

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form instanceof HTMLFormElement ? form.getAttribute("data-confirm") : null;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

document.addEventListener("DOMContentLoaded", function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  buttons.forEach(function (button) {
    var source = document.querySelector('[data-testid="' + button.getAttribute("data-copy") + '"]');
    if (!source || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim());
    });
  });
});

// A new key is shown once. Its page (the answer to a POST, no-store) is one Chromium never
// keeps for the back button; a browser that kept it in its back-forward cache would show the
// key again, so the key leaves the page as the page is put away.
window.addEventListener("pagehide", function () {
  document.querySelectorAll('[data-testid="key-secret"]').forEach(function (secret) {
    secret.textContent = "";
  });
});
