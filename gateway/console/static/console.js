// Sovereign Gateway console: the little the pages do in the browser. Every flow works
// without it; it only asks before irreversible steps and copies a new key.
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
