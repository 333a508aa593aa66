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

  // The browser's time zone, for times the server shows and reads (the
  // editor's "Publish at"), unless the member chose one in their settings.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // IANA names ("America/New_York") are plain cookie characters.
    if (zone && /^[A-Za-z0-9_+\/-]+$/.test(zone) && document.cookie.indexOf("quire_tz=" + zone) === -1) {
      document.cookie = "quire_tz=" + zone + "; path=/; max-age=31536000; samesite=lax" +
        (location.protocol === "https:" ? "; secure" : "");
    }
  } catch (e) {}

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

  // Code blocks (highlighted by the server): the language above each, and
  // a button that copies the code.
  document.querySelectorAll(".prose pre > code").forEach(function (code) {
    var pre = code.parentNode;
    var language = /(?:^|\s)language-(\S+)/.exec(code.className);
    if (!language && !navigator.clipboard) return;
    var block = document.createElement("div");
    block.className = "code-block";
    var bar = document.createElement("div");
    bar.className = "code-bar";
    var label = document.createElement("span");
    label.textContent = language ? language[1] : "";
    bar.appendChild(label);
    if (navigator.clipboard) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = "Copy";
      var done = null;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(code.textContent).then(function () {
          button.textContent = "Copied";
        }, function () {
          button.textContent = "Not copied";
        });
        clearTimeout(done);
        done = setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
      bar.appendChild(button);
    }
    pre.parentNode.insertBefore(block, pre);
    block.appendChild(bar);
    block.appendChild(pre);
  });

  // Confirm before destructive inline forms (the server still asks on pages).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  // Images dropped or pasted into a Markdown text (a post's body, a
  // comment), or chosen in the editor's file input, are uploaded one after
  // another as the media page's form would upload them, each with a
  // progress bar. A placeholder holds each one's place at the cursor, so
  // that typing meanwhile moves nothing; it becomes the image's Markdown,
  // whose alt text the author is asked to write.
  var uploads = 0;
  document.querySelectorAll("textarea[data-images]").forEach(function (area) {
    var form = area.form;
    var token = form.querySelector("input[name=csrf_token]").value;
    var input = form.querySelector("[data-image-input]");
    var queue = [];
    var busy = false;
    // A text keeps its cursor while the author is elsewhere (in the file
    // input, say); until they have been in it, it has none worth keeping.
    var visited = false;
    area.addEventListener("focus", function () {
      visited = true;
    });

    var hint = document.createElement("p");
    hint.className = "hint image-hint";
    hint.id = area.id + "-images-hint";
    hint.textContent = "Paste or drop images into the text to add them.";
    var panel = document.createElement("div");
    panel.className = "image-uploads";
    var nudge = document.createElement("p");
    nudge.className = "notice";
    nudge.setAttribute("role", "status");
    nudge.hidden = true;
    nudge.textContent = "Describe this image for people who cannot see it: write what it shows between the brackets of its ![](…).";
    var problems = document.createElement("div");
    area.after(hint, panel, nudge, problems);
    var described = area.getAttribute("aria-describedby");
    area.setAttribute("aria-describedby", (described ? described + " " : "") + hint.id);

    // Inserting text is no typing: the live preview hears of it all the same.
    var put = function (text, start, end, mode) {
      area.setRangeText(text, start, end, mode);
      area.dispatchEvent(new Event("input", { bubbles: true }));
    };

    var next = function () {
      var job = queue.shift();
      if (!job) {
        busy = false;
        return;
      }
      busy = true;
      var data = new FormData();
      data.append("csrf_token", token);
      data.append("file", job.file, job.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/media");
      xhr.setRequestHeader("Accept", "application/json");
      job.label.textContent = "Uploading " + job.name;
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) job.bar.value = Math.round((event.loaded / event.total) * 100);
      });
      // Sent: the server checks and stores it, for a moment no bar can measure.
      xhr.upload.addEventListener("load", function () {
        job.bar.removeAttribute("value");
      });
      xhr.addEventListener("load", function () {
        var upload = null;
        if (xhr.status === 201) {
          try { upload = JSON.parse(xhr.responseText).upload; } catch (e) {}
        }
        if (upload) finish(job, "![](" + upload.url + ")");
        else {
          // Refusals come as plain words (see media::web::upload).
          var plain = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0;
          fail(job, plain && xhr.responseText ? xhr.responseText : "It could not be uploaded (error " + xhr.status + "). Try again.");
        }
      });
      xhr.addEventListener("error", function () {
        fail(job, "It could not be sent: check the connection and try again.");
      });
      xhr.send(data);
    };

    // The placeholder becomes `text` (nothing, on failure); a caret left
    // right after it goes where the author describes the image.
    var replace = function (job, text) {
      job.item.remove();
      var at = area.value.indexOf(job.placeholder);
      if (at < 0) {
        // Edited away meanwhile: the image goes where the cursor is.
        if (text) put(text, area.selectionStart, area.selectionEnd, "end");
        return;
      }
      var end = at + job.placeholder.length;
      var caretAfter = area.selectionStart === end && area.selectionEnd === end;
      put(text, at, end, "preserve");
      if (text && caretAfter) area.setSelectionRange(at + 2, at + 2);
    };
    var finish = function (job, markdown) {
      replace(job, markdown);
      nudge.hidden = false;
      next();
    };
    var fail = function (job, message) {
      replace(job, "");
      var alert = document.createElement("p");
      alert.className = "upload-error";
      alert.setAttribute("role", "alert");
      alert.textContent = job.name + ": " + message;
      problems.append(alert);
      next();
    };

    var add = function (files) {
      problems.replaceChildren();
      var placeholders = [];
      Array.prototype.forEach.call(files, function (file) {
        uploads += 1;
        // Brackets and line breaks in a name would break the placeholder up.
        var name = (file.name || "image").replace(/[\[\]()\r\n]/g, "");
        var item = document.createElement("div");
        item.className = "upload";
        var label = document.createElement("label");
        label.htmlFor = "upload-" + uploads;
        label.textContent = "Waiting to upload " + name;
        var bar = document.createElement("progress");
        bar.id = label.htmlFor;
        bar.max = 100;
        bar.value = 0;
        item.append(label, bar);
        panel.append(item);
        // Text, not an image, so that the preview shows it as words.
        var placeholder = "[Uploading " + name + " (" + uploads + ")…]";
        placeholders.push(placeholder);
        queue.push({ file: file, name: name, item: item, label: label, bar: bar, placeholder: placeholder });
      });
      // At the cursor, or at the end of a text the author has not been in.
      var start = visited ? area.selectionStart : area.value.length;
      var end = visited ? area.selectionEnd : area.value.length;
      put(placeholders.join("\n"), start, end, "end");
      if (!busy) next();
    };

    area.addEventListener("dragover", function (event) {
      if (Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      area.classList.add("dropping");
    });
    area.addEventListener("dragleave", function () {
      area.classList.remove("dropping");
    });
    area.addEventListener("drop", function (event) {
      area.classList.remove("dropping");
      if (!event.dataTransfer.files.length) return;
      event.preventDefault();
      add(event.dataTransfer.files);
    });
    area.addEventListener("paste", function (event) {
      var clip = event.clipboardData;
      // Copied text (a spreadsheet's cells come with a picture of them) is
      // pasted as text.
      if (!clip || !clip.files.length || Array.prototype.indexOf.call(clip.types, "text/plain") >= 0) return;
      event.preventDefault();
      add(clip.files);
    });
    // Chosen files go up at once; the button that sends the form is for
    // browsers without this script.
    if (input) {
      form.querySelector("[data-image-button]").hidden = true;
      input.addEventListener("change", function () {
        if (input.files.length) add(input.files);
        input.value = "";
      });
    }
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
