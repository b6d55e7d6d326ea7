// Tandem's chat page: talks to the server's OpenAI API (/v1/chat/completions, streamed), keeps
// conversations in this browser's localStorage, and renders the model's markdown by building DOM
// nodes (text always goes in as text nodes: nothing the model writes becomes HTML).
"use strict";

const STORE = { conversations: "tandem.conversations", current: "tandem.current", settings: "tandem.settings", key: "tandem.apiKey" };
const $ = (id) => document.getElementById(id);

const state = {
  conversations: [],
  currentId: null,
  model: null,
  generating: null, // { controller, conversationId }
  settings: { system: "", temperature: "", top_p: "", max_tokens: "", seed: "" },
};

// ---------- storage ----------

function load(key, fallback) {
  try {
    const text = localStorage.getItem(key);
    return text === null ? fallback : JSON.parse(text);
  } catch (error) {
    return fallback;
  }
}

function save() {
  try {
    localStorage.setItem(STORE.conversations, JSON.stringify(state.conversations));
    localStorage.setItem(STORE.current, JSON.stringify(state.currentId));
  } catch (error) {
    showBanner("Could not save the conversations in this browser: " + error.message);
  }
}

function apiKey() {
  return localStorage.getItem(STORE.key) || "";
}

function newId() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
}

function current() {
  return state.conversations.find((c) => c.id === state.currentId) || null;
}

function isMessage(m) {
  return m && typeof m === "object" && ["user", "assistant", "error"].includes(m.role) && typeof m.content === "string";
}

function validConversation(c) {
  return c && typeof c === "object" && typeof c.title === "string" && Array.isArray(c.messages) && c.messages.every(isMessage);
}

// ---------- the server ----------

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = apiKey();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

// The message of an OpenAI-style error body, else the body itself (shortened).
async function errorMessage(response) {
  let text = "";
  try {
    text = await response.text();
    const value = JSON.parse(text);
    if (value && value.error && typeof value.error.message === "string") return value.error.message;
  } catch (error) {
    // not JSON: fall through
  }
  return text.slice(0, 500) || response.statusText || "no message";
}

async function loadModel() {
  try {
    const response = await fetch("/v1/models", { headers: headers(false) });
    if (response.status === 401) {
      $("model-name").textContent = "Tandem";
      askForKey(apiKey() ? "The server refused this API key: " + (await errorMessage(response)) : "This server needs an API key.");
      return;
    }
    if (!response.ok) {
      const message = await errorMessage(response);
      $("model-name").textContent = "Tandem";
      showBanner("The server answered " + response.status + ": " + message);
      if (response.status === 503) setTimeout(loadModel, 2000);
      return;
    }
    const value = await response.json();
    const entry = value.data && value.data[0];
    state.model = entry ? entry.id : null;
    $("model-name").textContent = state.model || "Tandem";
    $("model-name").title = entry && entry.max_model_len ? "context: " + entry.max_model_len + " tokens" : "";
    document.title = (state.model || "Tandem") + " · Tandem chat";
    hideBanner();
  } catch (error) {
    showBanner("The server is unreachable (" + error.message + "). Is tandem serve running?");
    setTimeout(loadModel, 3000);
  }
}

function metric(text, name) {
  const match = text.match(new RegExp("^" + name.replace(/[:]/g, "\\:") + "(?:\\{[^}]*\\})?\\s+(\\S+)", "m"));
  return match ? Number(match[1]) : null;
}

