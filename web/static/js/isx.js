/* ISX pages: the small behaviour HTMX does not cover. No inline scripts anywhere (strict CSP);
   everything here is wired by event delegation on the document. */
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }

  // --- material picker: choose an option, fill the hidden id and the unit -------------------------------
  function closeOptions(prefix) {
    var list = byId(prefix + "material-options");
    var search = byId(prefix + "material-search");
    if (list) { list.innerHTML = ""; }
    if (search) { search.setAttribute("aria-expanded", "false"); }
  }

  function choose(option) {
    var p = option.dataset.target;
    var hidden = byId(p + "material");
    var search = byId(p + "material-search");
    var unit = byId(p + "unit");
    var hint = byId(p + "material-unit");
    if (hidden) { hidden.value = option.dataset.material; }
    if (search) { search.value = option.dataset.label; }
    if (unit && option.dataset.unit) { unit.value = option.dataset.unit; }
    if (hint) { hint.textContent = option.dataset.unitText; }
    closeOptions(p);
    if (search) { search.focus(); }
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest(".material-option");
    if (option) { choose(option); }
  });

  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[role=combobox]")) {
      var list = byId(el.getAttribute("aria-controls"));
      var first = list && list.querySelector(".material-option");
      if (event.key === "ArrowDown" && first) { event.preventDefault(); first.focus(); }
      if (event.key === "Escape" && list) { closeOptions(el.id.replace(/material-search$/, "")); }
      if (event.key === "Enter") { event.preventDefault(); if (first) { choose(first); } }
      return;
    }
    if (el.classList && el.classList.contains("material-option")) {
      var sibling = null;
      if (event.key === "ArrowDown") { sibling = el.nextElementSibling; }
      if (event.key === "ArrowUp") { sibling = el.previousElementSibling || byId(el.dataset.target + "material-search"); }
      if (event.key === "Escape") { closeOptions(el.dataset.target); byId(el.dataset.target + "material-search").focus(); }
      if (sibling) { event.preventDefault(); sibling.focus(); }
    }
  });

  // Typing in the search box forgets an earlier choice until a new option is picked.
  document.addEventListener("input", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[role=combobox]")) {
      var hidden = byId(el.id.replace(/-search$/, ""));
      if (hidden) { hidden.value = el.value.trim(); }
    }
  });

  // --- after HTMX swaps ---------------------------------------------------------------------------------
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("picker-options")) {
      var box = document.querySelector("[aria-controls='" + target.id + "']");
      if (box) { box.setAttribute("aria-expanded", target.children.length ? "true" : "false"); }
      return;
    }
    // A form came back with errors: put the keyboard on the first bad field.
    var root = event.detail.elt && event.detail.elt.isConnected ? event.detail.elt : document;
    var bad = (root.querySelector ? root : document).querySelector("[aria-invalid=true]");
    if (event.detail.xhr && event.detail.xhr.status === 422 && bad) { bad.focus(); }
  });

  function flash(text, kind) {
    var box = byId("flash");
    if (!box) { return; }
    box.textContent = text;
    box.className = "flash show " + (kind || "error");
    window.clearTimeout(flash.timer);
    flash.timer = window.setTimeout(function () { box.className = "flash"; }, 8000);
  }

  // Refusals (403, 404, 409) are not swapped into the page: their message is shown in the flash area.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var text = (doc.body && doc.body.textContent || "").replace(/\s+/g, " ").trim();
    flash(text || (xhr.status + " " + xhr.statusText));
  });
  document.addEventListener("htmx:sendError", function () {
    flash(document.body.dataset.locale === "en" ? "The server could not be reached." : "无法连接服务器。");
  });
})();
