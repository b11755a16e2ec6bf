import cliProgress from 'cli-progress';
import type { EngineEvent } from '../engine/events';
import type { ApiPrompt } from '../engine/types';

/**
 * Renders engine events on a terminal: a bar per running node (redrawn in place on a TTY, a line
 * per 25% otherwise), plus the loop counter of training runs.
 */
export class ProgressView {
  private bar: cliProgress.SingleBar | null = null;
  private current: string | null = null;
  private lastQuarter = -1;
  private readonly tty: boolean;

  constructor(
    private readonly prompt: ApiPrompt,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = !!out.isTTY;
  }

  private label(id: string): string {
    const n = this.prompt[id];
    const title = n?._meta?.title;
    return `#${id} ${n?.class_type ?? '?'}${title ? ` "${title}"` : ''}`;
  }

  private endBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }

  handle(e: EngineEvent): void {
    switch (e.type) {
      case 'executing': {
        const node = (e.data as { node: string | null }).node;
        this.endBar();
        this.current = node;
        this.lastQuarter = -1;
        if (node) this.out.write(`▶ ${this.label(node)}\n`);
        break;
      }
      case 'progress': {
        const { value, max, node } = e.data as { value: number; max: number; node: string };
        if (this.tty) {
          if (!this.bar || this.current !== node) {
            this.endBar();
            this.current = node;
            this.bar = new cliProgress.SingleBar(
              {
                format: '  {bar} {value}/{total} ({percentage}%) eta {eta_formatted}',
                stream: this.out,
                hideCursor: true,
              },
              cliProgress.Presets.shades_classic,
            );
            this.bar.start(max, value);
          } else {
            this.bar.setTotal(max);
            this.bar.update(value);
          }
        } else {
          const q = Math.floor((value / Math.max(1, max)) * 4);
          if (q !== this.lastQuarter) {
            this.lastQuarter = q;
            this.out.write(`  ${value}/${max}\n`);
          }
        }
        break;
      }
      case 'execution_cached': {
        const nodes = (e.data as { nodes: string[] }).nodes;
        if (nodes.length) this.out.write(`(cached: ${nodes.map((n) => '#' + n).join(' ')})\n`);
        break;
      }
      case 'ddit.loop': {
        const d = e.data as { iteration: number; total: number; stopped?: string };
        this.endBar();
        this.out.write(
          `— iteration ${d.iteration}/${d.total}${d.stopped ? ` (stopped: ${d.stopped})` : ''}\n`,
        );
        break;
      }
      case 'execution_success':
      case 'execution_error':
      case 'execution_interrupted':
        this.endBar();
        break;
    }
  }
}
