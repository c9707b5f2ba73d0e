// The dashboard's own load figure (`data-load-ms` on <body>: performance.now() once its tables and charts are
// drawn), read over the DevTools protocol from a Chromium started with --remote-debugging-port. Real time: no
// virtual time budget, so the waits for the API count.
// Usage: node --experimental-websocket scripts/page-load.mjs DEBUG_PORT URL   (prints milliseconds, or "none")
const [port, url] = process.argv.slice(2);
const version = await (await fetch(`http://127.0.0.1:${port}/json/version`)).json();
const ws = new WebSocket(version.webSocketDebuggerUrl);
const waiting = new Map();
let next = 0;
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.id && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
};
await new Promise((resolve) => { ws.onopen = resolve; });
const send = (method, params = {}, sessionId) => new Promise((resolve) => {
  const id = ++next;
  waiting.set(id, resolve);
  ws.send(JSON.stringify({ id, method, params, sessionId }));
});
const { result: { targetId } } = await send("Target.createTarget", { url: "about:blank" });
const { result: { sessionId } } = await send("Target.attachToTarget", { targetId, flatten: true });
await send("Page.navigate", { url }, sessionId);
const deadline = Date.now() + 30000;
while (Date.now() < deadline) {
  const r = await send("Runtime.evaluate", { expression: "(document.body && document.body.dataset.loadMs) || ''", returnByValue: true }, sessionId);
  const ms = r.result && r.result.result && r.result.result.value;
  if (ms) { console.log(ms); process.exit(0); }
  await new Promise((resolve) => setTimeout(resolve, 50));
}
console.log("none");
process.exit(1);
