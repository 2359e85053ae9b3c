/* omnichat widget chat page (runs in the iframe, same origin as omnichat's API). */
(function () {
  "use strict";
  var channel = location.pathname.split("/").pop();
  var api = "/widget/api/" + channel;
  var keyToken = "omnichat.widget." + channel + ".token";
  var keyPrechat = "omnichat.widget." + channel + ".prechat";
  var token = "", cfg = null, started = false, stream = null, loading = false, again = false;
  var $ = function (id) { return document.getElementById(id); };

  // The chat's texts. The language is the channel's "language" setting, or with "auto" the
  // first of the browser's languages that we have (most visitors write in Russian).
  var texts = {
    en: {
      title: "Chat with us", intro: "Please introduce yourself before we start.", name: "Name", phone: "Phone",
      email: "E-mail", start: "Start chat", attach: "Attach a file", placeholder: "Type a message…",
      message: "Message", send: "Send", unavailable: "The chat is not available: ", file: "file", image: "image",
      received: "received", read: "read", sent: "sent", delivered: "delivered"
    },
    ru: {
      title: "Напишите нам", intro: "Пожалуйста, представьтесь перед началом чата.", name: "Имя", phone: "Телефон",
      email: "E-mail", start: "Начать чат", attach: "Прикрепить файл", placeholder: "Напишите сообщение…",
      message: "Сообщение", send: "Отправить", unavailable: "Чат недоступен: ", file: "файл", image: "изображение",
      received: "получено", read: "прочитано", sent: "отправлено", delivered: "доставлено"
    }
  };
  var defaultTitle = texts.en.title; // the server's title when none is set
  var lang = browserLang();
  function browserLang() {
    var list = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ""];
    for (var i = 0; i < list.length; i++) {
      var l = String(list[i] || "").toLowerCase().split("-")[0];
      if (texts[l]) { return l; }
    }
    return "en";
  }
  function t(key) { return texts[lang][key] || texts.en[key] || key; }
  function translate() {
    document.documentElement.lang = lang;
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (e) { e.textContent = t(e.getAttribute("data-i18n")); });
    ["title", "placeholder", "aria-label"].forEach(function (attr) {
      Array.prototype.forEach.call(document.querySelectorAll("[data-i18n-" + attr + "]"), function (e) { e.setAttribute(attr, t(e.getAttribute("data-i18n-" + attr))); });
    });
  }

  function store(k, v) { try { if (v === null) { localStorage.removeItem(k); } else { localStorage.setItem(k, v); } } catch (e) { /* storage disabled */ } }
  function load(k) { try { return localStorage.getItem(k); } catch (e) { return null; } }
  function prechat() { try { return JSON.parse(load(keyPrechat) || "{}"); } catch (e) { return {}; } }
  function newID() {
    var b = new Uint8Array(12); crypto.getRandomValues(b);
    return "m-" + Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
  }
  function showError(msg) { var e = $("error"); e.textContent = msg || ""; e.hidden = !msg; }

  function call(method, path, body, isForm) {
    var h = { "X-Widget-Token": token };
    if (body && !isForm) { h["Content-Type"] = "application/json"; }
    return fetch(api + path, { method: method, headers: h, body: isForm ? body : (body ? JSON.stringify(body) : undefined) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) { throw new Error((j.error && j.error.message) || ("HTTP " + r.status)); }
          return j;
        });
      });
  }

  function httpURL(s) {
    if (typeof s !== "string" || /[\s\u0000-\u001f\u007f\\]/.test(s)) { return false; }
    try { var u = new URL(s); return (u.protocol === "http:" || u.protocol === "https:") && u.host !== ""; } catch (e) { return false; }
  }

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) { e.className = cls; } if (text) { e.textContent = text; } return e; }

  function render(msgs) {
    var log = $("log");
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.textContent = "";
    if (cfg.greeting) { log.appendChild(el("div", "msg greeting", cfg.greeting)); }
    msgs.forEach(function (m) {
      var d = el("div", "msg " + m.dir);
      d.setAttribute("data-id", m.id);
      if (m.dir === "out" && m.author) { d.appendChild(el("span", "who", m.author)); }
      if (m.text) { d.appendChild(el("span", "text", m.text)); }
      (m.files || []).forEach(function (f) {
        if (f.pending) { d.appendChild(el("span", "file", "\u23F3 " + (f.name || t("file")))); return; }
        if (!f.id) { d.appendChild(el("span", "file", f.name || f.kind)); return; }
        var url = api + "/files/" + f.id + "?t=" + encodeURIComponent(token);
        if (f.kind === "image") { var img = el("img"); img.src = url; img.alt = f.name || t("image"); d.appendChild(img); return; }
        var a = el("a", "file", "\uD83D\uDCCE " + (f.name || t("file"))); a.href = url; a.target = "_blank"; a.rel = "noopener"; d.appendChild(a);
      });
      if (m.buttons && m.buttons.length) {
        var bs = el("div", "buttons");
        m.buttons.forEach(function (row) {
          row.forEach(function (b) {
            if (b.url) {
              // Only http(s) addresses become links: a javascript:/data: URL would run here.
              if (!httpURL(b.url)) { bs.appendChild(el("span", "", b.text)); return; }
              var a = el("a", "", b.text); a.href = b.url; a.target = "_blank"; a.rel = "noopener noreferrer"; bs.appendChild(a); return;
            }
            var btn = el("button", "", b.text); btn.type = "button";
            btn.addEventListener("click", function () { post({ type: "button", id: newID(), data: b.data, text: b.text }); });
            bs.appendChild(btn);
          });
        });
        d.appendChild(bs);
      }
      if (m.dir === "in") { d.appendChild(el("span", "state", "\u2713 " + t(m.status))); }
      log.appendChild(d);
    });
    if (atBottom || msgs.length) { log.scrollTop = log.scrollHeight; }
  }

  function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    call("GET", "/messages").then(function (j) { render(j.messages); })
      .catch(function (e) { showError(e.message); })
      .then(function () { loading = false; if (again) { again = false; refresh(); } });
  }

  function connect() {
    if (stream || !started) { return; }
    stream = new EventSource(api + "/stream?t=" + encodeURIComponent(token));
    stream.addEventListener("message", refresh);
    stream.addEventListener("hello", refresh);
    stream.addEventListener("resync", function () { stream.close(); stream = null; setTimeout(connect, 1000); });
  }

  function post(body) {
    var p = prechat();
    body.name = p.name; body.phone = p.phone; body.email = p.email;
    return call("POST", "/messages", body).then(function () {
      showError("");
      started = true;
      connect();
      refresh();
    }).catch(function (e) { showError(e.message); throw e; });
  }

  function needsPrechat() {
    var p = prechat();
    return cfg.prechat.some(function (f) { return !p[f]; });
  }

  function showPrechat() {
    var form = $("prechat");
    cfg.prechat.forEach(function (f) { form.querySelector('[data-field="' + f + '"]').hidden = false; form.elements[f].required = true; });
    form.hidden = false;
    $("compose").hidden = true;
  }

  function setup() {
    if (cfg.language === "ru" || cfg.language === "en") { lang = cfg.language; }
    translate();
    var title = cfg.title === defaultTitle ? t("title") : cfg.title;
    $("title").textContent = title;
    document.title = title;
    $("head").style.background = cfg.color;
    $("send").style.background = cfg.color;
    if (needsPrechat()) { showPrechat(); }
    $("prechat").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var f = ev.target, p = {};
      ["name", "phone", "email"].forEach(function (k) { if (f.elements[k].value.trim()) { p[k] = f.elements[k].value.trim(); } });
      store(keyPrechat, JSON.stringify(p));
      f.hidden = true;
      $("compose").hidden = false;
      $("text").focus();
    });
    $("compose").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var t = $("text"), text = t.value.trim();
      if (!text) { return; }
      $("send").disabled = true;
      post({ type: "message", id: newID(), text: text })
        .then(function () { t.value = ""; }, function () {})
        .then(function () { $("send").disabled = false; t.focus(); });
    });
    $("text").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("compose").requestSubmit(); }
    });
    $("file").addEventListener("change", function (ev) {
      var file = ev.target.files[0];
      ev.target.value = "";
      if (!file) { return; }
      var fd = new FormData(); fd.append("file", file);
      call("POST", "/uploads", fd, true)
        .then(function (up) { return post({ type: "message", id: newID(), files: [up] }); })
        .catch(function (e) { showError(e.message); });
    });
    render([]);
    if (started) { refresh(); connect(); }
  }

  function init() {
    call("POST", "/session", { token: load(keyToken) || "" }).then(function (j) {
      token = j.token; cfg = j.config; started = j.started;
      store(keyToken, token);
      setup();
    }).catch(function (e) { showError(t("unavailable") + e.message); });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", translate); } else { translate(); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
