// Shows whether live updates are flowing; agents (and tests) can see it.
document.addEventListener("htmx:wsOpen", function (event) {
  event.detail.elt.setAttribute("data-live", "connected");
});
document.addEventListener("htmx:wsClose", function (event) {
  event.detail.elt.setAttribute("data-live", "reconnecting");
});

// A live socket that drops (the server restarted, the socket fell behind or failed) comes
// back by itself: the htmx extension reconnects on 1006, 1011, 1012 and 1013. Meanwhile the
// agent is told so; once it is back the page fetches itself and swaps in what it may have
// missed, and says so (texts in the reader's language, from #live-note).
var RECONNECTING_CODES = [1006, 1011, 1012, 1013];
var LIVE_REGIONS = ["ticket-rows", "views", "ticket-status", "ticket-fields", "ticket-sla",
  "messages", "board", "chat-lists", "chat-visitor", "chat-read", "chat-ended"];
var noteTimer = null;
var refreshing = null;
function liveNote(kind) {
  var note = document.getElementById("live-note");
  if (!note) return;
  clearTimeout(noteTimer);
  note.textContent = note.getAttribute("data-" + kind) || "";
  note.setAttribute("data-state", kind);
  note.hidden = false;
  if (kind === "restored") noteTimer = setTimeout(function () { note.hidden = true; }, 6000);
}
function refreshLiveRegions() {
  if (refreshing) return refreshing;
  refreshing = fetch(window.location.href, { credentials: "same-origin" })
    .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer.status); })
    .then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      LIVE_REGIONS.forEach(function (id) {
        var shown = document.getElementById(id), now = fresh.getElementById(id);
        if (!shown || !now || (id === "ticket-fields" && fieldsTouched(shown))) return;
        var copy = document.importNode(now, true);
        shown.replaceWith(copy);
        htmx.process(copy);
      });
      chatPlaceRead();
      liveNote("restored");
    })
    .catch(function () { liveNote("reconnecting"); })
    .finally(function () { refreshing = null; });
  return refreshing;
}
document.addEventListener("htmx:wsClose", function (event) {
  var code = event.detail.event && event.detail.event.code;
  if (RECONNECTING_CODES.indexOf(code) < 0) return;
  event.detail.elt.__tresenLost = true;
  liveNote("reconnecting");
});
// Refused (1008): the session ended (signed out elsewhere, deactivated, a new password).
// Loading the page again leads to the sign-in page; at most once a minute, so a socket
// refused for another reason cannot make the page reload for ever.
document.addEventListener("htmx:wsClose", function (event) {
  var code = event.detail.event && event.detail.event.code;
  if (code !== 1008) return;
  var last = Number(sessionStorage.getItem("tresen-refused-at") || 0);
  if (Date.now() - last < 60000) return;
  sessionStorage.setItem("tresen-refused-at", String(Date.now()));
  window.location.reload();
});
document.addEventListener("htmx:wsOpen", function (event) {
  var elt = event.detail.elt;
  if (!elt.__tresenLost) { reportRows(elt, event.detail.socketWrapper); return; }
  elt.__tresenLost = false;
  refreshLiveRegions().then(function () { reportRows(elt, event.detail.socketWrapper); });
});
// A list's socket changes rows one by one: it learns from the page which rows it shows.
function reportRows(elt, socket) {
  var rows = document.getElementById("ticket-rows");
  if (!rows || !elt.contains(rows)) return;
  var ids = Array.prototype.map.call(rows.querySelectorAll("tr[id^='ticket-']"), function (row) {
    return parseInt(row.id.slice(7), 10);
  });
  socket.send(JSON.stringify({ shown: ids }), elt);
}

// A select marked data-autosubmit sends its form when changed (e.g. the presence switch);
// delegated from the document, so it works for forms htmx swaps in later too.
document.addEventListener("change", function (event) {
  var select = event.target;
  if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
    select.form.requestSubmit();
  }
});