async function pollMetrics() {
  const status = $("status");
  try {
    const response = await fetch("/metrics", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const text = await response.text();
    const running = metric(text, "vllm:num_requests_running");
    const waiting = metric(text, "vllm:num_requests_waiting");
    const kv = metric(text, "vllm:kv_cache_usage_perc");
    const parts = [];
    if (running !== null) parts.push("running " + running);
    if (waiting !== null) parts.push("waiting " + waiting);
    if (kv !== null) parts.push("KV " + (kv * 100).toFixed(1) + "%");
    status.textContent = parts.join(" · ");
    status.classList.remove("down");
    if (status.dataset.down) {
      delete status.dataset.down;
      hideBanner();
      if (!state.model) loadModel();
    }
  } catch (error) {
    status.textContent = "server unreachable";
    status.classList.add("down");
    status.dataset.down = "1";
  }
}

// ---------- generation ----------

function requestBody(conversation) {
  const s = state.settings;
  const messages = [];
  if (s.system.trim()) messages.push({ role: "system", content: s.system });
  for (const m of conversation.messages) {
    if ((m.role === "user" || m.role === "assistant") && !m.pending) messages.push({ role: m.role, content: m.content });
  }
  const body = { messages, stream: true, stream_options: { include_usage: true } };
  if (state.model) body.model = state.model;
  const number = (v) => (v === "" || v === null || v === undefined ? null : Number(v));
  if (number(s.temperature) !== null) body.temperature = number(s.temperature);
  if (number(s.top_p) !== null) body.top_p = number(s.top_p);
  if (number(s.max_tokens) !== null) body.max_tokens = number(s.max_tokens);
  if (number(s.seed) !== null) body.seed = number(s.seed);
  return body;
}

// Streams a reply to the conversation's last user message into a new assistant message.
async function generate(conversation) {
  if (state.generating) return;
  const body = requestBody(conversation);
  const reply = { role: "assistant", content: "", pending: true, stats: null };
  conversation.messages.push(reply);
  conversation.updated = Date.now();
  const controller = new AbortController();
  state.generating = { controller, conversationId: conversation.id };
  setGenerating(true);
  renderMessages();
  const started = performance.now();
  let firstToken = null;
  let chunks = 0;
  let usage = null;
  let finish = null;
  let failure = null;
  let scheduled = false;
  const update = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      if (!reply.pending) return;
      reply.stats = stats(started, firstToken, performance.now(), usage, chunks, finish);
      updateLastMessage(conversation, reply);
    });
  };
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(true), body: JSON.stringify(body), signal: controller.signal,
    });
    if (!response.ok) {
      failure = "Error " + response.status + ": " + (await errorMessage(response));
      if (response.status === 401) askForKey("The server refused the request: " + failure);
    } else {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      let done = false;
      while (!done) {
        const { value, done: end } = await reader.read();
        if (end) break;
        buffer += decoder.decode(value, { stream: true });
        let boundary;
        while (!done && (boundary = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, boundary);
          buffer = buffer.slice(boundary + 2);
          for (const line of event.split("\n")) {
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") { done = true; break; }
            const chunk = JSON.parse(data);
            if (chunk.error) { failure = "Error: " + (chunk.error.message || JSON.stringify(chunk.error)); done = true; break; }
            if (chunk.usage) usage = chunk.usage;
            const choice = chunk.choices && chunk.choices[0];
            if (!choice) continue;
            const text = choice.delta && choice.delta.content;
            if (text) {
              if (firstToken === null) firstToken = performance.now();
              chunks += 1;
              reply.content += text;
              update();
            }
            if (choice.finish_reason) finish = choice.finish_reason;
          }
        }
      }
      if (!done && !failure) failure = "The reply ended early: the connection closed before [DONE].";
    }
  } catch (error) {
    if (error.name === "AbortError") finish = "stopped";
    else failure = "The server is unreachable or the connection broke (" + error.message + ").";
  }
  reply.pending = false;
  reply.stats = stats(started, firstToken, performance.now(), usage, chunks, finish);
  if (failure && !reply.content) conversation.messages.pop();
  if (failure) conversation.messages.push({ role: "error", content: failure });
  conversation.updated = Date.now();
  state.generating = null;
  setGenerating(false);
  save();
  renderAll();
  pollMetrics();
}

