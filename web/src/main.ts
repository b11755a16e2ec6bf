/** Entry point of the editor bundle (web/dist/app.js). */
import '@comfyorg/litegraph/style.css';
import './styles.css';
import { Editor, setEditorRef } from './editor';

const root = document.getElementById('app');
if (!root) throw new Error('ddit editor: #app element missing from index.html');
const editor = new Editor(root);
setEditorRef(editor);
editor.start().catch((err: unknown) => {
  console.error(err);
  const msg = document.createElement('pre');
  msg.className = 'fatal';
  msg.textContent = `The editor failed to start: ${(err as Error).message}`;
  document.body.append(msg);
});
