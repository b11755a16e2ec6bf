/** Plain-text tables of evaluation reports, GenEval-style for text-to-image. */
import { QUESTION_KINDS } from '../data/shapes/questions';
import { T2I_CATEGORIES } from './eval-set';
import { CAPTION_ATTRIBUTES } from './score-caption';
import { T2I_FAILURES } from './score-t2i';
import type { EvalReport } from './run-eval';

export interface FormatOptions {
  /** The same evaluation with the prompt switched off (CFG 0): printed beside the t2i scores, because a
   *  t2i score equal to its unconditional control means the prompt is not being followed. */
  control?: EvalReport;
}

const f3 = (v: number | undefined): string => (v === undefined ? '    -' : v.toFixed(3));

function table(title: string, header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [title, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatReport(report: EvalReport, options: FormatOptions = {}): string {
  const out: string[] = [
    `Eval set ${report.set.name} (v${report.set.version})${report.model ? ` — model ${report.model}` : ''}`,
  ];
  const ctl = options.control;
  if (report.t2i) {
    const t = report.t2i;
    const header = ctl?.t2i
      ? ['text-to-image', 'score', 'strict', 'uncond', 'n']
      : ['text-to-image', 'score', 'strict', 'n'];
    const counts = new Map<string, number>();
    for (const r of report.items)
      if (r.section === 't2i') counts.set(r.category, (counts.get(r.category) ?? 0) + 1);
    const rows = T2I_CATEGORIES.filter((c) => t.categories[c] !== undefined).map((c) => {
      const row = [c, f3(t.categories[c]), f3(t.strict?.categories[c])];
      if (ctl?.t2i) row.push(f3(ctl.t2i.categories[c]));
      row.push(String(counts.get(c) ?? 0));
      return row;
    });
    const overall = ['overall', f3(t.overall), f3(t.strict?.overall)];
    if (ctl?.t2i) overall.push(f3(ctl.t2i.overall));
    overall.push(String(t.n));
    rows.push(overall);
    out.push(
      '',
      table('Text-to-image (GenEval-style: overall = mean of categories)', header, rows),
      'strict: no objects beyond those the prompt names (every shapes caption names all of its scene)',
    );
    // a category has an entry only once one of its samples failed
    const failed = T2I_CATEGORIES.filter((c) => t.failures[c]);
    if (failed.length > 0) {
      const fr = failed.map((c) => [c, ...T2I_FAILURES.map((f) => String(t.failures[c]?.[f] ?? 0))]);
      out.push(
        '',
        table('Text-to-image failures (samples, by first reason)', ['category', ...T2I_FAILURES], fr),
        'shape: a named shape not drawn; count: too few or too many of a shape; binding: the named colours and ' +
          'shapes drawn on the wrong objects; attribute: a named colour or size not drawn; relation: objects right, ' +
          'placement wrong',
      );
    }
  }
  if (report.caption) {
    const c = report.caption;
    const rows = [
      ['exact scene', f3(c.exact_scene)],
      ['attributes (mean)', f3(c.attributes)],
    ];
    for (const a of CAPTION_ATTRIBUTES)
      if (c.by_attribute[a] !== undefined) rows.push([`  ${a}`, f3(c.by_attribute[a])]);
    out.push('', table(`Captioning (n = ${c.n})`, ['caption', 'score'], rows));
  }
  if (report.vqa) {
    const v = report.vqa;
    const rows = [...QUESTION_KINDS, 'other' as const]
      .filter((k) => v.by_question[k] !== undefined)
      .map((k) => [k, f3(v.by_question[k])]);
    rows.push(['overall', f3(v.overall)]);
    out.push('', table(`VQA (n = ${v.n}, exact match)`, ['question', 'accuracy'], rows));
  }
  return out.join('\n');
}

/** The text-sampler steps ablation (the paper's Table 5): VQA accuracy and caption scores against steps. */
export function formatStepsAblation(rows: { steps: number; report: EvalReport }[]): string {
  return table(
    'Text sampler steps ablation',
    ['steps', 'VQA', 'caption exact', 'caption attributes'],
    rows.map(({ steps, report }) => [
      String(steps),
      f3(report.vqa?.overall),
      f3(report.caption?.exact_scene),
      f3(report.caption?.attributes),
    ]),
  );
}

/**
 * The report as issue 5's JSON (`--json OUT`); `extra` adds top-level fields beside issue 5's (the
 * unconditional control, the steps ablation, how the run was made).
 */
export function reportJson(report: EvalReport, extra: Record<string, unknown> = {}): string {
  return `${JSON.stringify({ ...report, ...extra }, null, 2)}\n`;
}
