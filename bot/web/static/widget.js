/* crmbot chat widget: <script src="https://bot.example/widget.js" defer></script>
 *
 * No framework, no build step. Options (attributes of the script tag):
 *   data-lang="sv"        language of the widget (default: the page's <html lang>, then the browser)
 *   data-open="chat"      open the chat at once; "feedback" opens the rating form
 *   data-context="…"      text put in the empty message box the first time the chat opens
 *                         (the help center: "I read “Returns” and still need help: ")
 * Host pages may call window.crmbotWidget.open(), .close(), .openFeedback().
 * The "News" toggle in the header turns announcements on and off: it sends the bc:subscribe /
 * bc:stop buttons as chat messages (stored once, confirmed by the bot), and shows the consent
 * the server reports (session frame, then "news" frames after any change, e.g. a typed /stop).
 *
 * Delivery: every message gets a browser id; it stays in localStorage until the server acks it
 * (after the message is stored), and is resent after a reconnect; the server drops repeats.
 * The server sends the conversation log by increasing id; we ask for "everything after the last
 * id we saw", so a reload or a network drop shows every message once.
 * Everything customers or staff wrote is rendered with textContent, never as HTML.
 */
(function () {
  "use strict";
  if (window.crmbotWidget) return;
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src, location.href).origin;
  var wsBase = base.replace(/^http/, "ws");
  var storeKey = "crmbot-widget:" + base;
  var lang = script.getAttribute("data-lang") || document.documentElement.lang ||
    navigator.language || "";
  var openMode = script.getAttribute("data-open") || "";
  var context = script.getAttribute("data-context") || "";

  var state = load();
  var ui = null, texts = {}, socket = null, cursor = 0, seen = {}, retryDelay = 500;
  var maxChars = 4000, typingTimer = null, resendTimer = null, isOpen = false;

  function load() {
    try {
      var data = JSON.parse(localStorage.getItem(storeKey) || "{}");
      return { token: data.token || "", pending: Array.isArray(data.pending) ? data.pending : [] };
    } catch (e) {
      return { token: "", pending: [] };
    }
  }
  function save() {
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (e) { /* private mode */ }
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* ---------- building the widget ---------- */
  function icon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }
  function build() {
    var host = el("div", { id: "crmbot-widget" });
    document.body.appendChild(host);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    root.appendChild(el("link", { rel: "stylesheet", href: base + "/widget.css" }));
    var launcher = el("button", { type: "button", "class": "launcher", "aria-expanded": "false",
      "aria-controls": "crmbot-panel", "aria-label": texts.open, title: texts.open });
    launcher.appendChild(icon());
    var panel = el("section", { id: "crmbot-panel", "class": "panel", role: "dialog",
      "aria-labelledby": "crmbot-title", hidden: "" });
    var header = el("header", { "class": "header" });
    header.appendChild(el("h2", { id: "crmbot-title" }, texts.title));
    var rate = el("button", { type: "button", "class": "link", "data-action": "feedback" },
      texts.feedback);
    var close = el("button", { type: "button", "class": "close", "aria-label": texts.close,
      title: texts.close }, "×");
    var news = el("button", { type: "button", "class": "link news", "data-action": "news",
      "aria-pressed": "false", title: texts.news_hint }, texts.news);
    header.appendChild(news);
    header.appendChild(rate);
    header.appendChild(close);
    var status = el("div", { "class": "status", role: "status", "aria-live": "polite" });
    var log = el("div", { "class": "log", role: "log", "aria-live": "polite",
      "aria-label": texts.title, tabindex: "0" });
    var typing = el("div", { "class": "typing", hidden: "", "aria-live": "polite" }, texts.typing);
    var form = el("form", { "class": "compose" });
    var label = el("label", { "for": "crmbot-input", "class": "sr-only" }, texts.message_label);
    var input = el("textarea", { id: "crmbot-input", rows: "1", placeholder: texts.placeholder,
      maxlength: String(maxChars), autocomplete: "off" });
    var send = el("button", { type: "submit", "class": "send" }, texts.send);
    var error = el("div", { "class": "error", role: "alert" });
    form.appendChild(label); form.appendChild(input); form.appendChild(send);
    var chatView = el("div", { "class": "chat-view" });
    [status, log, typing, error, form].forEach(function (n) { chatView.appendChild(n); });
    var feedbackView = buildFeedback();
    panel.appendChild(header); panel.appendChild(chatView); panel.appendChild(feedbackView.node);
    root.appendChild(panel); root.appendChild(launcher);

    launcher.addEventListener("click", function () { isOpen ? hide() : show("chat"); });
    close.addEventListener("click", hide);
    rate.addEventListener("click", function () { showView("feedback"); });
    news.addEventListener("click", function () {
      var on = news.getAttribute("aria-pressed") !== "true";
      setNews(on);
      queue({ type: "button", id: newId(), data: on ? "bc:subscribe" : "bc:stop",
        label: on ? texts.news_on : texts.news_off });
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && isOpen) hide();
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      if (text.length > maxChars) { showError(texts.error_generic); return; }
      input.value = "";
      error.textContent = "";
      queue({ type: "message", id: newId(), text: text });
    });
    ui = { host: host, root: root, launcher: launcher, panel: panel, log: log, input: input,
      status: status, typing: typing, error: error, chatView: chatView, feedback: feedbackView,
      rate: rate, news: news };
  }

  function buildFeedback() {
    var node = el("form", { "class": "feedback-view", hidden: "" });
    node.appendChild(el("h3", {}, texts.feedback_title));
    var fieldset = el("fieldset", { "class": "stars" });
    fieldset.appendChild(el("legend", {}, texts.rating_label));
    for (var n = 1; n <= 5; n++) {
      var id = "crmbot-star-" + n;
      var radio = el("input", { type: "radio", name: "rating", value: String(n), id: id });
      var lab = el("label", { "for": id, title: texts.stars.replace("{n}", n) });
      lab.appendChild(el("span", { "aria-hidden": "true" }, "★"));
      lab.appendChild(el("span", { "class": "sr-only" }, texts.stars.replace("{n}", n)));
      fieldset.appendChild(radio); fieldset.appendChild(lab);
    }
    node.appendChild(fieldset);
    node.appendChild(el("label", { "for": "crmbot-fb-text" }, texts.feedback_text));
    var text = el("textarea", { id: "crmbot-fb-text", rows: "3", maxlength: String(maxChars) });
    node.appendChild(text);
    node.appendChild(el("label", { "for": "crmbot-fb-email" }, texts.feedback_email));
    var email = el("input", { id: "crmbot-fb-email", type: "email", autocomplete: "email" });
    node.appendChild(email);
    var message = el("p", { "class": "fb-message", role: "status", "aria-live": "polite" });
    var submit = el("button", { type: "submit", "class": "send" }, texts.feedback_submit);
    var back = el("button", { type: "button", "class": "link" }, texts.back_to_chat);
    node.appendChild(message); node.appendChild(submit); node.appendChild(back);
    back.addEventListener("click", function () { showView("chat"); });
    node.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var checked = node.querySelector("input[name=rating]:checked");
      if (!checked) { message.textContent = texts.error_rating; return; }
      queue({ type: "feedback", id: newId(), rating: Number(checked.value),
        text: text.value.trim(), email: email.value.trim() || null });
      message.textContent = texts.sending;
      submit.disabled = true;
    });
    return { node: node, message: message, submit: submit, text: text, email: email };
  }

  function show(view) {
    isOpen = true;
    ui.panel.hidden = false;
    ui.launcher.setAttribute("aria-expanded", "true");
    showView(view || "chat");
  }
  function hide() {
    isOpen = false;
    ui.panel.hidden = true;
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.focus();
  }
  function showView(view) {
    var feedback = view === "feedback";
    ui.chatView.hidden = feedback;
    ui.feedback.node.hidden = !feedback;
    ui.rate.hidden = feedback;
    if (feedback) {
      ui.feedback.message.textContent = "";
      ui.feedback.submit.disabled = false;
      var first = ui.feedback.node.querySelector("input[name=rating]");
      if (first) first.focus();
    } else {
      if (context && !ui.input.value) ui.input.value = context;
      context = "";
      greet();
      ui.input.focus();
      ui.log.scrollTop = ui.log.scrollHeight;
    }
  }
  /* An empty chat says hello first (shown only, never stored or sent). */
  function greet() {
    if (!texts.greeting || ui.log.querySelector(".msg")) return;
    var item = bubble("bot", texts.greeting);
    item.className += " greeting";
    ui.log.appendChild(item);
  }
  function showError(text) { ui.error.textContent = text; }
  function setNews(on) { ui.news.setAttribute("aria-pressed", on ? "true" : "false"); }

  /* ---------- rendering ---------- */
  function senderLabel(sender, agent) {
    if (sender === "customer") return texts.you;
    if (sender === "agent") return agent ? texts.agent + " " + agent : texts.agent;
    return texts.bot;
  }
  function bubble(sender, text, agent) {
    var item = el("div", { "class": "msg msg-" + sender });
    item.appendChild(el("span", { "class": "sender" }, senderLabel(sender, agent) + ": "));
    item.appendChild(el("span", { "class": "text" }, text));
    return item;
  }
  function renderRow(row) {
    if (seen[row.id]) return;
    seen[row.id] = true;
    cursor = Math.max(cursor, row.id);
    if (row.client_id) {
      var pending = ui.log.querySelector('[data-client-id="' + row.client_id + '"]');
      if (pending) pending.remove();
    }
    var item = bubble(row.sender, row.text, row.agent);
    item.setAttribute("data-id", String(row.id));
    (row.buttons || []).forEach(function (buttons) { item.appendChild(renderButtons(buttons)); });
    ui.log.appendChild(item);
    if (row.sender !== "customer") setTyping(false);
    ui.log.scrollTop = ui.log.scrollHeight;
  }
  function renderButtons(buttons) {
    var row = el("div", { "class": "buttons" + (buttons.length >= 4 ? " scale" : "") });
    buttons.forEach(function (b) {
      var node;
      if (b.url && /^https?:\/\//i.test(b.url)) {
        node = el("a", { href: b.url, target: "_blank", rel: "noopener noreferrer",
          "class": "button" }, b.label);
      } else if (b.data) {
        node = el("button", { type: "button", "class": "button" }, b.label);
        node.addEventListener("click", function () {
          queue({ type: "button", id: newId(), data: b.data, label: b.label });
        });
      } else {
        return;
      }
      row.appendChild(node);
    });
    return row;
  }
  function renderPending(item) {
    if (item.type === "feedback") return;
    if (ui.log.querySelector('[data-client-id="' + item.id + '"]')) return;
    var node = bubble("customer", item.type === "button" ? item.label : item.text);
    node.classList.add("pending");
    node.setAttribute("data-client-id", item.id);
    node.appendChild(el("span", { "class": "sr-only" }, " " + texts.sending));
    ui.log.appendChild(node);
    ui.log.scrollTop = ui.log.scrollHeight;
  }
  function setTyping(on) {
    clearTimeout(typingTimer);
    ui.typing.hidden = !on;
    if (on) typingTimer = setTimeout(function () { ui.typing.hidden = true; }, 15000);
  }

  /* ---------- delivery ---------- */
  function queue(item) {
    state.pending.push(item);
    save();
    renderPending(item);
    transmit(item);
  }
  function transmit(item) {
    if (socket && socket.readyState === 1 && socket.ready) socket.send(JSON.stringify(item));
  }
  function settle(id) {
    var before = state.pending.length;
    state.pending = state.pending.filter(function (p) { return p.id !== id; });
    if (state.pending.length !== before) save();
  }
  function onAck(frame) {
    var item = state.pending.find(function (p) { return p.id === frame.id; });
    settle(frame.id);
    if (item && item.type === "feedback") {
      ui.feedback.message.textContent = texts.feedback_sent;
      ui.feedback.text.value = "";
    }
  }
  function onError(frame) {
    var item = state.pending.find(function (p) { return p.id === frame.id; });
    if (frame.code === "rate_limited" && item) {
      showError(frame.message);
      clearTimeout(resendTimer);
      resendTimer = setTimeout(resendAll, (frame.retry_after || 5) * 1000);
      return;
    }
    if (item) {
      settle(item.id);
      var node = ui.log.querySelector('[data-client-id="' + item.id + '"]');
      if (node) node.remove();
      if (item.type === "message" && !ui.input.value) ui.input.value = item.text;
      if (item.type === "feedback") {
        ui.feedback.message.textContent = frame.message;
        ui.feedback.submit.disabled = false;
        return;
      }
    }
    showError(frame.message);
  }
  function resendAll() { state.pending.forEach(transmit); }

  /* The browser's IANA time zone: the bot states opening hours on the customer's clock. */
  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  function connect() {
    var url = wsBase + "/chat/ws?since=" + cursor + "&lang=" + encodeURIComponent(lang) +
      "&tz=" + encodeURIComponent(browserZone()) +
      (state.token ? "&token=" + encodeURIComponent(state.token) : "");
    var ws = new WebSocket(url);
    socket = ws;
    ui.status.textContent = texts.connecting;
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame.type === "session") {
        state.token = frame.token; save();
        maxChars = frame.max_chars || maxChars;
        ui.input.setAttribute("maxlength", String(maxChars));
        setNews(!!frame.news);
      } else if (frame.type === "news") {
        setNews(!!frame.on);
      } else if (frame.type === "message") {
        renderRow(frame);
      } else if (frame.type === "synced") {
        ws.ready = true;
        retryDelay = 500;
        ui.status.textContent = "";
        ui.host.setAttribute("data-state", "online");
        state.pending.forEach(renderPending);
        resendAll();
      } else if (frame.type === "ack") {
        onAck(frame);
      } else if (frame.type === "error") {
        onError(frame);
      } else if (frame.type === "typing") {
        setTyping(true);
      }
    };
    ws.onclose = function (ev) {
      if (socket !== ws) return;
      socket = null;
      ui.host.setAttribute("data-state", "offline");
      if (ev.code === 4401) {
        state.token = ""; save(); /* not our token (e.g. the secret was rotated): start anew */
        cursor = 0;
        retryDelay = 500;
      }
      ui.status.textContent = texts.offline;
      setTimeout(connect, retryDelay * (0.5 + Math.random() / 2));
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  function start() {
    var q = "/chat/ui?lang=" + encodeURIComponent(lang);
    fetch(base + q).then(function (r) {
      if (!r.ok) throw new Error("widget texts: HTTP " + r.status);
      return r.json();
    }).then(function (body) {
      texts = body.texts;
      build();
      connect();
      window.addEventListener("online", function () { if (!socket) connect(); });
      if (openMode === "chat" || openMode === "feedback") show(openMode);
    }).catch(function (err) {
      if (window.console) console.warn("crmbot widget:", err);
    });
  }

  window.crmbotWidget = {
    open: function () { if (ui) show("chat"); },
    close: function () { if (ui) hide(); },
    openFeedback: function () { if (ui) show("feedback"); }
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
