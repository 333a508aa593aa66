// Loaded (not deferred) in the head, so a chosen theme is applied before
// the page paints and never flashes. A file of its own rather than an
// inline script: the Content-Security-Policy allows scripts from the site
// only.
try {
  var t = localStorage.getItem("quire-theme");
  if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
} catch (e) {}