// SLA clocks count down between updates from the server (the text of templating.duration).
function slaText(seconds) {
  var late = seconds < 0;
  var minutes = Math.floor(Math.abs(seconds) / 60);
  var days = Math.floor(minutes / 1440);
  var hours = Math.floor((minutes % 1440) / 60);
  var rest = minutes % 60;
  var parts = [];
  if (days) parts.push(days + " d");
  if (hours) parts.push(hours + " h");
  if (rest || !parts.length) parts.push(rest + " min");
  return late ? "overdue by " + parts.join(" ") : parts.join(" ") + " left";
}
function slaTick() {
  document.querySelectorAll(".sla-left[data-due]").forEach(function (element) {
    var due = Date.parse(element.getAttribute("data-due"));
    if (!isNaN(due)) element.textContent = slaText((due - Date.now()) / 1000);
  });
}
setInterval(slaTick, 20000);

// A suggested article's Insert buttons put its text (or link) into the reply at the cursor;
// the same click tells the server the article was used (hx-post on the button).
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("[data-insert]");
  var reply = document.getElementById("reply-text");
  if (!button || !reply) return;
  var text = button.getAttribute("data-insert");
  var start = reply.selectionStart || 0, end = reply.selectionEnd || 0;
  var before = reply.value.slice(0, start), after = reply.value.slice(end);
  var glue = before && !before.endsWith("\n") ? "\n\n" : "";
  reply.value = before + glue + text + after;
  reply.focus();
  reply.selectionStart = reply.selectionEnd = (before + glue + text).length;
});

// The ticket page's socket also carries what this agent does: typing in the composer
// (throttled on the server), so colleagues on the same ticket see it.
document.addEventListener("htmx:wsOpen", function (event) {
  event.detail.elt.__tresenSocket = event.detail.socketWrapper;
});
var lastTyping = 0;
document.addEventListener("input", function (event) {
  if (event.target.id !== "reply-text") return;
  var article = event.target.closest("[data-ticket]");
  var socket = article && article.__tresenSocket;
  if (!socket) return;
  // In a live chat a public reply's typing also goes to the visitor (never a note's).
  var chat = article.hasAttribute("data-chat") && chatReplying();
  if (chat) {
    clearTimeout(chatIdle);
    chatIdle = setTimeout(function () { chatStopTyping(article); }, 4000);
  }
  if (Date.now() - lastTyping < 2000) return;
  lastTyping = Date.now();
  if (chat) chatTyping = true;
  socket.send(JSON.stringify(chat ? { typing: true, reply: true } : { typing: true }), article);
});

