// Keeps a keyboard user's place. The product page focuses the field marked data-focus-on-load (the one just
// saved, or refused): `autofocus` is skipped by browsers when the URL has a fragment, and the save's redirect
// has one (#attr-<code>) to scroll to its row; scrolling to a fragment moves the focus to it, so the field is
// focused once the page has loaded (and scrolled). The grid's "Next page" (htmx) replaces the focused link with the
// next rows: focus moves to the first of them (marked data-focus-after-swap) instead of falling to <body>.
window.addEventListener("load", function () {
  var field = document.querySelector("[data-focus-on-load]");
  if (field) field.focus();
});
document.addEventListener("htmx:afterSettle", function () {
  var first = document.querySelector("[data-focus-after-swap]");
  if (first) {
    first.removeAttribute("data-focus-after-swap");
    first.focus();
  }
});
