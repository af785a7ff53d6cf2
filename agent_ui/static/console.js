// Shows whether live updates are flowing; agents (and tests) can see it.
document.addEventListener("htmx:wsOpen", function (event) {
  event.detail.elt.setAttribute("data-live", "connected");
});
document.addEventListener("htmx:wsClose", function (event) {
  event.detail.elt.setAttribute("data-live", "reconnecting");
});

// A select marked data-autosubmit sends its form when changed (e.g. the presence switch);
// delegated from the document, so it works for forms htmx swaps in later too.
document.addEventListener("change", function (event) {
  var select = event.target;
  if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
    select.form.requestSubmit();
  }
});

// SLA clocks count down between updates from the server (the text of templating.duration).
function slaText(seconds) {
  var late = seconds < 0;
  var minutes = Math.floor(Math.abs(seconds) / 60);
  var days = Math.floor(minutes / 1440);
  var hours = Math.floor((minutes % 1440) / 60);
  var rest = minutes % 60;
  var parts = [];
  if (days) parts.push(days + " d");
  if (hours) parts.push(hours + " h");
  if (rest || !parts.length) parts.push(rest + " min");
  return late ? "overdue by " + parts.join(" ") : parts.join(" ") + " left";
}
function slaTick() {
  document.querySelectorAll(".sla-left[data-due]").forEach(function (element) {
    var due = Date.parse(element.getAttribute("data-due"));
    if (!isNaN(due)) element.textContent = slaText((due - Date.now()) / 1000);
  });
}
setInterval(slaTick, 20000);

// A suggested article's Insert buttons put its text (or link) into the reply at the cursor;
// the same click tells the server the article was used (hx-post on the button).
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-insert]");
  var reply = document.getElementById("reply-text");
  if (!button || !reply) return;
  var text = button.getAttribute("data-insert");
  var start = reply.selectionStart || 0, end = reply.selectionEnd || 0;
  var before = reply.value.slice(0, start), after = reply.value.slice(end);
  var glue = before && !before.endsWith("\n") ? "\n\n" : "";
  reply.value = before + glue + text + after;
  reply.focus();
  reply.selectionStart = reply.selectionEnd = (before + glue + text).length;
});
