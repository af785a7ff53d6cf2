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