function stats(started, firstToken, now, usage, chunks, finish) {
  const tokens = usage && usage.completion_tokens ? usage.completion_tokens : chunks;
  const result = { tokens, finish };
  if (firstToken !== null) {
    result.ttft = (firstToken - started) / 1000;
    const seconds = (now - firstToken) / 1000;
    if (tokens > 1 && seconds > 0) result.tps = (tokens - 1) / seconds;
  }
  return result;
}

function describeStats(s) {
  if (!s) return "";
  const parts = [];
  if (s.tokens) parts.push(s.tokens + " tokens");
  if (s.tps !== undefined) parts.push(s.tps.toFixed(1) + " tok/s");
  if (s.ttft !== undefined) parts.push("first token " + (s.ttft * 1000).toFixed(0) + " ms");
  if (s.finish === "length") parts.push("stopped at max tokens");
  else if (s.finish === "stopped") parts.push("stopped");
  return parts.join(" · ");
}

function stop() {
  if (state.generating) state.generating.controller.abort();
}

function setGenerating(on) {
  $("send").hidden = on;
  $("stop").hidden = !on;
  if (!on && document.activeElement === $("stop")) $("input").focus();
}

function send() {
  const input = $("input");
  const text = input.value;
  if (!text.trim() || state.generating) return;
  let conversation = current();
  if (!conversation) conversation = createConversation();
  if (!conversation.messages.some((m) => m.role === "user")) conversation.title = titleFrom(text);
  conversation.messages.push({ role: "user", content: text });
  input.value = "";
  autosize();
  renderConversations();
  generate(conversation);
}

function titleFrom(text) {
  const line = text.trim().split("\n")[0];
  return line.length > 48 ? line.slice(0, 47) + "…" : line;
}

// ---------- conversations ----------

function createConversation() {
  const conversation = { id: newId(), title: "New chat", created: Date.now(), updated: Date.now(), messages: [] };
  state.conversations.unshift(conversation);
  state.currentId = conversation.id;
  save();
  return conversation;
}

function selectConversation(id) {
  if (state.generating) stop();
  state.currentId = id;
  save();
  renderAll();
  closeSidebar();
  $("input").focus();
}

function deleteConversation(id) {
  if (state.generating && state.generating.conversationId === id) stop();
  state.conversations = state.conversations.filter((c) => c.id !== id);
  if (state.currentId === id) state.currentId = state.conversations.length ? state.conversations[0].id : null;
  save();
  renderAll();
}

function exportConversations() {
  const data = JSON.stringify({ format: "tandem-chat", version: 1, conversations: state.conversations }, null, 2);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([data], { type: "application/json" }));
  link.download = "tandem-conversations-" + new Date().toISOString().slice(0, 10) + ".json";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// Adds the conversations of an exported file (or a bare list of them); returns how many.
function importConversations(text) {
  const value = JSON.parse(text);
  const list = Array.isArray(value) ? value : value && value.conversations;
  if (!Array.isArray(list)) throw new Error("no list of conversations in the file");
  const valid = list.filter(validConversation);
  if (!valid.length) throw new Error("none of the file's conversations is valid");
  const ids = new Set(state.conversations.map((c) => c.id));
  for (const c of valid.reverse()) {
    const conversation = {
      id: typeof c.id === "string" && !ids.has(c.id) ? c.id : newId(),
      title: c.title.slice(0, 200), created: Number(c.created) || Date.now(), updated: Number(c.updated) || Date.now(),
      messages: c.messages.map((m) => ({ role: m.role, content: m.content, stats: m.stats && typeof m.stats === "object" ? m.stats : null })),
    };
    ids.add(conversation.id);
    state.conversations.unshift(conversation);
  }
  state.currentId = state.conversations[0].id;
  save();
  renderAll();
  return valid.length;
}

// ---------- markdown ----------

