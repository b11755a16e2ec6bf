/**
 * The queue and history panel: the running prompt (cancel), pending ones (cancel), finished ones
 * with their status and outputs (open the workflow, re-run, remove). Refreshed from /queue and
 * /history whenever the server reports a queue change.
 */
import type { Api } from '../api';
import type { ApiPrompt, History, HistoryEntry, QueueItem, QueueState } from '../protocol';
import { clear, h } from './dom';

export interface QueuePanelActions {
  rerun(prompt: ApiPrompt, extra: Record<string, unknown> | undefined): void;
  open(doc: unknown): void;
  cancelRunning(promptId: string): void;
  runningLabel(): string;
  toast(msg: string, kind?: 'info' | 'error' | 'success'): void;
}

function shortId(id: string): string {
  return id.slice(0, 8);
}

function statusOf(e: HistoryEntry): 'success' | 'error' | 'interrupted' {
  const msgs = e.status?.messages ?? [];
  if (msgs.some(([t]) => t === 'execution_interrupted')) return 'interrupted';
  if (e.status?.status_str === 'error' || msgs.some(([t]) => t === 'execution_error')) return 'error';
  return 'success';
}

function errorText(e: HistoryEntry): string | undefined {
  const err = (e.status?.messages ?? []).find(([t]) => t === 'execution_error');
  if (!err) return undefined;
  const d = err[1] as { node_id?: string; exception_message?: string; node_type?: string };
  return `node ${d.node_id ?? '?'} (${d.node_type ?? '?'}): ${d.exception_message ?? ''}`;
}

export class QueuePanel {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private timer: ReturnType<typeof setTimeout> | null = null;
  queue: QueueState = { queue_running: [], queue_pending: [] };
  history: History = {};

  constructor(
    private readonly api: Api,
    private readonly actions: QueuePanelActions,
  ) {
    this.body = h('div', { class: 'panel-body' });
    const clearBtn = h('button', { class: 'small', title: 'Remove all finished prompts' }, 'Clear history');
    clearBtn.addEventListener('click', () => void this.clearHistory());
    this.el = h(
      'aside',
      { class: 'queue-panel', 'data-testid': 'queue-panel', 'aria-label': 'Queue and history' },
      h('div', { class: 'panel-title' }, h('span', {}, 'Queue'), clearBtn),
      this.body,
    );
  }

  /** Refreshes soon (several events in a burst cause one fetch). */
  refreshSoon(delay = 150): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, delay);
  }

  async refresh(): Promise<void> {
    try {
      const [queue, history] = await Promise.all([this.api.getQueue(), this.api.getHistory(40)]);
      this.queue = queue;
      this.history = history;
    } catch {
      // the connection indicator already says the server is away
      return;
    }
    this.render();
  }

  private async clearHistory(): Promise<void> {
    try {
      await this.api.json('POST', '/history', { clear: true });
    } catch (err) {
      this.actions.toast((err as Error).message, 'error');
    }
    void this.refresh();
  }

  private item(
    cls: string,
    item: QueueItem,
    label: string,
    buttons: HTMLElement[],
    extra?: HTMLElement | null,
  ): HTMLElement {
    const [number, id, prompt] = item;
    const count = prompt ? Object.keys(prompt).length : 0;
    return h(
      'li',
      { class: `queue-item ${cls}`, 'data-prompt-id': id, 'data-state': cls },
      h(
        'div',
        { class: 'queue-row' },
        h('span', { class: `badge badge-${cls}` }, label),
        h('span', { class: 'queue-id', title: id }, `#${number} ${shortId(id)}`),
        h('span', { class: 'queue-count' }, `${count} nodes`),
        h('span', { class: 'queue-buttons' }, ...buttons),
      ),
      extra ?? null,
    );
  }

  private button(label: string, title: string, fn: () => void, cls = 'small'): HTMLElement {
    const b = h('button', { class: cls, title, 'data-action': label.toLowerCase() }, label);
    b.addEventListener('click', (e) => {
      e.stopPropagation();
      fn();
    });
    return b;
  }

  render(): void {
    clear(this.body);
    const list = h('ul', { class: 'queue-list' });
    for (const it of this.queue.queue_running ?? []) {
      const id = it[1];
      list.append(
        this.item(
          'running',
          it,
          'running',
          [this.button('Cancel', 'Interrupt this prompt', () => this.actions.cancelRunning(id))],
          h('div', { class: 'queue-detail' }, this.actions.runningLabel()),
        ),
      );
    }
    for (const it of this.queue.queue_pending ?? []) {
      const id = it[1];
      list.append(
        this.item('pending', it, 'pending', [
          this.button('Cancel', 'Remove from the queue', () => {
            this.api.deleteQueued([id]).then(
              () => this.refresh(),
              (err: Error) => this.actions.toast(err.message, 'error'),
            );
          }),
        ]),
      );
    }
    const entries = Object.entries(this.history).sort(
      ([, a], [, b]) => (b.prompt?.[0] ?? 0) - (a.prompt?.[0] ?? 0),
    );
    for (const [id, e] of entries) {
      const status = statusOf(e);
      const prompt = e.prompt?.[2];
      const extra = e.prompt?.[3];
      const buttons = [
        this.button('Re-run', 'Queue this prompt again', () => prompt && this.actions.rerun(prompt, extra)),
      ];
      const wf = (extra as { extra_pnginfo?: { workflow?: unknown } } | undefined)?.extra_pnginfo?.workflow;
      if (wf)
        buttons.push(this.button('Open', 'Open its workflow on the canvas', () => this.actions.open(wf)));
      else if (prompt)
        buttons.push(this.button('Open', 'Open its graph on the canvas', () => this.actions.open(prompt)));
      buttons.push(
        this.button('×', 'Remove from history', () => {
          this.api.deleteHistory([id]).then(
            () => this.refresh(),
            (err: Error) => this.actions.toast(err.message, 'error'),
          );
        }),
      );
      const detail = h('div', { class: 'queue-detail' });
      const err = errorText(e);
      if (err) detail.append(h('div', { class: 'queue-error' }, err));
      for (const out of Object.values(e.outputs ?? {})) {
        for (const img of (out.images ?? []).slice(0, 4)) {
          detail.append(
            h('img', {
              class: 'queue-thumb',
              src: this.api.viewUrl(img),
              alt: img.filename,
              loading: 'lazy',
            }),
          );
        }
        for (const t of (out.text ?? []).slice(0, 2)) {
          detail.append(h('div', { class: 'queue-text' }, String(t).slice(0, 200)));
        }
      }
      list.append(
        this.item(
          status === 'success' ? 'done' : status,
          e.prompt ?? [0, id, {}],
          status === 'success' ? 'done' : status,
          buttons,
          detail,
        ),
      );
    }
    if (!list.children.length)
      list.append(h('li', { class: 'queue-empty' }, 'Nothing queued yet. Press Queue (Ctrl+Enter).'));
    this.body.append(list);
  }
}
