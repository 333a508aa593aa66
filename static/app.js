// Progressive enhancement only: every feature works without this file.
(function () {
  "use strict";

  var root = document.documentElement;

  // Theme toggle: a "Dark theme" switch (aria-pressed), remembered in
  // localStorage; without a choice the system decides, and keeps deciding.
  var toggle = document.querySelector("[data-theme-toggle]");
  if (toggle) {
    var system = window.matchMedia("(prefers-color-scheme: dark)");
    var current = function () {
      return root.dataset.theme || (system.matches ? "dark" : "light");
    };
    var show = function () {
      toggle.setAttribute("aria-pressed", current() === "dark" ? "true" : "false");
    };
    toggle.hidden = false;
    show();
    toggle.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem("quire-theme", next); } catch (e) {}
      show();
    });
    if (system.addEventListener) system.addEventListener("change", show);
    // Another tab changed the theme.
    window.addEventListener("storage", function (event) {
      if (event.key !== "quire-theme") return;
      if (event.newValue === "light" || event.newValue === "dark") root.dataset.theme = event.newValue;
      else delete root.dataset.theme;
      show();
    });
  }

  // Rendered Markdown: the server makes wide code blocks and tables
  // keyboard-focusable so they can be scrolled; keep that only where they
  // actually scroll sideways, so the others are not empty tab stops.
  var scrollables = function () {
    document.querySelectorAll(".prose pre, .prose table").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) el.setAttribute("tabindex", "0");
      else el.removeAttribute("tabindex");
    });
  };
  scrollables();
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(scrollables, 150);
  });

  // Confirm before destructive inline forms (the server still asks on pages).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Live side-by-side preview in the editor; a toggle on narrow screens.
  var editor = document.querySelector("form[data-editor]");
  if (editor) {
    var source = editor.querySelector("[data-preview-source]");
    var target = editor.querySelector("[data-preview-target]");
    var output = editor.querySelector("[data-preview-output]");
    var button = editor.querySelector("[data-preview-button]");
    var token = editor.querySelector("input[name=csrf_token]").value;
    var narrow = window.matchMedia("(max-width: 50rem)");
    var timer = null;
    // What is wrong with the text (or that previews wait), in place of the preview.
    var problem = function (text) {
      var note = document.createElement("p");
      note.className = "preview-problem";
      note.setAttribute("role", "status");
      note.textContent = text;
      output.replaceChildren(note);
    };
    var render = function () {
      var body = new URLSearchParams({ csrf_token: token, body: source.value });
      fetch("/preview", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) {
          if (r.ok) {
            return r.text().then(function (html) {
              output.innerHTML = html;
              scrollables();
            });
          }
          if (r.status === 422) return r.text().then(problem);
          if (r.status === 429) {
            // Over the budget of previews: try again when it allows.
            var wait = parseInt(r.headers.get("Retry-After") || "1", 10);
            clearTimeout(timer);
            timer = setTimeout(render, Math.max(wait, 1) * 1000);
          }
        })
        .catch(function () {});
    };
    var layout = function () {
      if (narrow.matches) {
        editor.classList.remove("live");
        target.removeAttribute("tabindex");
        button.setAttribute("aria-expanded", target.hidden ? "false" : "true");
        button.textContent = target.hidden ? "Show preview" : "Hide preview";
      } else {
        editor.classList.add("live");
        target.hidden = false;
        // The preview scrolls on its own beside the text: let keyboards in.
        target.setAttribute("tabindex", "0");
        button.removeAttribute("aria-expanded");
        button.textContent = "Refresh preview";
      }
    };
    layout();
    if (narrow.addEventListener) narrow.addEventListener("change", layout);
    render();
    source.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(render, 250);
    });
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (narrow.matches) target.hidden = !target.hidden;
      layout();
      render();
    });
    // Enter in a field presses the form's hidden first button: Preview.
    editor.querySelector("[data-default-button]").addEventListener("click", function (event) {
      event.preventDefault();
      button.click();
    });

    // Tag suggestions complete the tag being typed, keeping the ones before it.
    var tags = editor.querySelector("[data-tag-input]");
    var list = tags && document.getElementById(tags.getAttribute("list"));
    if (list) {
      var known = Array.prototype.map.call(list.options, function (o) { return o.value; });
      tags.addEventListener("input", function () {
        var parts = tags.value.split(",");
        var last = parts.pop().trim().toLowerCase();
        var prefix = parts.map(function (p) { return p.trim(); }).filter(Boolean);
        var head = prefix.length ? prefix.join(", ") + ", " : "";
        list.innerHTML = "";
        known.filter(function (t) { return t.toLowerCase().indexOf(last) === 0 && prefix.indexOf(t) < 0; })
          .slice(0, 10)
          .forEach(function (t) {
            var option = document.createElement("option");
            option.value = head + t;
            list.appendChild(option);
          });
      });
    }
  }
})();