const INLINE = new RegExp(
  [
    "(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)", // 1, 2: code
    "\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*", // 3: strong
    "__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)", // 4: strong
    "\\*(?=[^\\s*])([^*]*?[^\\s*])\\*", // 5: em
    "(?<![\\w])_(?=[^\\s_])([^_]*?[^\\s_])_(?![\\w])", // 6: em
    "~~(?=\\S)([\\s\\S]*?\\S)~~", // 7: del
    "\\[([^\\]\\n]+)\\]\\((https?://[^\\s()]+)\\)", // 8, 9: link
    "(https?://[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?'\"])", // 10: bare link
  ].join("|"),
  "g"
);

function renderInline(text, parent) {
  INLINE.lastIndex = 0;
  let last = 0;
  const pattern = new RegExp(INLINE.source, "g");
  let match;
  while ((match = pattern.exec(text)) !== null) {
    if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
    last = pattern.lastIndex;
    if (match[2] !== undefined) {
      const code = document.createElement("code");
      code.textContent = match[2];
      parent.appendChild(code);
    } else if (match[3] !== undefined || match[4] !== undefined) {
      renderInline(match[3] !== undefined ? match[3] : match[4], parent.appendChild(document.createElement("strong")));
    } else if (match[5] !== undefined || match[6] !== undefined) {
      renderInline(match[5] !== undefined ? match[5] : match[6], parent.appendChild(document.createElement("em")));
    } else if (match[7] !== undefined) {
      renderInline(match[7], parent.appendChild(document.createElement("del")));
    } else {
      const link = document.createElement("a");
      link.href = match[9] !== undefined ? match[9] : match[10];
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      if (match[8] !== undefined) renderInline(match[8], link);
      else link.textContent = match[10];
      parent.appendChild(link);
    }
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

// Inline text of several lines, a <br> between them.
function renderLines(lines, parent) {
  lines.forEach((line, i) => {
    if (i) parent.appendChild(document.createElement("br"));
    renderInline(line, parent);
  });
}

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)[^`]*$/;
const LIST_ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

function startsBlock(line) {
  return FENCE.test(line) || LIST_ITEM.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line);
}

// Markdown to DOM nodes under `parent`: fenced code, headings, lists (nested by indentation),
// block quotes, rules and paragraphs. An unclosed fence (a reply still streaming) runs to the end.
function renderMarkdown(text, parent) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let match;
    if ((match = line.match(FENCE))) {
      const marker = match[1];
      const code = [];
      i += 1;
      while (i < lines.length && !(lines[i].trim().startsWith(marker[0].repeat(marker.length)) && lines[i].trim().replace(/[`~]/g, "") === "")) {
        code.push(lines[i]);
        i += 1;
      }
      i += 1;
      parent.appendChild(codeBlock(code.join("\n"), match[2]));
    } else if (!line.trim()) {
      i += 1;
    } else if ((match = line.match(HEADING))) {
      const heading = document.createElement("h" + Math.min(6, match[1].length + 2));
      renderInline(match[2], heading);
      parent.appendChild(heading);
      i += 1;
    } else if (RULE.test(line)) {
      parent.appendChild(document.createElement("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && (match = lines[i].match(QUOTE))) {
        quoted.push(match[1]);
        i += 1;
      }
      const quote = document.createElement("blockquote");
      renderMarkdown(quoted.join("\n"), quote);
      parent.appendChild(quote);
    } else if ((match = line.match(LIST_ITEM))) {
      i = renderList(lines, i, parent);
    } else {
      const paragraph = [];
      while (i < lines.length && lines[i].trim() && (paragraph.length === 0 || !startsBlock(lines[i]))) {
        paragraph.push(lines[i]);
        i += 1;
      }
      const p = document.createElement("p");
      renderLines(paragraph, p);
      parent.appendChild(p);
    }
  }
}

