/**
 * The page the inspector relay serves: it embeds the Stately inspector UI (an iframe from
 * stately.ai, so the browser needs internet access) and hands it the relay's messages. The
 * viewer's WebSocket goes back to the host and port the page came from, so the page works
 * under whatever name the relay is reached by.
 *
 * Subtlety: the messages are posted to the inspector's origin only, and only the inspector's
 * origin may say it is ready; with '*' (as the stock bridge page does) any page the iframe is
 * navigated to would receive the machines' states and events.
 */

/** The HTML of the viewer page for the inspector UI at `inspectorUrl`. */
export function viewerPage(inspectorUrl: string): string {
  const origin = new URL(inspectorUrl).origin;
  return `<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Stately Inspector (connection-manager-kit relay)</title>
  <style>
    * { margin: 0; padding: 0; }
    html, body { height: 100%; }
    iframe { width: 100%; height: 100%; border: none; }
  </style>
</head>
<body>
  <iframe id="inspector" src="${escapeAttribute(inspectorUrl)}"></iframe>
  <script>
    const origin = ${JSON.stringify(origin)};
    const iframe = document.getElementById('inspector');
    const pending = [];
    let connected = false;
    window.addEventListener('message', (e) => {
      if (e.origin !== origin || !e.data || e.data.type !== '@statelyai.connected') return;
      connected = true;
      for (const data of pending.splice(0)) iframe.contentWindow.postMessage(data, origin);
    });
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/viewer');
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (connected) iframe.contentWindow.postMessage(data, origin);
      else pending.push(data);
    };
  </script>
</body>
</html>`;
}

/** The Content-Security-Policy of the page: its own script, the inspector's frame, its own WebSocket. */
export function viewerPagePolicy(inspectorUrl: string, host: string): string {
  const origin = new URL(inspectorUrl).origin;
  return [
    "default-src 'none'",
    "script-src 'unsafe-inline'",
    "style-src 'unsafe-inline'",
    `frame-src ${origin}`,
    `connect-src ws://${host} wss://${host}`,
    "frame-ancestors 'none'",
  ].join('; ');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