// Live chat: Enter sends (Shift+Enter a new line), the box is ready again after sending,
// the agent's typing stops after 4 s idle or on send, and the page says what it has shown.
var chatIdle = null;
var chatTyping = false;
var chatReadSent = 0;
function chatReplying() {
  var mode = document.querySelector("#composer input[name=internal]:checked");
  return !mode || mode.value === "";
}
function chatStopTyping(article) {
  clearTimeout(chatIdle);
  if (!chatTyping) return;
  chatTyping = false;
  lastTyping = 0;
  var socket = article && article.__tresenSocket;
  if (socket) socket.send(JSON.stringify({ typing: false, reply: true }), article);
}
document.addEventListener("keydown", function (event) {
  if (event.target.id !== "reply-text" || event.key !== "Enter") return;
  if (event.shiftKey || event.isComposing || event.defaultPrevented) return;
  var form = event.target.form;
  var mentions = document.getElementById("mention-choices");
  if (!form || !form.hasAttribute("data-chat") || (mentions && !mentions.hidden)) return;
  event.preventDefault();
  if (event.target.value.trim()) form.requestSubmit();
});
document.addEventListener("change", function (event) {
  if (event.target.matches && event.target.matches("#composer input[name=internal]")) {
    chatStopTyping(document.querySelector("article[data-chat]"));
  }
});
document.addEventListener("htmx:beforeRequest", function (event) {
  if (event.detail.elt.id === "composer") chatStopTyping(document.querySelector("article[data-chat]"));
});
document.addEventListener("htmx:load", function (event) {
  var elt = event.detail.elt;
  if (elt.id === "composer" && elt.hasAttribute("data-chat")) {
    var box = document.getElementById("reply-text");
    if (box) box.focus();
  }
});
function chatMarkRead() {
  var article = document.querySelector("article[data-chat]");
  var socket = article && article.__tresenSocket;
  if (!socket || document.visibilityState !== "visible") return;
  var seen = document.querySelectorAll("#messages li.message.inbound:not(.internal)");
  if (!seen.length) return;
  var id = parseInt(seen[seen.length - 1].id.slice(8), 10);
  if (id > chatReadSent) {
    chatReadSent = id;
    socket.send(JSON.stringify({ read: id }), article);
  }
}
// "Read" under the agent's last reply once the visitor has seen it.
function chatPlaceRead() {
  var state = document.getElementById("chat-read");
  if (!state) return;
  var readId = parseInt(state.getAttribute("data-read-id") || "0", 10);
  document.querySelectorAll("#messages .chat-read-mark").forEach(function (mark) { mark.remove(); });
  var replies = document.querySelectorAll("#messages li.message.outbound:not(.internal)");
  if (!replies.length || !readId) return;
  var last = replies[replies.length - 1];
  if (parseInt(last.id.slice(8), 10) > readId) return;
  var mark = document.createElement("p");
  mark.className = "chat-read-mark";
  mark.textContent = state.getAttribute("data-label");
  last.appendChild(mark);
}
document.addEventListener("htmx:wsOpen", chatMarkRead);
document.addEventListener("htmx:wsAfterMessage", function () { chatMarkRead(); chatPlaceRead(); });
document.addEventListener("visibilitychange", chatMarkRead);
document.addEventListener("DOMContentLoaded", chatPlaceRead);
// An offered chat's time left counts down (it passes to the next agent at zero).
setInterval(function () {
  document.querySelectorAll(".offer-left[data-expires]").forEach(function (element) {
    var left = Math.max(0, Math.round((Date.parse(element.getAttribute("data-expires")) - Date.now()) / 1000));
    element.textContent = (element.getAttribute("data-label") || "{s}").replace("{s}", left);
  });
}, 1000);

// Lists: select all on the page; the bulk bar says how many are selected.
function countSelected() {
  var count = document.querySelectorAll("#ticket-rows input[name=ids]:checked").length;
  var label = document.querySelector(".selected-count");
  if (label) label.textContent = count ? count + " ✓" : "";
}
document.addEventListener("change", function (event) {
  if (event.target.matches(".select-all")) {
    document.querySelectorAll("#ticket-rows input[name=ids]").forEach(function (box) {
      box.checked = event.target.checked;
    });
  }
  if (event.target.matches(".select-all, #ticket-rows input[name=ids]")) countSelected();
});