// A list starting at lines[start]; items more indented than the first become nested content.
function renderList(lines, start, parent) {
  const first = lines[start].match(LIST_ITEM);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const list = document.createElement(ordered ? "ol" : "ul");
  if (ordered && parseInt(first[2], 10) !== 1) list.start = parseInt(first[2], 10);
  let i = start;
  while (i < lines.length) {
    const match = lines[i].match(LIST_ITEM);
    if (!match || match[1].length < indent || match[1].length > indent + 1 || /\d/.test(match[2]) !== ordered) break;
    const body = [match[3]];
    i += 1;
    while (i < lines.length) {
      const line = lines[i];
      const leading = line.length - line.trimStart().length;
      if (!line.trim()) {
        const next = lines[i + 1];
        if (next !== undefined && next.trim() && next.length - next.trimStart().length > indent + 1) { body.push(""); i += 1; continue; }
        break;
      }
      if (leading > indent + 1 || (!LIST_ITEM.test(line) && !startsBlock(line) && leading >= indent)) {
        body.push(line.slice(Math.min(leading, indent + 2)));
        i += 1;
      } else break;
    }
    const item = document.createElement("li");
    const nested = body.findIndex((line, k) => k > 0 && (LIST_ITEM.test(line) || FENCE.test(line) || !line.trim()));
    if (nested < 0) renderLines(body, item);
    else {
      renderLines(body.slice(0, nested), item);
      renderMarkdown(body.slice(nested).join("\n"), item);
    }
    list.appendChild(item);
    while (i < lines.length && !lines[i].trim() && lines[i + 1] !== undefined && LIST_ITEM.test(lines[i + 1])) {
      const next = lines[i + 1].match(LIST_ITEM);
      if (next[1].length !== indent) break;
      i += 1;
    }
  }
  parent.appendChild(list);
  return i;
}

// A reply; a reasoning model's leading <think>...</think> goes into a collapsed "Thoughts" box
// (open while the model is still thinking).
function renderReply(text, parent, pending) {
  const match = text.match(/^\s*<think>([\s\S]*?)(<\/think>|$)/);
  if (!match) {
    renderMarkdown(text, parent);
    return;
  }
  const details = document.createElement("details");
  details.className = "thoughts";
  const summary = document.createElement("summary");
  const thinking = !match[2];
  summary.textContent = thinking ? "Thinking…" : "Thoughts";
  details.open = thinking && pending;
  details.appendChild(summary);
  renderMarkdown(match[1].trim(), details);
  parent.appendChild(details);
  renderMarkdown(text.slice(match[0].length), parent);
}

// ---------- code blocks: a small highlighter and a copy button ----------

const KEYWORDS = new Set((
  "if else elif for while do return function def class import from as let const var fn func struct enum " +
  "pub public private protected static final int float double bool char void long short unsigned " +
  "true false null None True False nil self this new delete try catch except finally raise throw throws " +
  "async await in of switch case break continue default lambda match yield use mod impl trait where guard " +
  "package interface type extends implements with not and or is then fi done esac echo export local " +
  "select insert update from where join on group by order limit create table values set into string " +
  "mut ref move loop go defer chan map range struct typedef sizeof include define extern inout some any"
).split(" "));
const HASH_COMMENTS = new Set(["python", "py", "sh", "bash", "shell", "zsh", "ruby", "rb", "yaml", "yml", "toml", "perl", "r", "make", "makefile", "dockerfile", "ini", "conf"]);
const DASH_COMMENTS = new Set(["sql", "lua", "haskell", "hs"]);

