import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  captionSettings,
  describeSettings,
  overrideSamplerSettings,
  readSamplerSettings,
  textToImageSettings,
  WORKFLOWS_DIR,
} from '../../../nodes/eval/sampler-settings';

type Api = Record<string, { class_type: string; inputs: Record<string, unknown> }>;
const read = (name: string): Api =>
  JSON.parse(fs.readFileSync(path.join(WORKFLOWS_DIR, name), 'utf8')) as Api;
const nodeOf = (w: Api, type: string) => Object.values(w).find((n) => n.class_type === type)!;

function copyWorkflows(edit: (name: string, w: Api) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-settings-'));
  for (const name of ['text-to-image.json', 'caption.json', 'vqa.json']) {
    const w = read(name);
    edit(name, w);
    fs.writeFileSync(path.join(dir, name), JSON.stringify(w));
  }
  return dir;
}

describe('sampler settings from the shipped workflows', () => {
  it('reads the text-to-image, caption and VQA settings the workflows run with', () => {
    const s = readSamplerSettings();
    const t2i = read('text-to-image.json');
    const sched = nodeOf(t2i, 'FlowMatchScheduler').inputs;
    expect(s.t2i).toMatchObject({
      cfg: nodeOf(t2i, 'CFGGuider').inputs.cfg,
      steps: sched.steps,
      shift: sched.shift,
      denoise: sched.denoise,
      width: nodeOf(t2i, 'EmptyLatent').inputs.width,
      negative: { text: '' },
    });
    const cap = nodeOf(read('caption.json'), 'Caption').inputs;
    expect(s.caption).toEqual({
      prompt: cap.prompt,
      length: cap.length,
      steps: cap.steps,
      temperature: cap.temperature,
    });
    const vqa = nodeOf(read('vqa.json'), 'AnswerQuestion').inputs;
    expect(s.vqa).toEqual({
      promptFormat: vqa.prompt_format,
      vizwiz: vqa.vizwiz,
      length: vqa.length,
      steps: vqa.steps,
      temperature: vqa.temperature,
      reader: 'shapes',
      captionPrompt: vqa.caption_prompt,
      captionLength: vqa.caption_length,
    });
    expect(describeSettings(s)).toContain(`${s.t2i.steps} steps, shift ${s.t2i.shift}, CFG ${s.t2i.cfg}`);
  });

  it('follows edited workflows, and takes node defaults for inputs they leave out', () => {
    const dir = copyWorkflows((name, w) => {
      if (name === 'text-to-image.json') {
        nodeOf(w, 'FlowMatchScheduler').inputs.steps = 7;
        delete nodeOf(w, 'FlowMatchScheduler').inputs.shift;
      }
      if (name === 'vqa.json') nodeOf(w, 'AnswerQuestion').inputs.steps = 3;
    });
    const s = readSamplerSettings(dir);
    expect(s.t2i.steps).toBe(7);
    expect(s.t2i.shift).toBe(3); // FlowMatchScheduler's default
    expect(s.vqa.steps).toBe(3);
    expect(s.sources.vqa).toBe(path.join(dir, 'vqa.json'));
  });

  it('reads the self-check and its candidates, or one candidate without it', () => {
    const s = readSamplerSettings();
    const t2i = read('text-to-image.json');
    const check = nodeOf(t2i, 'SelfCheckSelect').inputs;
    expect(s.t2i.candidates).toBe(nodeOf(t2i, 'EmptyLatent').inputs.batch_size);
    expect(s.t2i.selfCheck).toMatchObject({ reader: check.reader, captionWeight: check.caption_weight });
    expect(describeSettings(s)).toContain(`best of ${s.t2i.candidates} by self-check`);
    expect(overrideSamplerSettings(s, 't2i.candidates=1').t2i.candidates).toBe(1);

    const dir = copyWorkflows((name, w) => {
      if (name !== 'text-to-image.json') return;
      for (const k of Object.keys(w)) if (w[k].class_type === 'SelfCheckSelect') delete w[k];
    });
    const plain = readSamplerSettings(dir);
    expect(plain.t2i.candidates).toBe(1);
    expect(plain.t2i.selfCheck).toBeUndefined();
    expect(() => overrideSamplerSettings(plain, 't2i.candidates=4')).toThrow(
      't2i.candidates above 1 needs a SelfCheckSelect in the text-to-image workflow',
    );
    const odd = copyWorkflows((name, w) => {
      if (name === 'text-to-image.json') nodeOf(w, 'SelfCheckSelect').inputs.reader = 'klingon';
    });
    expect(() => readSamplerSettings(odd)).toThrow(
      "text-to-image.json node #10 (SelfCheckSelect): input 'reader' is 'klingon', not one of shapes",
    );
  });

  it('reads the question reader, and no reader where the workflow names none', () => {
    const none = copyWorkflows((name, w) => {
      if (name === 'vqa.json') delete nodeOf(w, 'AnswerQuestion').inputs.reader;
    });
    expect(readSamplerSettings(none).vqa.reader).toBe('none');
    const vqaLine = (d: string) => d.split('\n').find((l) => l.startsWith('vqa:'));
    expect(vqaLine(describeSettings(readSamplerSettings(none)))).not.toContain('reader');
    expect(vqaLine(describeSettings(readSamplerSettings()))).toContain(
      'questions the shapes reader restates read',
    );
    const odd = copyWorkflows((name, w) => {
      if (name === 'vqa.json') nodeOf(w, 'AnswerQuestion').inputs.reader = 'klingon';
    });
    expect(() => readSamplerSettings(odd)).toThrow("input 'reader' is 'klingon', not one of none, shapes");
  });

  it('says which node and input it cannot read', () => {
    const dir = copyWorkflows((name, w) => {
      if (name === 'text-to-image.json') nodeOf(w, 'CFGGuider').inputs.cfg = ['99', 0];
      if (name === 'caption.json')
        for (const k of Object.keys(w)) if (w[k].class_type === 'Caption') delete w[k];
    });
    expect(() => textToImageSettings(path.join(dir, 'text-to-image.json'))).toThrow(
      "text-to-image.json node #4 (CFGGuider): input 'cfg' is linked; the evaluation reads it as a widget value",
    );
    expect(() => captionSettings(path.join(dir, 'caption.json'))).toThrow('caption.json has no Caption node');
    expect(() => readSamplerSettings(path.join(dir, 'nowhere'))).toThrow(
      'cannot read the sampler settings from',
    );
  });
});
