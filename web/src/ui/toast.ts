/** Short messages in the corner: they fade (errors after longer) or go when clicked. */
import { h } from './dom';

let host: HTMLElement | null = null;

export type ToastKind = 'info' | 'error' | 'success';

export function toast(
  message: string,
  kind: ToastKind = 'info',
  ms = kind === 'error' ? 15000 : 3500,
): HTMLElement {
  if (!host) {
    host = h('div', { class: 'toasts', 'data-testid': 'toasts' });
    document.body.append(host);
  }
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  el.title = 'click to dismiss';
  el.addEventListener('click', () => el.remove());
  host.append(el);
  while (host.children.length > 6) host.firstElementChild?.remove();
  if (ms > 0) setTimeout(() => el.remove(), ms);
  return el;
}
