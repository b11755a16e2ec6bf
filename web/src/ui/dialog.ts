/** Modal dialogs: one at a time, closed by Escape, the close button or a click outside. */
import { h } from './dom';

export interface Dialog {
  el: HTMLElement;
  body: HTMLElement;
  footer: HTMLElement;
  close(): void;
}

let open: Dialog | null = null;

export function openDialog(
  title: string,
  opts: { id?: string; wide?: boolean; onClose?: () => void } = {},
): Dialog {
  open?.close();
  const body = h('div', { class: 'dialog-body' });
  const footer = h('div', { class: 'dialog-footer' });
  const closeBtn = h('button', { class: 'dialog-close', title: 'Close', 'aria-label': 'Close' }, '×');
  const box = h(
    'div',
    { class: `dialog${opts.wide ? ' dialog-wide' : ''}`, role: 'dialog', 'aria-label': title, id: opts.id },
    h('div', { class: 'dialog-title' }, h('span', {}, title), closeBtn),
    body,
    footer,
  );
  const backdrop = h('div', { class: 'backdrop' }, box);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      dialog.close();
    }
  };
  const dialog: Dialog = {
    el: box,
    body,
    footer,
    close() {
      if (!backdrop.isConnected) return;
      backdrop.remove();
      document.removeEventListener('keydown', onKey, true);
      if (open === dialog) open = null;
      opts.onClose?.();
    },
  };
  closeBtn.addEventListener('click', () => dialog.close());
  backdrop.addEventListener('pointerdown', (e) => {
    if (e.target === backdrop) dialog.close();
  });
  document.addEventListener('keydown', onKey, true);
  document.body.append(backdrop);
  open = dialog;
  return dialog;
}

/** Asks for one line of text; resolves null when cancelled. */
export function promptText(title: string, label: string, value = ''): Promise<string | null> {
  return new Promise((resolve) => {
    let done = false;
    const d = openDialog(title, {
      onClose: () => {
        if (!done) resolve(null);
      },
    });
    const input = h('input', { type: 'text', class: 'text-input', value, 'aria-label': label });
    const ok = h('button', { class: 'primary' }, 'OK');
    const submit = () => {
      done = true;
      resolve(input.value);
      d.close();
    };
    ok.addEventListener('click', submit);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') submit();
    });
    d.body.append(h('label', { class: 'field' }, h('span', {}, label), input));
    d.footer.append(ok);
    setTimeout(() => {
      input.focus();
      input.select();
    }, 0);
  });
}

/** Asks to confirm; resolves false when cancelled. */
export function confirmDialog(title: string, message: string, okLabel = 'OK'): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const d = openDialog(title, {
      onClose: () => {
        if (!done) resolve(false);
      },
    });
    d.body.append(h('p', {}, message));
    const ok = h('button', { class: 'primary' }, okLabel);
    const cancel = h('button', {}, 'Cancel');
    ok.addEventListener('click', () => {
      done = true;
      resolve(true);
      d.close();
    });
    cancel.addEventListener('click', () => d.close());
    d.footer.append(cancel, ok);
    setTimeout(() => ok.focus(), 0);
  });
}