function highlight(code, language, parent) {
  const lang = language.toLowerCase();
  const comment = HASH_COMMENTS.has(lang) ? "#[^\\n]*" : DASH_COMMENTS.has(lang) ? "--[^\\n]*" : "\\/\\/[^\\n]*|\\/\\*[\\s\\S]*?(?:\\*\\/|$)";
  const pattern = new RegExp(
    "(" + comment + ")" +
      "|(\"(?:[^\"\\\\\\n]|\\\\.)*\"?|'(?:[^'\\\\\\n]|\\\\.)*'?|`(?:[^`\\\\]|\\\\.)*`?)" +
      "|\\b(0x[0-9a-fA-F_]+|\\d[\\d_]*(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)\\b" +
      "|([A-Za-z_][A-Za-z0-9_]*)",
    "g"
  );
  let last = 0;
  let match;
  let plain = "";
  const flush = () => {
    if (plain) parent.appendChild(document.createTextNode(plain));
    plain = "";
  };
  const span = (cls, text) => {
    flush();
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    parent.appendChild(s);
  };
  while ((match = pattern.exec(code)) !== null) {
    plain += code.slice(last, match.index);
    last = pattern.lastIndex;
    if (match[1] !== undefined) span("tok-com", match[1]);
    else if (match[2] !== undefined) span("tok-str", match[2]);
    else if (match[3] !== undefined) span("tok-num", match[3]);
    else if (KEYWORDS.has(match[4])) span("tok-kw", match[4]);
    else plain += match[4];
  }
  plain += code.slice(last);
  flush();
}

function codeBlock(code, language) {
  const block = document.createElement("div");
  block.className = "code";
  const head = document.createElement("div");
  head.className = "code-head";
  const label = document.createElement("span");
  label.textContent = language || "code";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", "Copy the code");
  copy.addEventListener("click", () => copyText(code, copy));
  head.append(label, copy);
  const pre = document.createElement("pre");
  const element = document.createElement("code");
  highlight(code, language || "", element);
  pre.appendChild(element);
  block.append(head, pre);
  return block;
}

async function copyText(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch (error) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try {
      ok = document.execCommand("copy");
    } catch (ignored) {
      ok = false;
    }
    area.remove();
  }
  const before = button.textContent;
  button.textContent = ok ? "Copied" : "Copy failed";
  setTimeout(() => (button.textContent = before === "Copied" ? "Copy" : before), 1500);
}

// ---------- rendering ----------

function button(label, handler, extra) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "link";
  b.textContent = label;
  if (extra) b.setAttribute("aria-label", extra);
  b.addEventListener("click", handler);
  return b;
}

function renderConversations() {
  const list = $("conversations");
  list.replaceChildren();
  for (const conversation of state.conversations) {
    const item = document.createElement("li");
    if (conversation.id === state.currentId) item.className = "current";
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = conversation.title || "New chat";
    open.title = conversation.title;
    if (conversation.id === state.currentId) open.setAttribute("aria-current", "true");
    open.addEventListener("click", () => selectConversation(conversation.id));
    const rename = button("Rename", () => startRename(item, conversation), "Rename " + conversation.title);
    const remove = button("Delete", () => {
      if (remove.dataset.armed) deleteConversation(conversation.id);
      else {
        remove.dataset.armed = "1";
        remove.textContent = "Sure?";
        setTimeout(() => { delete remove.dataset.armed; remove.textContent = "Delete"; }, 3000);
      }
    }, "Delete " + conversation.title);
    item.append(open, rename, remove);
    list.appendChild(item);
  }
}

