// Shows whether live updates are flowing; agents (and tests) can see it.
document.addEventListener("htmx:wsOpen", function (event) {
  event.detail.elt.setAttribute("data-live", "connected");
});
document.addEventListener("htmx:wsClose", function (event) {
  event.detail.elt.setAttribute("data-live", "reconnecting");
});
