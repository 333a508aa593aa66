// Progressive enhancement only: every feature works without this file.
(function () {
  "use strict";

  // Theme toggle: remembered in localStorage; without a choice the system decides.
  var toggle = document.querySelector("[data-theme-toggle]");
  if (toggle) {
    toggle.hidden = false;
    var root = document.documentElement;
    var current = function () {
      return root.dataset.theme ||
        (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    };
    var label = function () {
      var dark = current() === "dark";
      toggle.setAttribute("aria-pressed", dark ? "true" : "false");
      toggle.setAttribute("aria-label", dark ? "Switch to light theme" : "Switch to dark theme");
    };
    label();
    toggle.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      try { localStorage.setItem("quire-theme", next); } catch (e) {}
      label();
    });
  }

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
    var render = function () {
      var body = new URLSearchParams({ csrf_token: token, body: source.value });
      fetch("/preview", { method: "POST", body: body, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { output.innerHTML = html; })
        .catch(function () {});
    };
    var layout = function () {
      if (narrow.matches) {
        editor.classList.remove("live");
        button.textContent = target.hidden ? "Show preview" : "Hide preview";
      } else {
        editor.classList.add("live");
        target.hidden = false;
        button.textContent = "Refresh preview";
      }
    };
    layout();
    narrow.addEventListener("change", layout);
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

    // Tag suggestions complete the tag being typed, keeping the ones before it.
    var tags = editor.querySelector("[data-tag-input]");
    var list = document.getElementById(tags.getAttribute("list"));
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
})();