function startRename(item, conversation) {
  const input = document.createElement("input");
  input.value = conversation.title;
  input.setAttribute("aria-label", "New title");
  item.replaceChildren(input);
  input.focus();
  input.select();
  let finished = false;
  const finish = (keep) => {
    if (finished) return;
    finished = true;
    if (keep && input.value.trim()) conversation.title = input.value.trim().slice(0, 200);
    save();
    renderConversations();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish(true);
    else if (event.key === "Escape") { event.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
}

function messageElement(conversation, message, index) {
  const article = document.createElement("article");
  article.className = "msg " + message.role + (message.pending ? " pending" : "");
  const role = document.createElement("div");
  role.className = "role";
  role.textContent = message.role === "user" ? "You" : message.role === "assistant" ? state.model || "Assistant" : "Error";
  const body = document.createElement("div");
  body.className = "body";
  if (message.role === "assistant") renderReply(message.content, body, message.pending);
  else renderLines(message.content.split("\n"), body);
  article.append(role, body);
  if (message.role === "assistant") {
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = describeStats(message.stats);
    article.appendChild(meta);
  }
  if (message.role === "error" && index === conversation.messages.length - 1) {
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.appendChild(button("Retry", () => regenerate(conversation, index), "Send the last message again"));
    article.appendChild(actions);
  }
  if (!message.pending && message.role !== "error") {
    const actions = document.createElement("div");
    actions.className = "actions";
    actions.appendChild(button("Copy", (event) => copyText(message.content, event.target), "Copy the message"));
    if (message.role === "user") actions.appendChild(button("Edit", () => startEdit(article, conversation, index), "Edit and send again"));
    if (message.role === "assistant") actions.appendChild(button("Regenerate", () => regenerate(conversation, index), "Regenerate this reply"));
    article.appendChild(actions);
  }
  return article;
}

function renderMessages() {
  const container = $("messages");
  const conversation = current();
  container.replaceChildren();
  if (!conversation || !conversation.messages.length) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = "Start a conversation: type a message below.";
    container.appendChild(empty);
    return;
  }
  conversation.messages.forEach((message, index) => container.appendChild(messageElement(conversation, message, index)));
  container.scrollTop = container.scrollHeight;
}

function updateLastMessage(conversation, message) {
  if (conversation.id !== state.currentId) return;
  const container = $("messages");
  const last = container.lastElementChild;
  if (!last) return;
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  last.replaceWith(messageElement(conversation, message, conversation.messages.length - 1));
  if (atBottom) container.scrollTop = container.scrollHeight;
}

function renderAll() {
  renderConversations();
  renderMessages();
}

function startEdit(article, conversation, index) {
  if (state.generating) return;
  const box = document.createElement("div");
  box.className = "edit-box";
  const area = document.createElement("textarea");
  area.value = conversation.messages[index].content;
  area.setAttribute("aria-label", "Edit the message");
  const row = document.createElement("div");
  const sendEdit = document.createElement("button");
  sendEdit.type = "button";
  sendEdit.className = "primary";
  sendEdit.textContent = "Save and regenerate";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  row.append(sendEdit, cancel);
  box.append(area, row);
  article.querySelector(".body").replaceWith(box);
  const actions = article.querySelector(".actions");
  if (actions) actions.remove();
  area.focus();
  const commit = () => {
    if (!area.value.trim()) return;
    conversation.messages = conversation.messages.slice(0, index);
    conversation.messages.push({ role: "user", content: area.value });
    if (index === 0) conversation.title = titleFrom(area.value);
    save();
    renderAll();
    generate(conversation);
  };
  sendEdit.addEventListener("click", commit);
  cancel.addEventListener("click", renderMessages);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); commit(); }
    else if (event.key === "Escape") { event.preventDefault(); renderMessages(); }
  });
}

function regenerate(conversation, index) {
  if (state.generating) return;
  conversation.messages = conversation.messages.slice(0, index);
  while (conversation.messages.length && conversation.messages[conversation.messages.length - 1].role !== "user") conversation.messages.pop();
  if (!conversation.messages.length) return;
  save();
  renderAll();
  generate(conversation);
}

// ---------- banner, dialogs, layout ----------

