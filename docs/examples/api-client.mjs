/* global fetch, URLSearchParams, Buffer */
// A client written from ComfyUI's API documentation only: open the WebSocket with a client id, queue the
// prompt with that id, wait for `executing` with node null, then read /history/<prompt_id> and fetch the
// images with /view. It runs unchanged against ComfyUI and against ddit-studio.
//
//   node docs/examples/api-client.mjs [server] [workflow.json]
//   (set DDIT_API_TOKEN when the server requires a token)
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';

const server = process.argv[2] ?? 'http://127.0.0.1:8188';
const prompt = JSON.parse(readFileSync(process.argv[3] ?? 'workflows/examples/arithmetic.json', 'utf8'));
const clientId = randomUUID();
const token = process.env.DDIT_API_TOKEN;
const auth = token ? { Authorization: `Bearer ${token}` } : {};

const ws = new WebSocket(`${server.replace(/^http/, 'ws')}/ws?clientId=${clientId}`, { headers: auth });
await new Promise((resolve, reject) => {
  ws.once('open', resolve);
  ws.once('error', reject);
});

const queued = await fetch(`${server}/prompt`, {
  method: 'POST',
  headers: auth,
  body: JSON.stringify({ prompt, client_id: clientId }),
});
const answer = await queued.json();
if (!queued.ok) {
  console.error(JSON.stringify(answer, null, 2)); // {error, node_errors}: which node and input is wrong
  process.exit(1);
}
const promptId = answer.prompt_id;

await new Promise((resolve) => {
  ws.on('message', (data, isBinary) => {
    if (isBinary) return; // step previews: [u32 type][u32 format][image bytes]
    const message = JSON.parse(data.toString());
    if (message.type === 'progress') console.log(`step ${message.data.value}/${message.data.max}`);
    if (message.type === 'executing' && message.data.node === null && message.data.prompt_id === promptId) {
      resolve();
    }
  });
});
ws.close();

const history = await (await fetch(`${server}/history/${promptId}`, { headers: auth })).json();
const entry = history[promptId];
console.log(`status: ${entry.status.status_str}`);
for (const [nodeId, output] of Object.entries(entry.outputs)) {
  for (const text of output.text ?? []) console.log(`node ${nodeId}: ${text}`);
  for (const image of output.images ?? []) {
    const query = new URLSearchParams({
      filename: image.filename,
      subfolder: image.subfolder,
      type: image.type,
    });
    const bytes = Buffer.from(
      await (await fetch(`${server}/view?${query}`, { headers: auth })).arrayBuffer(),
    );
    writeFileSync(image.filename, bytes);
    console.log(`node ${nodeId}: saved ${image.filename} (${bytes.length} bytes)`);
  }
}
