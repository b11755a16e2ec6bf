/** Settings: the server address and API token. Saving reloads the editor against the new server. */
import { saveSettings, type Settings } from '../settings';
import { openDialog } from './dialog';
import { h } from './dom';

export function openSettings(current: Settings, onSaved: (s: Settings) => void): void {
  const d = openDialog('Settings', { id: 'settings-dialog' });
  const url = h('input', {
    type: 'text',
    class: 'text-input',
    name: 'serverUrl',
    value: current.serverUrl,
    placeholder: `${location.origin} (this page's server)`,
  });
  const token = h('input', {
    type: 'password',
    class: 'text-input',
    name: 'token',
    value: current.token,
    placeholder: 'only when the server requires one',
    autocomplete: 'off',
  });
  d.body.append(
    h('label', { class: 'field' }, h('span', {}, 'Server URL'), url),
    h('label', { class: 'field' }, h('span', {}, 'API token'), token),
    h(
      'p',
      { class: 'hint' },
      'The token is sent as "Authorization: Bearer …" and as ?token= on the WebSocket and image URLs.',
    ),
  );
  const save = h('button', { class: 'primary', 'data-action': 'save' }, 'Save');
  const cancel = h('button', {}, 'Cancel');
  save.addEventListener('click', () => {
    const s: Settings = { serverUrl: url.value.trim(), token: token.value.trim() };
    saveSettings(s);
    d.close();
    onSaved(s);
  });
  cancel.addEventListener('click', () => d.close());
  d.footer.append(cancel, save);
}
