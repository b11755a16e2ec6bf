/** The workflow library dialog: the server's saved workflows (GET /workflows), open or delete. */
import type { Api, WorkflowEntry } from '../api';
import { confirmDialog, openDialog } from './dialog';
import { clear, h } from './dom';

export interface LibraryActions {
  open(name: string): Promise<void>;
  toast(msg: string, kind?: 'info' | 'error' | 'success'): void;
  current(): string | null;
}

export async function openLibrary(api: Api, actions: LibraryActions): Promise<void> {
  const d = openDialog('Workflows', { id: 'library-dialog', wide: true });
  const list = h('ul', { class: 'library-list', 'data-testid': 'library-list' });
  const filter = h('input', {
    type: 'search',
    class: 'text-input',
    placeholder: 'Filter…',
    'aria-label': 'Filter workflows',
  });
  d.body.append(filter, list);
  let entries: WorkflowEntry[] = [];
  const render = () => {
    clear(list);
    const q = filter.value.toLowerCase();
    const shown = entries.filter((e) => e.name.toLowerCase().includes(q));
    for (const e of shown) {
      const open = h('button', { class: 'small primary', 'data-action': 'open' }, 'Open');
      const del = h('button', { class: 'small danger', 'data-action': 'delete' }, 'Delete');
      const li = h(
        'li',
        { class: `library-item${e.name === actions.current() ? ' current' : ''}`, 'data-name': e.name },
        h('span', { class: 'library-name' }, e.name),
        h('span', { class: 'library-meta' }, e.modified ? new Date(e.modified).toLocaleString() : ''),
        h('span', { class: 'library-buttons' }, open, del),
      );
      const doOpen = async () => {
        try {
          await actions.open(e.name);
          d.close();
        } catch (err) {
          actions.toast((err as Error).message, 'error');
        }
      };
      open.addEventListener('click', () => void doOpen());
      li.addEventListener('dblclick', () => void doOpen());
      del.addEventListener('click', async () => {
        if (!(await confirmDialog('Delete workflow', `Delete "${e.name}" from the library?`, 'Delete'))) {
          void openLibrary(api, actions);
          return;
        }
        try {
          await api.deleteWorkflow(e.name);
          actions.toast(`Deleted ${e.name}`, 'success');
        } catch (err) {
          actions.toast((err as Error).message, 'error');
        }
        void openLibrary(api, actions);
      });
      list.append(li);
    }
    if (!shown.length)
      list.append(h('li', { class: 'library-empty' }, entries.length ? 'No match' : 'The library is empty'));
  };
  filter.addEventListener('input', render);
  list.append(h('li', { class: 'library-empty' }, 'Loading…'));
  try {
    entries = (await api.listWorkflows()).sort((a, b) => a.name.localeCompare(b.name));
  } catch (err) {
    clear(list);
    list.append(h('li', { class: 'library-empty error' }, (err as Error).message));
    return;
  }
  render();
  setTimeout(() => filter.focus(), 0);
}
