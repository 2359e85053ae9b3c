/* omnichat web-site widget: <script src="https://chat.example/widget.js" data-channel="ID" async></script>
   Adds a chat button; the chat itself runs in an iframe served by omnichat. No dependencies. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || window.__omnichatWidget) { return; }
  window.__omnichatWidget = true;
  var channel = me.getAttribute("data-channel");
  var base = new URL(me.src, location.href).origin;
  if (!/^\d+$/.test(channel || "")) { console.warn("omnichat widget: data-channel is missing"); return; }

  function start(info) {
    var cfg = info.config;
    var side = cfg.position === "left" ? "left" : "right";
    var btn = document.createElement("button");
    btn.type = "button";
    btn.id = "omnichat-widget-button";
    btn.setAttribute("aria-label", cfg.title);
    btn.textContent = "\uD83D\uDCAC";
    var bs = btn.style;
    bs.position = "fixed"; bs.bottom = "20px"; bs[side] = "20px"; bs.zIndex = "2147483646";
    bs.width = "56px"; bs.height = "56px"; bs.borderRadius = "50%"; bs.border = "0";
    bs.background = cfg.color; bs.color = "#fff"; bs.fontSize = "26px"; bs.cursor = "pointer";
    bs.boxShadow = "0 4px 14px rgba(0,0,0,.25)";

    var frame = null;
    btn.addEventListener("click", function () {
      if (!frame) {
        frame = document.createElement("iframe");
        frame.id = "omnichat-widget-frame";
        frame.title = cfg.title;
        frame.src = info.frame;
        frame.setAttribute("allow", "clipboard-write");
        frame.addEventListener("load", function () { frame.setAttribute("data-loaded", "true"); });
        var fs = frame.style;
        fs.position = "fixed"; fs.bottom = "88px"; fs[side] = "20px"; fs.zIndex = "2147483647";
        fs.width = "360px"; fs.maxWidth = "calc(100vw - 40px)"; fs.height = "520px"; fs.maxHeight = "calc(100vh - 120px)";
        fs.border = "0"; fs.borderRadius = "12px"; fs.background = "#fff";
        fs.boxShadow = "0 8px 30px rgba(0,0,0,.25)";
        document.body.appendChild(frame);
        return;
      }
      frame.style.display = frame.style.display === "none" ? "" : "none";
    });
    document.body.appendChild(btn);
  }

  fetch(base + "/widget/api/" + channel + "/config", { credentials: "omit" })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (info) {
      document.documentElement.setAttribute("data-omnichat-widget", "ready");
      if (document.body) { start(info); } else { document.addEventListener("DOMContentLoaded", function () { start(info); }); }
    })
    .catch(function (e) {
      document.documentElement.setAttribute("data-omnichat-widget", "unavailable");
      console.warn("omnichat widget: not available on this site (" + e.message + ")");
    });
})();