// Keyboard: j/k move in lists, Enter opens, x selects; r reply, n note, a assign to me,
// s solve on a ticket; / search; ? the list of shortcuts. Never while typing in a field.
function typingInField(target) {
  return target.closest && target.closest("input, textarea, select, [contenteditable]");
}
function rows() {
  return Array.prototype.slice.call(document.querySelectorAll("#ticket-rows tr[data-href]"));
}
function moveCurrent(step) {
  var all = rows();
  if (!all.length) return;
  var index = all.findIndex(function (row) { return row.classList.contains("current"); });
  var next = all[Math.max(0, Math.min(all.length - 1, index < 0 ? 0 : index + step))];
  all.forEach(function (row) { row.classList.remove("current"); row.removeAttribute("aria-current"); });
  next.classList.add("current");
  next.setAttribute("aria-current", "true");
  next.scrollIntoView({ block: "nearest" });
  var link = next.querySelector("a");
  if (link) link.focus({ preventScroll: true });
}
document.addEventListener("keydown", function (event) {
  if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event.target)) return;
  var key = event.key;
  if (key === "/") {
    var search = document.getElementById("global-search");
    if (search) { event.preventDefault(); search.focus(); search.select(); }
    return;
  }
  if (key === "?") {
    var dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open) dialog.showModal();
    return;
  }
  if (key === "j" || key === "k") { event.preventDefault(); moveCurrent(key === "j" ? 1 : -1); return; }
  var current = document.querySelector("#ticket-rows tr.current");
  if (key === "Enter" && current && event.target.tagName !== "A") {
    window.location.href = current.getAttribute("data-href");
    return;
  }
  if (key === "x" && current) {
    var box = current.querySelector("input[name=ids]");
    if (box) { box.checked = !box.checked; countSelected(); }
    return;
  }
  if (key === "r" || key === "n") {
    var mode = document.querySelector("#composer input[data-key=" + key + "]");
    var reply = document.getElementById("reply-text");
    if (mode && reply) { event.preventDefault(); mode.checked = true; reply.focus(); }
    return;
  }
  if (key === "a" || key === "s") {
    var button = document.querySelector("button[data-key=" + key + "]");
    if (button) { event.preventDefault(); button.click(); }
  }
});
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-shortcuts]")) {
    var dialog = document.getElementById("shortcuts");
    if (dialog) dialog.showModal();
  }
});

// Desktop notifications, when the agent allowed them: each live note also pops up.
document.addEventListener("click", function (event) {
  if (!(event.target.matches && event.target.matches("[data-desktop-notifications]"))) return;
  if ("Notification" in window) Notification.requestPermission();
});
document.addEventListener("DOMContentLoaded", function () {
  var button = document.querySelector("[data-desktop-notifications]");
  if (button && "Notification" in window && Notification.permission !== "granted") {
    button.hidden = false;
  }
  var toasts = document.getElementById("toasts");
  if (!toasts) return;
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      change.addedNodes.forEach(function (node) {
        if (!node.getAttribute || !node.getAttribute("data-notify")) return;
        if ("Notification" in window && Notification.permission === "granted") {
          var shown = new Notification("Tresen", { body: node.getAttribute("data-notify") });
          var link = node.getAttribute("data-link");
          if (link) shown.onclick = function () { window.focus(); window.location.href = link; };
        }
        setTimeout(function () { node.remove(); }, 15000);
      });
    });
  }).observe(toasts, { childList: true, subtree: true });
});

// A live refresh of a list keeps what the agent selected and the row they were on.
var keptRows = null;
document.addEventListener("htmx:wsBeforeMessage", function () {
  var rows = document.getElementById("ticket-rows");
  if (!rows) return;
  var current = rows.querySelector("tr.current");
  keptRows = {
    checked: Array.prototype.map.call(
      rows.querySelectorAll("input[name=ids]:checked"), function (box) { return box.value; }
    ),
    current: current ? current.id : null,
  };
});
document.addEventListener("htmx:wsAfterMessage", function () {
  var rows = document.getElementById("ticket-rows");
  if (!rows || !keptRows) return;
  keptRows.checked.forEach(function (id) {
    var box = rows.querySelector("input[name=ids][value='" + id + "']");
    if (box) box.checked = true;
  });
  var current = keptRows.current && document.getElementById(keptRows.current);
  if (current) { current.classList.add("current"); current.setAttribute("aria-current", "true"); }
  keptRows = null;
  countSelected();
});

// A live update of the ticket's fields never throws away a change the agent has not saved.
function fieldsTouched(form) {
  return Array.prototype.some.call(form.elements, function (field) {
    if (!field.name || field.type === "hidden") return false;
    if (field.tagName === "SELECT") {
      // As loaded: the option marked selected, or the first when none is.
      var initial = Array.prototype.findIndex.call(field.options, function (option) {
        return option.defaultSelected;
      });
      return field.selectedIndex !== (initial < 0 ? 0 : initial);
    }
    return field.value !== field.defaultValue;
  });
}
document.addEventListener("htmx:oobBeforeSwap", function (event) {
  var form = event.detail.target;
  if (!form || form.id !== "ticket-fields") return;
  if (fieldsTouched(form)) event.detail.shouldSwap = false;
});

