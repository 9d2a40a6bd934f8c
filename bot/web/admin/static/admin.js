// Small progressive enhancements: language tabs, confirmations, and the live "try it" box.
// Every page works without this file (all tabs shown, forms submit normally).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function selectTab(tab) {
    var list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) { if (on) { panel.removeAttribute("data-hidden"); } else { panel.setAttribute("data-hidden", "1"); } }
    });
    var loc = document.getElementById("try-locale");
    if (loc && tab.dataset.tab) { loc.value = tab.dataset.tab; }
  }

  document.addEventListener("click", function (ev) {
    var tab = ev.target.closest("[role=tab]");
    if (tab) { ev.preventDefault(); selectTab(tab); return; }
    var confirmer = ev.target.closest("[data-confirm]");
    if (confirmer && !window.confirm(confirmer.dataset.confirm)) { ev.preventDefault(); }
  });

  document.addEventListener("keydown", function (ev) {
    var tab = ev.target.closest && ev.target.closest("[role=tab]");
    if (!tab || (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft")) { return; }
    var tabs = Array.prototype.slice.call(tab.parentNode.querySelectorAll("[role=tab]"));
    var next = tabs[(tabs.indexOf(tab) + (ev.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    selectTab(next); next.focus();
  });

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function show(out, data) {
    out.textContent = "";
    var best = data.candidates[0];
    var head = el("p");
    var word = { answer: "Answers with", suggest: "Only suggests", fallback: "Falls back" }[data.outcome];
    head.appendChild(el("strong", "outcome-" + data.outcome, word));
    if (best && data.outcome !== "fallback") {
      head.appendChild(document.createTextNode(" " + best.entry_id + " (" + best.locale + "), confidence " + best.score.toFixed(2)));
    }
    out.appendChild(head);
    if (best && data.outcome === "answer") { out.appendChild(el("div", "answer", best.answer)); }
    if (data.outcome === "suggest") {
      var ul = el("ul");
      data.candidates.forEach(function (c) { ul.appendChild(el("li", "", c.entry_id + " — " + c.question + " (" + c.score.toFixed(2) + ")")); });
      out.appendChild(ul);
    }
  }

  document.querySelectorAll("form.try-form").forEach(function (form) {
    var out = form.parentNode.querySelector(".try-result");
    var timer = null;
    function run() {
      var text = form.elements.text.value.trim();
      if (!text) { out.textContent = ""; return; }
      var url = "/admin/try.json?" + new URLSearchParams({ text: text, locale: form.elements.locale.value });
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) { if (data.candidates) { show(out, data); } })
        .catch(function () { out.textContent = "Could not reach the server."; });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); run(); });
    form.elements.text.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 300); });
    form.elements.locale.addEventListener("change", run);
  });
})();
