// The desk's only script (ours, GPL-3.0-or-later like the rest): "select all" for the
// held letters. Everything works without it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input.select-all").forEach(function (all) {
    all.addEventListener("change", function () {
      all.closest("form").querySelectorAll("input.pick").forEach(function (box) { box.checked = all.checked; });
    });
  });
});
