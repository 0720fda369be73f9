// weft-chat's page: one WebSocket to /ws, one chat line per text message each way (docs/chat.md).
// Everything shown goes through textContent, never innerHTML: a line holding markup shows as text.
"use strict";

const maxShown = 500;          // messages kept on the page; older ones are dropped
const whoRefreshMs = 30000;    // the online list is re-read this often (departure summaries name no one)
const maxBackoffMs = 5000;     // reconnection delays double from 250 ms up to this

const $ = (id) => document.getElementById(id);
const messages = $("messages");
const online = new Set();
let me = "";
let socket = null;
let backoffMs = 250;
let whoTimer = null;
let silentWho = 0;             // /who replies the page asked for itself: they update the list, unshown

function setStatus(state, text) {
  const status = $("status");
  status.className = "status " + state;
  status.textContent = text;
  document.body.dataset.state = state;   // for tests and styles
  $("send-form").querySelector("button").disabled = state !== "connected";
  $("nick-form").querySelector("button").disabled = state !== "connected";
}

function renderOnline() {
  const list = $("online");
  list.replaceChildren(...[...online].sort((a, b) => a.localeCompare(b)).map((name) => {
    const item = document.createElement("li");
    item.textContent = name;
    if (name === me) item.className = "self";
    return item;
  }));
  $("count").textContent = String(online.size);
}

function show(line) {
  const p = document.createElement("p");
  let match;
  if (line.startsWith("! ")) {
    p.className = "error";
    p.textContent = line;
  } else if (line.startsWith("* ") || line.startsWith("Welcome to the chat server, ")) {
    p.className = "notice";
    p.textContent = line;
  } else if ((match = /^(\S+): (.*)$/s.exec(line))) {
    // A message; tested first, since a message's text may itself start with "* ". Names never end in ":".
    p.className = match[1] === me ? "mine" : "";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = match[1];
    p.append(who, ": " + match[2]);
  } else if ((match = /^(\S+) \* (.*)$/s.exec(line))) {
    p.className = "action" + (match[1] === me ? " mine" : "");
    p.textContent = "* " + match[1] + " " + match[2];
  } else {
    p.textContent = line;
  }
  const atBottom = messages.scrollTop + messages.clientHeight >= messages.scrollHeight - 4;
  messages.append(p);
  while (messages.childElementCount > maxShown) messages.firstElementChild.remove();
  if (atBottom) messages.scrollTop = messages.scrollHeight;
}

// The server's notices name who came, went or was renamed; the list follows them.
function track(line) {
  let match;
  if ((match = /^Welcome to the chat server, (\S+)$/.exec(line))) {
    me = match[1];
    $("me").textContent = me;
    online.add(me);
  } else if ((match = /^\* online \((\d+)\): (.*)$/.exec(line))) {
    online.clear();
    const names = match[2].replace(/, and \d+ more$/, "");
    for (const name of names.split(", ")) if (name) online.add(name);
    if (silentWho > 0) { silentWho--; renderOnline(); return false; }
  } else if ((match = /^\* (\S+) joined$/.exec(line))) {
    online.add(match[1]);
  } else if ((match = /^\* (\S+) left( \(.*\))?$/.exec(line))) {
    online.delete(match[1]);
  } else if ((match = /^\* (\S+) is now known as (\S+)$/.exec(line))) {
    online.delete(match[1]);
    online.add(match[2]);
    if (match[1] === me) { me = match[2]; $("me").textContent = me; }
  } else if (/^\* .* left/.test(line)) {
    askWho();   // a summary of many departures: read the list again
  }
  renderOnline();
  return true;
}

function askWho() {
  if (socket && socket.readyState === WebSocket.OPEN) {
    silentWho++;
    socket.send("/who");
  }
}

function connect() {
  setStatus("connecting", "connecting");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/ws");
  socket.onopen = () => {
    backoffMs = 250;
    setStatus("connected", "connected");
    askWho();   // also the first line the server waits for
    whoTimer = setInterval(askWho, whoRefreshMs);
  };
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") return;
    if (track(event.data)) show(event.data);
  };
  socket.onclose = () => {
    clearInterval(whoTimer);
    online.clear();
    renderOnline();
    silentWho = 0;
    setStatus("disconnected", "disconnected; reconnecting");
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
  };
}

$("send-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("input");
  if (input.value && socket && socket.readyState === WebSocket.OPEN) {
    socket.send(input.value);
    input.value = "";
  }
});

$("nick-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = $("nick");
  if (nick.value && socket && socket.readyState === WebSocket.OPEN) {
    socket.send("/nick " + nick.value);
    nick.value = "";
  }
});

connect();