// @mentions: typing "@" and a few letters in the composer offers matching colleagues;
// a click, Enter or Tab puts their handle in.
function mentionQuery(textarea) {
  var before = textarea.value.slice(0, textarea.selectionStart);
  var match = /(^|\s)@([\w.+-]*)$/.exec(before);
  return match ? { word: match[2], start: before.length - match[2].length - 1 } : null;
}
function showMentions(textarea) {
  var list = document.getElementById("mention-choices");
  if (!list) return;
  var query = mentionQuery(textarea);
  var people = JSON.parse(textarea.getAttribute("data-people") || "[]");
  list.innerHTML = "";
  if (!query) { list.hidden = true; return; }
  var word = query.word.toLowerCase();
  people.filter(function (person) {
    return person.handle.toLowerCase().indexOf(word) === 0 || person.name.toLowerCase().indexOf(word) === 0
      || person.name.toLowerCase().indexOf(" " + word) > 0;
  }).slice(0, 6).forEach(function (person, index) {
    var item = document.createElement("li");
    item.setAttribute("role", "option");
    item.setAttribute("data-handle", person.handle);
    item.setAttribute("aria-selected", index === 0 ? "true" : "false");
    item.textContent = person.name + " (@" + person.handle + ")";
    list.appendChild(item);
  });
  list.hidden = !list.children.length;
}
function insertMention(textarea, handle) {
  var query = mentionQuery(textarea);
  if (!query) return;
  var after = textarea.value.slice(textarea.selectionStart);
  var before = textarea.value.slice(0, query.start) + "@" + handle + " ";
  textarea.value = before + after;
  textarea.focus();
  textarea.selectionStart = textarea.selectionEnd = before.length;
  document.getElementById("mention-choices").hidden = true;
}
document.addEventListener("input", function (event) {
  if (event.target.id === "reply-text") showMentions(event.target);
});
document.addEventListener("keydown", function (event) {
  var list = document.getElementById("mention-choices");
  if (event.target.id !== "reply-text" || !list || list.hidden) return;
  var options = Array.prototype.slice.call(list.children);
  var index = options.findIndex(function (o) { return o.getAttribute("aria-selected") === "true"; });
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    var next = (index + (event.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
    options.forEach(function (o, i) { o.setAttribute("aria-selected", i === next ? "true" : "false"); });
  } else if ((event.key === "Enter" || event.key === "Tab") && index >= 0) {
    event.preventDefault();
    insertMention(event.target, options[index].getAttribute("data-handle"));
  } else if (event.key === "Escape") {
    list.hidden = true;
  }
});
document.addEventListener("mousedown", function (event) {
  var option = event.target.closest && event.target.closest("#mention-choices [data-handle]");
  if (!option) return;
  event.preventDefault();  // keep the focus (and the cursor) in the textarea
  insertMention(document.getElementById("reply-text"), option.getAttribute("data-handle"));
});

// A button marked data-copy="ID" copies the text of the field with that id (the chat embed
// line, a secret shown once) and says so on itself (data-copied) for two seconds.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  var label = button.getAttribute("data-label") || button.textContent;
  button.setAttribute("data-label", label);
  function copied() {
    button.textContent = button.getAttribute("data-copied") || label;
    setTimeout(function () { button.textContent = label; }, 2000);
  }
  field.focus();
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(copied, function () {
      if (document.execCommand("copy")) copied();
    });
  } else if (document.execCommand("copy")) {
    copied();
  }
});

// The main menu on narrow screens (base.html, H8): the "Menu" button shows and hides it.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest(".menu-button");
  if (!button) return;
  var open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", open ? "true" : "false");
  document.body.classList.toggle("nav-open", open);
});