function showBanner(text) {
  const banner = $("banner");
  banner.textContent = text;
  banner.hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

function askForKey(reason) {
  const dialog = $("key-dialog");
  $("key-reason").textContent = reason;
  $("key-input").value = apiKey();
  if (!dialog.open) dialog.showModal();
  $("key-input").focus();
}

function openSettings() {
  const s = state.settings;
  $("set-system").value = s.system;
  $("set-temperature").value = s.temperature;
  $("set-top-p").value = s.top_p;
  $("set-max-tokens").value = s.max_tokens;
  $("set-seed").value = s.seed;
  $("set-api-key").value = apiKey();
  $("settings").showModal();
}

function saveSettings() {
  state.settings = {
    system: $("set-system").value,
    temperature: $("set-temperature").value,
    top_p: $("set-top-p").value,
    max_tokens: $("set-max-tokens").value,
    seed: $("set-seed").value,
  };
  localStorage.setItem(STORE.settings, JSON.stringify(state.settings));
  const keyChanged = $("set-api-key").value !== apiKey();
  if ($("set-api-key").value) localStorage.setItem(STORE.key, $("set-api-key").value);
  else localStorage.removeItem(STORE.key);
  $("settings").close();
  if (keyChanged) loadModel();
}

function closeSidebar() {
  $("sidebar").classList.remove("open");
}

function autosize() {
  const input = $("input");
  input.style.height = "auto";
  input.style.height = Math.min(input.scrollHeight + 2, window.innerHeight * 0.4) + "px";
}

function init() {
  const stored = load(STORE.conversations, []);
  state.conversations = Array.isArray(stored) ? stored.filter(validConversation) : [];
  for (const c of state.conversations) {
    if (typeof c.id !== "string") c.id = newId();
    // A reply that was streaming when the page closed keeps what arrived.
    for (const m of c.messages) if (m.pending) { m.pending = false; m.stats = Object.assign({}, m.stats, { finish: "stopped" }); }
  }
  state.currentId = load(STORE.current, null);
  if (!current()) state.currentId = state.conversations.length ? state.conversations[0].id : null;
  state.settings = Object.assign(state.settings, load(STORE.settings, {}));

  $("send").addEventListener("click", send);
  $("stop").addEventListener("click", stop);
  $("new-chat").addEventListener("click", () => {
    if (state.generating) stop();
    createConversation();
    renderAll();
    closeSidebar();
    $("input").focus();
  });
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("input").addEventListener("input", autosize);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.generating && !document.querySelector("dialog[open]")) { event.preventDefault(); stop(); }
    if (event.key === "Escape" && $("sidebar").classList.contains("open")) closeSidebar();
    if (event.ctrlKey && event.shiftKey && (event.key === "O" || event.key === "o")) { event.preventDefault(); $("new-chat").click(); }
  });
  $("open-settings").addEventListener("click", openSettings);
  $("settings-save").addEventListener("click", saveSettings);
  $("settings-cancel").addEventListener("click", () => $("settings").close());
  $("key-save").addEventListener("click", () => {
    const key = $("key-input").value.trim();
    if (key) localStorage.setItem(STORE.key, key);
    else localStorage.removeItem(STORE.key);
    $("key-dialog").close();
    loadModel();
  });
  $("key-input").addEventListener("keydown", (event) => { if (event.key === "Enter") $("key-save").click(); });
  $("key-cancel").addEventListener("click", () => $("key-dialog").close());
  $("toggle-sidebar").addEventListener("click", () => {
    $("sidebar").classList.add("open");
    $("new-chat").focus();
  });
  $("close-sidebar").addEventListener("click", closeSidebar);
  $("export").addEventListener("click", exportConversations);
  $("import").addEventListener("click", () => $("import-file").click());
  $("import-file").addEventListener("change", async (event) => {
    const file = event.target.files && event.target.files[0];
    event.target.value = "";
    if (!file) return;
    try {
      const count = importConversations(await file.text());
      showBanner("Imported " + count + " conversation" + (count === 1 ? "" : "s") + ".");
      setTimeout(hideBanner, 4000);
    } catch (error) {
      showBanner("Could not import " + file.name + ": " + error.message);
    }
  });

  renderAll();
  loadModel();
  pollMetrics();
  setInterval(pollMetrics, 3000);
  $("input").focus();
}

document.addEventListener("DOMContentLoaded", init);
