// The desk's only script (ours, GPL-3.0-or-later like the rest): "select all" for the
// held letters, and a button's page kept in the history as a page. Everything works
// without it.
document.addEventListener("DOMContentLoaded", function () {
  // A page that answered a button (a release, an import) stands in the history as that
  // POST: Back to it was the browser's "Confirm Form Resubmission" and Reload sent the
  // button again. It stands as the page it shows, a GET, instead.
  var page = document.body.getAttribute("data-page");
  if (page && window.history.replaceState) { window.history.replaceState(null, "", page); }
  document.querySelectorAll("input.select-all").forEach(function (all) {
    all.addEventListener("change", function () {
      all.closest("form").querySelectorAll("input.pick").forEach(function (box) { box.checked = all.checked; });
    });
  });
});
