/*! Tresen chat widget: a website's live chat with the service desk (plain JavaScript, no build).
 * Embed: <script src="https://DESK/chat/widget.js" data-channel="PUBLIC_KEY" async></script>
 *   data-lang="de"|"en" (else the page's <html lang>, else English).
 * API: window.TresenChat.identify({user_id, user_hash, name, email, email_hash}), .open(), .close();
 *   set window.TresenChat = {identity: {...}} before the script loads to identify at once.
 * Talks to its desk only: GET /chat/KEY/config, WS /chat/KEY/socket, POST /chat/KEY/files
 *   (a site with a Content-Security-Policy lets the desk in script-src, connect-src, img-src).
 * Protocol (frames, error and close codes): the live-chat design, channels/chat/protocol.py.
 * All of it lives in the open shadow root of <div id="tresen-chat">; server text is only
 * ever set as text (never HTML).
 */
(function () {
  "use strict";
  var D = document, W = window;
  var me = D.currentScript || D.querySelector('script[data-channel][src*="/chat/widget.js"]');
  if (!me || D.getElementById("tresen-chat")) return;
  var KEY = me.getAttribute("data-channel") || "";
  var DESK = me.src.replace(/\/chat\/widget\.js.*$/, "");
  var BASE = DESK + "/chat/" + encodeURIComponent(KEY);
  function pick(v) { v = (v || "").slice(0, 2).toLowerCase(); return v === "de" || v === "en" ? v : ""; }
  var lang = pick(me.getAttribute("data-lang")) || pick(D.documentElement.lang) || "en";
  var S = {
    en: {
      open: "Open chat", unread: "Open chat ({} new messages)", unread1: "Open chat (1 new message)",
      chat: "Chat", close: "Close chat", end: "End chat", msg: "Message", send: "Send",
      typing: "{} is typing…", read: "Read", sending: "Sending…", failed: "Not sent: {}",
      name: "Name", email: "E-mail", start: "Start chat", required: "Please fill in this field.",
      bademail: "Please enter a valid e-mail address.",
      offline: "We're not online right now. Leave a message and we'll answer by e-mail.",
      wait: "Expected wait: about {} minutes", wait1: "Expected wait: about 1 minute",
      ended: "The chat has ended.", transcript: "Email me the transcript",
      sent: "Transcript sent to {}", again: "Start a new chat", rate: "How satisfied were you? Rate us",
      verify: "Verify e-mail to see your earlier conversations", code: "Code", confirm: "Confirm",
      codesent: "We sent a code to {}.", verified: "E-mail confirmed.",
      attach: "Attach file", big: "The file is too large (at most {} MB).",
      type: "This kind of file cannot be sent.", unavail: "Chat is not available.",
      verify_required: "Please confirm your e-mail address first: we sent you a code.",
      reconn: "Reconnecting…", rate_limited: "Too many messages: please wait a moment.",
      code_wrong: "The code is not right.", code_expired: "The code has expired: ask for a new one.",
      bot: "Bot", give: "Send my e-mail address",
      given: "Thank you: we will answer you by e-mail at {}.",
      long: "Your message is too long: at most {} characters. Please shorten it or send it in parts.",
      count: "{} characters"
    },
    de: {
      open: "Chat öffnen", unread: "Chat öffnen ({} neue Nachrichten)", unread1: "Chat öffnen (1 neue Nachricht)",
      chat: "Chat", close: "Chat schließen", end: "Chat beenden", msg: "Nachricht", send: "Senden",
      typing: "{} schreibt …", read: "Gelesen", sending: "Wird gesendet …", failed: "Nicht gesendet: {}",
      name: "Name", email: "E-Mail", start: "Chat starten", required: "Bitte füllen Sie dieses Feld aus.",
      bademail: "Bitte geben Sie eine gültige E-Mail-Adresse ein.",
      offline: "Wir sind gerade nicht online. Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.",
      wait: "Voraussichtliche Wartezeit: etwa {} Minuten", wait1: "Voraussichtliche Wartezeit: etwa 1 Minute",
      ended: "Der Chat wurde beendet.", transcript: "Verlauf per E-Mail senden",
      sent: "Verlauf an {} gesendet", again: "Neuen Chat beginnen", rate: "Wie zufrieden waren Sie? Bewerten Sie uns",
      verify: "E-Mail bestätigen, um frühere Gespräche zu sehen", code: "Code", confirm: "Bestätigen",
      codesent: "Wir haben einen Code an {} gesendet.", verified: "E-Mail bestätigt.",
      attach: "Datei anhängen", big: "Die Datei ist zu groß (höchstens {} MB).",
      type: "Diese Art von Datei kann nicht gesendet werden.", unavail: "Der Chat ist nicht verfügbar.",
      verify_required: "Bitte bestätigen Sie zuerst Ihre E-Mail-Adresse: Wir haben Ihnen einen Code geschickt.",
      reconn: "Verbindung wird wiederhergestellt …", rate_limited: "Zu viele Nachrichten: bitte warten Sie einen Moment.",
      code_wrong: "Der Code stimmt nicht.", code_expired: "Der Code ist abgelaufen: fordern Sie einen neuen an.",
      bot: "Bot", give: "E-Mail-Adresse senden",
      given: "Danke: Wir antworten Ihnen per E-Mail an {}.",
      long: "Ihre Nachricht ist zu lang: höchstens {} Zeichen. Bitte kürzen Sie sie oder senden Sie sie in Teilen.",
      count: "{} Zeichen"
    }
  }[lang];
  function t(k, a) { return S[k].replace("{}", a); }
  var REL = "noopener noreferrer nofollow";

  // Storage: the token (as is), the pending messages and a little state (JSON). Storage may
  // be refused (private mode, sandboxed frames): the chat then lives as long as the page.
  var SK = "tresen-chat:" + KEY;
  function get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } }
  function put(k, v) { try { if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch (e) { /* kept in memory */ } }
  function getJ(k, d) { try { return JSON.parse(get(k)) || d; } catch (e) { return d; } }
  function pend() { return getJ(SK + ":pending", []); }
  function setPend(a) { put(SK + ":pending", a.length ? JSON.stringify(a) : null); }
  function unpend(cid) { setPend(pend().filter(function (p) { return p.client_id !== cid; })); }
  // c: a conversation is open, r: newest id read here, n: start a new one, me: name/e-mail given
  var st = getJ(SK + ":state", {});
  function save() { put(SK + ":state", JSON.stringify(st)); }

  var token = get(SK), cfg = null, avail = {}, ws = null, welcomed = false, stopped = false,
    wanted = false, attempt = 0, timer, pingT, typingT, theirT, typingSent = 0, typingOn = false,
    isOpen = false, wantOpen = false, nodes = {}, cnodes = {}, lastId = 0, readSent = 0,
    agentRead = 0, rnode = null, status = st.c ? "open" : "new", visitor = {}, agent = null,
    force = null, pfDone = false, pfMode = "", codeSent = false, identity = null, wantT = false, retryT = null,
    bot = null, askE = false, askR = false;
  var host, L, B, P, AV, NM, AG, EB, AB, CN, LOG, TY, NO, PF, PNL, PN, PEL, PE, PB, VF, VL, VC, VI, VM,
    EN, RA, TS, ER, CF, TA, FI, CC, MAX = 5000;

  function h(tag, props, kids) {
    var e = D.createElement(tag);
    for (var k in props || {}) {
      var v = props[k];
      if (k === "text") e.textContent = v;
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), v);
      else if (v != null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    (kids || []).forEach(function (c) { if (c) e.appendChild(typeof c === "string" ? D.createTextNode(c) : c); });
    return e;
  }

  function icon(d) {
    var NS = "http://www.w3.org/2000/svg", svg = D.createElementNS(NS, "svg"), path = D.createElementNS(NS, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    path.setAttribute("d", d);
    svg.appendChild(path);
    return svg;
  }

  var CSS = ":host{all:initial}" +
    "*{box-sizing:border-box;margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;font-size:14px;line-height:1.4;color:#1b1f24;letter-spacing:normal;text-transform:none}" +
    "[hidden]{display:none!important}button{cursor:pointer;font:inherit}" +
    "button:focus-visible,a:focus-visible,input:focus-visible,textarea:focus-visible{outline:2px solid #1f6feb;outline-offset:2px}" +
    ".l{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:56px;height:56px;border-radius:50%;border:0;background:var(--p);color:var(--t);box-shadow:0 4px 14px rgba(0,0,0,.25);display:flex;align-items:center;justify-content:center;padding:0}" +
    ".l svg{width:26px;height:26px;fill:var(--t)}" +
    ".bd{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#d1242f;color:#fff;font-size:12px;font-weight:700;display:flex;align-items:center;justify-content:center}" +
    ".p{position:fixed;right:20px;bottom:88px;z-index:2147483001;width:370px;height:min(600px,calc(100vh - 110px));background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden}" +
    "header{background:var(--p);padding:10px 12px;display:flex;align-items:center;gap:10px}header *{color:var(--t)}" +
    ".av{width:32px;height:32px;border-radius:50%;object-fit:cover}.tt{flex:1;min-width:0}.tt b{display:block;font-weight:600}.tt span{font-size:12px}" +
    ".hb{background:none;border:1px solid var(--t);border-radius:6px;padding:2px 8px;font-size:12px}.x{background:none;border:0;font-size:22px;line-height:1;padding:2px 6px}" +
    ".cn{background:#fff8c5;padding:4px 12px;font-size:12px}" +
    ".lg{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}" +
    ".m{max-width:85%;align-self:flex-start}.m.v{align-self:flex-end;text-align:right}.m.s{align-self:center;text-align:center}" +
    ".m .b{display:inline-block;text-align:left;padding:8px 11px;border-radius:12px;background:#fff;border:1px solid #e1e4e8;white-space:pre-wrap;overflow-wrap:anywhere}" +
    ".m.v .b{background:var(--p);border-color:transparent}.m.v .b,.m.v .b *{color:var(--t)}.m.s .b{background:none;border:0;color:#57606a;font-size:12px}" +
    ".b a{color:#0b5cad;text-decoration:underline}.b img{display:block;max-width:200px;max-height:160px;border-radius:6px;margin:4px 0}" +
    ".m.bo .b{background:#eef3fb;border-color:#b9cbe6}.q{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0 0}" +
    ".q button{background:#fff;border:1px solid var(--p);color:var(--p);border-radius:14px;padding:4px 10px}.q button:disabled{opacity:.5;cursor:default}" +
    ".w,.st{display:block;font-size:12px;color:#57606a;margin:2px 4px}.m.sending .b{opacity:.6}.m.failed .st{color:#d1242f}" +
    ".ty{padding:0 12px;font-size:12px;color:#57606a;min-height:4px;background:#f6f7f9}" +
    ".f{border-top:1px solid #e1e4e8;padding:10px 12px;display:flex;flex-direction:column;gap:8px;max-height:60%;overflow-y:auto}" +
    ".no{font-size:13px;background:#f6f7f9;border-radius:8px;padding:8px}.er{color:#d1242f;font-size:13px}" +
    "form{display:flex;flex-direction:column;gap:6px}label{display:flex;flex-direction:column;gap:2px;font-size:12px;color:#57606a}" +
    "input,textarea{font:inherit;border:1px solid #c9ced6;border-radius:8px;padding:7px 9px;width:100%;background:#fff}" +
    ".bt{background:var(--p);color:var(--t);border:0;border-radius:8px;padding:8px 12px;font-weight:600}.bt *{color:var(--t)}" +
    ".lk{font-size:12px;color:#0b5cad;text-decoration:underline;background:none;border:0;padding:0;align-self:flex-start}" +
    ".cf{flex-direction:row;align-items:flex-end}.cf textarea{flex:1;resize:none;min-height:40px;max-height:120px}" +
    ".cc{font-size:12px;color:#57606a;text-align:right;margin-top:-4px}.cc.ov{color:#d1242f;font-weight:600}" +
    ".at{background:none;border:1px solid #c9ced6;border-radius:8px;width:38px;height:40px;padding:0;display:flex;align-items:center;justify-content:center}.at svg{width:20px;height:20px;fill:#57606a}" +
    "@media (max-width:480px){.p{inset:0;width:100%;height:100%;border-radius:0}}";

  function build() {
    host = h("div", { id: "tresen-chat" });
    host.style.cssText = "all:initial"; // CSSOM, not a style attribute: a strict CSP allows it
    var root = host.attachShadow({ mode: "open" });
    var box = h("div");
    var c = cfg.colors || {}, ok = /^#[0-9a-f]{3,8}$/i;
    box.style.setProperty("--p", ok.test(c.primary) ? c.primary : "#0b5cad");
    box.style.setProperty("--t", ok.test(c.text) ? c.text : "#ffffff");
    L = h("button", { type: "button", class: "l", "aria-expanded": "false", onclick: function () { if (isOpen) close(true); else open(); } });
    L.appendChild(icon("M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"));
    L.appendChild(B = h("span", { class: "bd", "aria-hidden": "true", hidden: true }));
    PN = h("input", { autocomplete: "name", maxlength: 200 });
    PE = h("input", { type: "email", autocomplete: "email", maxlength: 320 });
    VI = h("input", { inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6 });
    MAX = cfg.max_text || MAX;
    // No maxlength: the browser would cut a long paste without a word. The counter below
    // shows the length near and over the limit, and a message over it is not sent.
    CC = h("p", { class: "cc", id: "tresen-chat-count", "aria-live": "polite", hidden: true });
    TA = h("textarea", { "aria-label": S.msg, "aria-describedby": "tresen-chat-count", rows: 1, oninput: function () { count(); typing(); }, onkeydown: function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    } });
    FI = h("input", { type: "file", hidden: true, tabindex: -1, accept: (cfg.file_types || []).join(","), onchange: file });
    P = h("div", { class: "p", role: "dialog", "aria-label": S.chat, hidden: true, onkeydown: function (e) {
      if (e.key === "Escape") { e.stopPropagation(); close(true); }
    } }, [
      h("header", {}, [
        AV = h("img", { class: "av", alt: "", hidden: true }),
        h("div", { class: "tt" }, [NM = h("b", { text: cfg.name || S.chat }), AG = h("span", { hidden: true })]),
        EB = h("button", { type: "button", class: "hb", text: S.end, hidden: true, onclick: function () { frame({ type: "end" }); } }),
        h("button", { type: "button", class: "x", "aria-label": S.close, onclick: function () { close(true); } }, [h("span", { "aria-hidden": "true", text: "×" })])
      ]),
      CN = h("p", { class: "cn", "aria-live": "polite", hidden: true }),
      LOG = h("div", { class: "lg", role: "log", "aria-live": "polite" }),
      TY = h("p", { class: "ty", role: "status" }),
      h("div", { class: "f" }, [
        NO = h("p", { class: "no", hidden: true }),
        PF = h("form", { novalidate: true, onsubmit: function (e) { e.preventDefault(); if (checkPre()) { if (pfMode) transcript(); else TA.focus(); } } }, [
          PNL = h("label", {}, [S.name, PN]),
          PEL = h("label", {}, [S.email, PE]),
          PB = h("button", { type: "submit", class: "bt" })
        ]),
        VF = h("div", { hidden: true }, [
          VL = h("a", { href: "#", class: "lk", text: S.verify, onclick: function (e) {
            e.preventDefault(); err(""); frame({ type: "verify_email", email: visitor.email });
          } }),
          VM = h("p", { class: "no", hidden: true }),
          VC = h("form", { hidden: true, onsubmit: function (e) {
            e.preventDefault(); err(""); frame({ type: "verify_code", code: VI.value.trim() });
          } }, [h("label", {}, [S.code, VI]), h("button", { type: "submit", class: "bt", text: S.confirm })])
        ]),
        EN = h("div", { hidden: true }, [
          h("form", { onsubmit: function (e) { e.preventDefault(); } }, [
            h("p", { class: "no", text: S.ended }),
            RA = h("a", { class: "lk", target: "_blank", rel: "noopener", text: S.rate, hidden: true }),
            h("button", { type: "button", class: "bt", text: S.transcript, onclick: transcript }),
            TS = h("p", { class: "no", hidden: true }),
            h("button", { type: "button", class: "bt", text: S.again, onclick: again })
          ])
        ]),
        ER = h("p", { class: "er", role: "alert", hidden: true }),
        CF = h("form", { class: "cf", onsubmit: function (e) { e.preventDefault(); send(); } }, [
          AB = h("button", { type: "button", class: "at", "aria-label": S.attach, onclick: function () { FI.click(); } }, [icon("M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6h-1.5z")]),
          FI, TA,
          h("button", { type: "submit", class: "bt", text: S.send })
        ]),
        CC
      ])
    ]);
    // A constructed style sheet works under a site's CSP without 'unsafe-inline' too.
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) { box.appendChild(h("style", { text: CSS })); }
    box.appendChild(L);
    box.appendChild(P);
    root.appendChild(box);
    // With the bot on, its greeting is the conversation's first line, under its name.
    var g = bot && bot.greeting;
    if (g || cfg.greeting) LOG.appendChild(h("div", { class: "m a g" + (g ? " bo" : "") }, [
      g && h("span", { class: "w", text: bot.name || S.bot }), h("div", { class: "b", text: g || cfg.greeting })]));
    (D.body || D.documentElement).appendChild(host);
  }

  // --- messages ---------------------------------------------------------------------------
  function linkify(el, text) {
    var re = /https?:\/\/[^\s<>"']+/gi, i = 0, m;
    while ((m = re.exec(text))) {
      var u = m[0].replace(/[.,;:!?)\]}]+$/, "");
      el.appendChild(D.createTextNode(text.slice(i, m.index)));
      el.appendChild(h("a", { href: u, target: "_blank", rel: REL, text: u }));
      i = re.lastIndex = m.index + u.length;
    }
    el.appendChild(D.createTextNode(text.slice(i)));
  }
  function fileUrl(u) {
    if (typeof u !== "string") return null;
    if (u.charAt(0) === "/" && u.charAt(1) !== "/") return DESK + u; // a signed link of its own
    return /^https?:\/\//i.test(u) ? u : null;
  }
  function fill(n, m) {
    var b = n.querySelector(".b");
    b.textContent = "";
    linkify(b, m.text || "");
    (m.attachments || []).forEach(function (a) {
      var u = fileUrl(a.url);
      if (!u) return;
      var img = /^image\//.test(a.type) ? h("img", { src: u, alt: "" }) : null;
      b.appendChild(h("div", {}, [h("a", { href: u, target: "_blank", rel: REL }, [img, String(a.name || "file")])]));
    });
    if (/^https:\/\//i.test(m.image || "")) b.appendChild(h("img", { src: m.image, alt: "" }));
  }
  function node(m) {
    var who = m.from === "visitor" ? "v" : m.from === "system" ? "s" : m.from === "bot" ? "a bo" : "a";
    var n = h("div", { class: "m " + who });
    if (who !== "v" && who !== "s") n.appendChild(h("span", { class: "w", text: (m.author && m.author.name) || (who === "a" ? cfg.name : S.bot) || "" }));
    n.appendChild(h("div", { class: "b" }));
    // The bot's buttons: a click says the button's title, as if typed.
    if (who === "a bo" && m.buttons && m.buttons.length) n.appendChild(h("div", { class: "q" }, m.buttons.map(function (q) {
      return h("button", { type: "button", text: String(q.title), onclick: function () { send(String(q.title)); } });
    })));
    n._ask = who === "a bo" && m.ask === "email";
    n.appendChild(h("span", { class: "st" }));
    fill(n, m);
    return n;
  }
  function place(n) {
    var first = LOG.querySelector(".sending");
    if (first && !n.classList.contains("sending")) LOG.insertBefore(n, first); else LOG.appendChild(n);
    LOG.scrollTop = LOG.scrollHeight;
    buttons();
  }
  // Only the newest message's buttons answer it: anything said after them ends them. Once a
  // person has the conversation none do (a click would reach them as a bare "No").
  function buttons() {
    [].forEach.call(LOG.querySelectorAll(".q button"), function (b) { b.disabled = !!agent || b.parentNode.parentNode !== LOG.lastChild; });
  }
  function sending(m, placeholder) {
    var n = node({ from: "visitor", text: m.text });
    n.classList.add("sending");
    n._ph = placeholder;
    n.querySelector(".st").textContent = S.sending;
    cnodes[m.client_id] = n;
    place(n);
    return n;
  }
  function known(n, id) {
    if (n.classList.contains("sending")) { n.classList.remove("sending"); n.querySelector(".st").textContent = ""; }
    if (id) { n._id = id; nodes[id] = n; lastId = Math.max(lastId, id); }
    receipt();
  }
  function failed(n, why) {
    n.classList.remove("sending");
    n.classList.add("failed");
    n.querySelector(".st").textContent = t("failed", why);
  }
  // One node per message whatever arrives first: the ack, the echo, or the welcome after a drop.
  function add(m) {
    if (typeof m.id !== "number") return;
    var n = nodes[m.id] || (m.client_id && cnodes[m.client_id]);
    if (n) {
      if (n._ph) { fill(n, m); n._ph = false; }
      if (m.client_id) unpend(m.client_id);
    } else {
      n = node(m);
      if (m.client_id) cnodes[m.client_id] = n;
      place(n);
    }
    known(n, m.id);
    if (m.from !== "visitor") showTyping(false);
    badge();
  }
  function receipt() {
    var last = null;
    for (var c = LOG.lastChild; c; c = c.previousSibling) if (c._id && c.classList.contains("v")) { last = c; break; }
    if (rnode && rnode !== last && !rnode.classList.contains("failed")) rnode.querySelector(".st").textContent = "";
    rnode = last;
    if (last && agentRead >= last._id) last.querySelector(".st").textContent = S.read;
  }
  function reset() {
    while (LOG.lastChild && !LOG.lastChild.classList.contains("g")) LOG.removeChild(LOG.lastChild);
    nodes = {}; cnodes = {}; lastId = readSent = agentRead = 0; rnode = null; agent = null;
    visitor = {}; status = "new"; codeSent = pfDone = false; force = null; pfMode = "";
    TS.hidden = VM.hidden = true;
    pend().forEach(function (p) { sending(p); });
  }

  // --- the socket ---------------------------------------------------------------------------
  function frame(f) { if (ws && ws.readyState === 1 && welcomed) ws.send(JSON.stringify(f)); }
  function connect() {
    wanted = true;
    if (stopped) return;
    clearTimeout(timer);
    if (ws) { ws.onclose = ws.onmessage = ws.onopen = null; try { ws.close(); } catch (e) { /* gone */ } }
    welcomed = false;
    var s = ws = new WebSocket(BASE.replace(/^http/, "ws") + "/socket");
    s.onopen = function () {
      s.send(JSON.stringify({ type: "hello", token: token || null, last_id: lastId, lang: lang,
        page: String(location.href).slice(0, 2000), new: !!st.n, identity: identity }));
    };
    s.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (x) { return; }
      if (f && typeof f.type === "string" && ws === s) on(f);
    };
    s.onclose = function (e) {
      if (ws !== s) return;
      ws = null; welcomed = false; clearInterval(pingT);
      if (e.code === 1008) { stopped = true; refresh(); return; }
      // 0.5 s doubling to 15 s, ±30 % jitter: a restarted desk is not stormed by every page.
      var d = Math.min(15000, 500 * Math.pow(2, attempt++)) * (0.7 + Math.random() * 0.6);
      timer = setTimeout(connect, d);
      refresh();
    };
    refresh();
  }
  function flush() {
    var m = st.me || {};
    if ((m.name && !visitor.name) || (m.email && !visitor.email)) frame({ type: "prechat", name: m.name, email: m.email });
    pend().forEach(function (p) {
      if (!cnodes[p.client_id]) sending(p);
      frame({ type: "message", client_id: p.client_id, text: p.text });
    });
  }
  function live() { return status === "open" || status === "offline"; }
  function on(f) {
    switch (f.type) {
      case "welcome":
        welcomed = true; attempt = 0;
        if (f.token) put(SK, token = f.token);
        status = f.status; visitor = f.visitor || {}; agent = f.agent && f.agent.name ? f.agent : null;
        if (f.available) avail = f.available;
        if ("bot" in f) bot = f.bot;
        agentRead = Math.max(agentRead, f.agent_read_id || 0);
        st.c = live() ? 1 : 0; if (st.c) st.n = 0; save();
        (f.messages || []).forEach(add);
        flush();
        clearInterval(pingT);
        pingT = setInterval(function () { frame({ type: "ping" }); }, 25000);
        receipt(); markRead(); buttons(); break;
      case "message":
        // Another tab of this visitor may have begun the conversation.
        if (status === "new") { status = "open"; st.c = 1; st.n = 0; save(); }
        add(f); markRead(); break;
      case "ack":
        unpend(f.client_id);
        if (cnodes[f.client_id]) known(cnodes[f.client_id], f.id);
        if (!live()) { status = "open"; st.c = 1; st.n = 0; save(); }
        markRead(); break;
      case "typing": showTyping(f.typing, f.name); return;
      case "read": agentRead = Math.max(agentRead, f.id || 0); receipt(); return;
      case "agent": agent = f.name ? f : null; buttons(); break;
      case "visitor":
        // The address the bot asked for arrived: say so, and where the answer will go.
        if (askE && f.email && !visitor.email) place(h("div", { class: "m s" }, [h("div", { class: "b", text: t("given", f.email) }), h("span", { class: "st" })]));
        if (f.email_verified && !visitor.email_verified) { VM.textContent = S.verified; VM.hidden = false; codeSent = false; }
        visitor = f;
        // The transcript waited for the address to be confirmed: it goes now.
        if (wantT && f.email_verified) { wantT = false; frame({ type: "transcript" }); }
        break;
      case "code_sent": codeSent = true; VM.textContent = t("codesent", f.email); VM.hidden = false; refresh(); VI.focus(); return;
      case "transcript_sent": TS.textContent = t("sent", f.email); TS.hidden = false; return;
      case "ended": status = "ended"; st.c = 0;
        // Where to say how satisfied they were (the desk's own page, so only http(s)).
        // None for a chat left with the bot unresolved: nobody answered, nothing to rate.
        if (/^https?:\/\//i.test(f.rating_url || "")) st.ru = f.rating_url; else delete st.ru;
        save(); showTyping(false); break;
      case "error": error(f); break;
    }
    refresh();
  }
  function error(f) {
    // For the site's developers, not its visitors: the chat then closes as unavailable.
    if (f.code === "identity_refused") return console.warn("Tresen chat: " + f.message);
    var why = S[f.code] || f.message || f.code, n = f.client_id && cnodes[f.client_id];
    if (f.code === "prechat_required") { force = f.fields || ["email"]; pfDone = false; refresh(); focusFirst(); }
    else if (f.code === "ended") { status = "ended"; st.c = 0; save(); }
    else if (f.code === "verify_required" && visitor.email) {
      // Only a confirmed address gets the transcript: ask for the code, then send it.
      wantT = true; frame({ type: "verify_email", email: visitor.email });
    }
    else if (f.code === "invalid" && (f.field === "email" || f.field === "name")) {
      // What the visitor typed was refused: ask again instead of sending it with every hello.
      if (st.me) { delete st.me[f.field]; save(); }
      force = [f.field]; pfDone = false;
    }
    if (n && n.classList.contains("sending")) {
      if (f.code === "rate_limited" || f.code === "unavailable") {
        // One retry for all of them (flush sends every pending message again).
        clearTimeout(retryT); retryT = setTimeout(flush, (f.retry_after || 3) * 1000);
      } else if (f.code !== "prechat_required") {
        unpend(f.client_id); failed(n, why);
      }
    }
    err(why);
  }
  function err(s) { if (ER) { ER.textContent = s || ""; ER.hidden = !s; } }

  // --- what the visitor does ------------------------------------------------------------
  function newId() {
    var c = W.crypto;
    return c && c.randomUUID ? c.randomUUID().replace(/-/g, "") : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  function fields() {
    var p = cfg.prechat || {}, m = st.me || {}, r = {};
    ["name", "email"].forEach(function (k) {
      var mode = p[k] || "optional";
      if (k === "email" && (askR || (avail.available === false && !live() && !bot))) mode = "required";
      if (force && force.indexOf(k) >= 0) mode = "required";
      if ((pfMode || askE) && k === "name") mode = "off";
      r[k] = visitor[k] || m[k] ? 0 : mode === "required" ? 2 : mode === "off" ? 0 : 1;
    });
    return r;
  }
  function checkPre() {
    if (PF.hidden) return true;
    var f = fields(), n = PN.value.trim(), e = PE.value.trim();
    if (f.name === 2 && !n) { err(S.required); PN.focus(); return false; }
    if ((f.email === 2 && !e) || (e && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e))) { err(e ? S.bademail : S.required); PE.focus(); return false; }
    var m = st.me || {};
    if (n && f.name) m.name = n;
    if (e && f.email) m.email = e;
    st.me = m; save();
    if ((n && f.name) || (e && f.email)) frame({ type: "prechat", name: f.name ? n || undefined : undefined, email: f.email ? e || undefined : undefined });
    var forced = force;
    pfDone = true; force = null; err("");
    if (forced) flush();
    refresh();
    return true;
  }
  function count() {
    var n = TA.value.length;
    CC.textContent = n > MAX ? t("long", MAX) + " (" + t("count", n) + ")" : n > MAX - 500 ? n + " / " + MAX : "";
    CC.hidden = !CC.textContent;
    CC.classList.toggle("ov", n > MAX);
    return n <= MAX;
  }
  function send(x) {
    var text = typeof x === "string" ? x : TA.value;
    if (text === TA.value && !count()) { TA.focus(); return; }
    if (!text.trim() || !checkPre()) return;
    err("");
    var p = { client_id: newId(), text: text };
    setPend(pend().concat([p]));
    sending(p);
    if (text !== x) { TA.value = ""; count(); }
    stopTyping();
    if (welcomed) frame({ type: "message", client_id: p.client_id, text: text });
    else if (!ws) connect();
  }
  function typing() {
    if (!welcomed) return;
    var now = Date.now();
    if (now - typingSent >= 2000) { typingSent = now; typingOn = true; frame({ type: "typing", typing: true }); }
    clearTimeout(typingT);
    typingT = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(typingT);
    if (typingOn) { typingOn = false; typingSent = 0; frame({ type: "typing", typing: false }); }
  }
  function showTyping(on, name) {
    clearTimeout(theirT);
    TY.textContent = on ? t("typing", name || (agent && agent.name) || cfg.name) : "";
    if (on) theirT = setTimeout(showTyping, 8000, false);
  }
  function transcript() {
    if (visitor.email || (st.me && st.me.email)) { pfMode = ""; frame({ type: "transcript" }); refresh(); }
    else { pfMode = "t"; force = ["email"]; refresh(); PE.focus(); }
  }
  function again() {
    st.n = 1; st.c = 0; delete st.ru; save();
    reset();
    connect();
    refresh();
    focusFirst();
  }
  function file() {
    var f = FI.files && FI.files[0], max = cfg.max_file_bytes || 10485760;
    FI.value = "";
    if (!f) return;
    if (f.size > max) return err(t("big", Math.floor(max / 1048576)));
    if ((cfg.file_types || []).indexOf(f.type) < 0) return err(S.type);
    err("");
    var cid = newId(), n = sending({ client_id: cid, from: "visitor", text: f.name }, true);
    var body = new FormData();
    body.append("token", token || "");
    body.append("client_id", cid);
    body.append("file", f);
    fetch(BASE + "/files", { method: "POST", body: body, credentials: "omit" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        if (!r.ok) throw new Error(b.error || "HTTP " + r.status);
        if (n.classList.contains("sending")) known(n, b.id);
      });
    }).catch(function (e) { failed(n, e.message); err(e.message); });
  }

  // --- showing it -------------------------------------------------------------------------
  function markRead() {
    if (!isOpen || D.visibilityState !== "visible") return badge();
    if (lastId > (st.r || 0)) { st.r = lastId; save(); }
    if (welcomed && lastId > readSent) { readSent = lastId; frame({ type: "read", id: lastId }); }
    badge();
  }
  function badge() {
    var n = 0;
    if (!isOpen) for (var id in nodes) if (+id > (st.r || 0) && !nodes[id].classList.contains("v")) n++;
    B.textContent = n; B.hidden = !n;
    L.setAttribute("aria-label", n ? (n === 1 ? S.unread1 : t("unread", n)) : S.open);
  }
  function refresh() {
    if (!P) return;
    // The bot asked for the e-mail address: the form stays until it is given, whatever was
    // said since (a message crossing the question); required while the question is newest.
    var last = LOG.lastChild;
    askE = live() && !visitor.email && [].some.call(LOG.childNodes, function (n) { return n._ask; });
    askR = askE && !!(last && last._ask);
    var ended = status === "ended", f = fields(), w = avail.expected_wait_seconds, mins = Math.max(1, Math.round(w / 60));
    NO.textContent = stopped ? S.unavail : ended || bot ? "" : avail.available === false && !live() ? S.offline
      : w && !agent ? (mins === 1 ? S.wait1 : t("wait", mins)) : "";
    NO.hidden = !NO.textContent;
    PF.hidden = stopped || !(f.name || f.email) || !(force || askE || (pfMode ? ended : !live() && !ended && !pfDone));
    PNL.hidden = !f.name; PEL.hidden = !f.email;
    PN.required = f.name === 2; PE.required = f.email === 2;
    PB.textContent = pfMode ? S.transcript : askE ? S.give : S.start;
    CF.hidden = stopped || ended;
    if (CF.hidden) CC.hidden = true;
    EN.hidden = stopped || !ended;
    RA.hidden = !(ended && st.ru); if (st.ru) RA.href = st.ru;
    EB.hidden = stopped || !live();
    AB.hidden = !live(); // a file joins a conversation: the first message begins it
    VF.hidden = stopped || !visitor.email || (visitor.email_verified && VM.hidden);
    VL.hidden = !!visitor.email_verified;
    VC.hidden = !codeSent || !!visitor.email_verified;
    CN.textContent = !stopped && wanted && !welcomed && attempt > 0 ? S.reconn : "";
    CN.hidden = !CN.textContent;
    var av = (agent && agent.avatar_url) || cfg.avatar_url;
    AV.hidden = !(av && /^https?:\/\//i.test(av));
    if (!AV.hidden && AV.getAttribute("src") !== av) AV.src = av;
    AG.textContent = agent ? agent.name : ""; AG.hidden = !agent;
    badge();
  }
  function focusFirst() {
    var f = fields(), pre = !PF.hidden;
    var el = pre && (f.name === 2 || (pfMode && f.name)) ? PN : pre && (f.email === 2 || pfMode) ? PE : !CF.hidden ? TA : null;
    if (el) el.focus();
  }
  function open() {
    if (!P) { wantOpen = true; return; }
    isOpen = true; P.hidden = false;
    L.setAttribute("aria-expanded", "true");
    if (!wanted) connect();
    refresh();
    focusFirst();
    LOG.scrollTop = LOG.scrollHeight;
    markRead();
  }
  function close(back) {
    if (!P) { wantOpen = false; return; }
    isOpen = false; P.hidden = true;
    L.setAttribute("aria-expanded", "false");
    badge();
    if (back) L.focus();
  }
  function identify(u) {
    var was = JSON.stringify(identity);
    identity = u && u.user_id ? {
      user_id: String(u.user_id).slice(0, 200), user_hash: u.user_hash || null,
      name: u.name ? String(u.name).slice(0, 200) : null, email: u.email ? String(u.email).slice(0, 320) : null,
      email_hash: u.email_hash || null
    } : null;
    // Another person on this browser (or signed out): nothing of the last one's chat stays,
    // not its token (their files), its unsent messages nor what they typed in the form.
    var who = identity ? identity.user_id : "";
    if ((st.u || "") !== who) {
      if (st.u !== undefined) { put(SK, token = null); setPend([]); st = {}; }
      st.u = who; save();
    }
    // Another person: their conversation, not the one shown (hello carries the identity).
    if (P && was !== JSON.stringify(identity) && wanted) { reset(); connect(); refresh(); }
  }

  var before = W.TresenChat;
  W.TresenChat = { identify: identify, open: open, close: function () { close(false); } };
  if (before && before.identity) identify(before.identity);
  if (!KEY) return console.warn("Tresen chat: the script tag has no data-channel");

  fetch(BASE + "/config?lang=" + lang, { credentials: "omit" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (c) {
    cfg = c; avail = c; bot = c.bot || null;
    build();
    pend().forEach(function (p) { sending(p); });
    refresh();
    W.addEventListener("online", function () { if (wanted && !stopped && !welcomed) { attempt = 0; connect(); } });
    D.addEventListener("visibilitychange", markRead);
    // An open conversation (or unsent messages): connect now, so answers arrive and count.
    if ((token && st.c) || pend().length) connect();
    if (wantOpen) open();
  }).catch(function (e) {
    if (!cfg) console.warn("Tresen chat: not shown here (" + e.message + "); is this site on the channel's allowed origins?");
    else throw e;
  });
})();
