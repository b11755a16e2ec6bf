/**
 * The node palette (double-click on the canvas, or releasing a dragged link on empty space): type to
 * search every node type by name, category or description; arrows and Enter pick. Also the
 * category menu of the toolbar.
 */
import { LiteGraph } from '@comfyorg/litegraph';
import { categoryTree, searchNodes, type CategoryNode, type NodeSpec } from '../node-defs';
import { clear, h } from './dom';

export interface LinkFilter {
  /** 'in': the new node needs an input accepting `type`; 'out': an output producing it. */
  direction: 'in' | 'out';
  type: string;
}

export interface PaletteOpen {
  clientX: number;
  clientY: number;
  filter?: LinkFilter;
  onPick(spec: NodeSpec): void;
}

function accepts(spec: NodeSpec, f: LinkFilter): boolean {
  if (f.direction === 'in') {
    const inputs = [...spec.sockets.map((s) => s.type), ...spec.widgets.map((w) => w.kind)];
    return inputs.some((t) => LiteGraph.isValidConnection(f.type, t));
  }
  return spec.outputs.some((o) => LiteGraph.isValidConnection(o.type, f.type));
}

export class NodePalette {
  private el: HTMLElement | null = null;

  constructor(private readonly specs: () => NodeSpec[]) {}

  get isOpen(): boolean {
    return !!this.el;
  }

  open(o: PaletteOpen): void {
    this.close();
    const all = o.filter ? this.specs().filter((s) => accepts(s, o.filter!)) : this.specs();
    const input = h('input', {
      type: 'search',
      class: 'palette-input',
      placeholder: o.filter ? `Search nodes for ${o.filter.type}…` : 'Search nodes…',
      'aria-label': 'Search nodes',
      'data-testid': 'palette-input',
    });
    const list = h('ul', { class: 'palette-list', role: 'listbox', 'data-testid': 'palette-list' });
    const el = h('div', { class: 'palette', 'data-testid': 'palette' }, input, list);
    let results: NodeSpec[] = [];
    let selected = 0;
    const render = () => {
      results = searchNodes(all, input.value, 60);
      selected = Math.min(selected, Math.max(0, results.length - 1));
      clear(list);
      results.forEach((s, i) => {
        const li = h(
          'li',
          {
            class: `palette-item${i === selected ? ' selected' : ''}`,
            role: 'option',
            'data-type': s.type,
            title: s.description,
          },
          h('span', { class: 'palette-title' }, s.title),
          h('span', { class: 'palette-cat' }, s.category),
        );
        li.addEventListener('pointerdown', (e) => {
          e.preventDefault();
          pick(s);
        });
        list.append(li);
      });
      if (!results.length) list.append(h('li', { class: 'palette-empty' }, 'No matching node'));
    };
    const pick = (s: NodeSpec) => {
      this.close();
      o.onPick(s);
    };
    input.addEventListener('input', () => {
      selected = 0;
      render();
    });
    input.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        selected =
          (selected + (e.key === 'ArrowDown' ? 1 : -1) + results.length) % Math.max(1, results.length);
        render();
        list.children[selected]?.scrollIntoView({ block: 'nearest' });
      } else if (e.key === 'Enter') {
        e.preventDefault();
        if (results[selected]) pick(results[selected]);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        this.close();
      }
      e.stopPropagation();
    });
    const x = Math.min(o.clientX, window.innerWidth - 340);
    const y = Math.min(o.clientY, window.innerHeight - 380);
    el.style.left = `${Math.max(8, x)}px`;
    el.style.top = `${Math.max(8, y)}px`;
    document.body.append(el);
    this.el = el;
    render();
    const outside = (e: PointerEvent) => {
      if (!el.contains(e.target as Node)) this.close();
    };
    setTimeout(() => document.addEventListener('pointerdown', outside, true), 0);
    this.cleanup = () => document.removeEventListener('pointerdown', outside, true);
    requestAnimationFrame(() => input.focus());
  }

  private cleanup: () => void = () => {};

  close(): void {
    this.cleanup();
    this.el?.remove();
    this.el = null;
  }
}

/** The toolbar's category menu: categories nest by '/', hovering opens a submenu, clicking adds. */
export function buildCategoryMenu(specs: NodeSpec[], onPick: (spec: NodeSpec) => void): HTMLElement {
  const renderLevel = (c: CategoryNode): HTMLElement => {
    const ul = h('ul', { class: 'menu-level' });
    for (const child of c.children) {
      const label = h('span', { class: 'menu-cat-label' }, child.name);
      const li = h('li', { class: 'menu-cat', 'data-category': child.path }, label, renderLevel(child));
      label.addEventListener('click', (e) => {
        e.stopPropagation();
        for (const sib of ul.querySelectorAll(':scope > li.open'))
          if (sib !== li) sib.classList.remove('open');
        li.classList.toggle('open');
      });
      ul.append(li);
    }
    for (const s of c.nodes) {
      const li = h('li', { class: 'menu-node', 'data-type': s.type, title: s.description }, s.title);
      li.addEventListener('click', (e) => {
        e.stopPropagation();
        onPick(s);
      });
      ul.append(li);
    }
    return ul;
  };
  return renderLevel(categoryTree(specs));
}
