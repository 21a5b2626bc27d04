// medic console: the few lines of JavaScript the pages need (no inline scripts: CSP script-src 'self').
"use strict";

// A form with data-confirm asks before it is sent (bulk and destructive actions).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);

// Live refresh (htmx polling) skips a round while the user is typing in, or focused on, the refreshed area,
// and while the tab is hidden: a refresh must never throw away what someone is entering.
document.addEventListener("htmx:beforeRequest", function (event) {
  var target = event.detail && event.detail.elt;
  if (!target || !target.hasAttribute("hx-trigger")) return;
  var active = document.activeElement;
  var busy = active && active !== document.body && target.contains(active) &&
    /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(active.tagName);
  if (busy || document.hidden) {
    event.preventDefault();
  }
});
