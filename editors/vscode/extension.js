// Starts `tcpcheck lsp` for models (.tcpm) and specs (specs/*.spec); everything the editor
// shows (diagnostics, hover, completion, definitions, quick fixes) comes from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("tcpcheck").get("command");
  client = new LanguageClient("tcpcheck", "tcpcheck", { command, args }, {
    documentSelector: [
      { scheme: "file", language: "tcpm" },
      { scheme: "file", language: "tcpspec" },
    ],
  });
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
