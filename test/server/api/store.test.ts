import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { JobStore, type JobRecord } from '../../../server/api/store';

function job(id: string, seq: number, number = seq): JobRecord {
  return {
    id,
    seq,
    number,
    status: 'pending',
    prompt: { '1': { class_type: 'Int', inputs: { value: seq } } },
    extra: {},
    outputsToExecute: ['1'],
    clientId: null,
    webhook: null,
    workflow: null,
    createdAt: 1000 + seq,
    startedAt: null,
    finishedAt: null,
    outputs: {},
    messages: [],
    error: null,
    worker: null,
    webhookStatus: null,
  };
}

describe('JobStore (SQLite)', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ddit-store-')), 'jobs.db');

  test('queue order, history paging as ComfyUI, filters, trimming, and reopening', () => {
    const store = new JobStore(file);
    for (let i = 1; i <= 5; i++) store.insert(job(`j${i}`, i, i === 4 ? -1 : i));
    expect(store.withStatus('pending').map((j) => j.id)).toEqual(['j4', 'j1', 'j2', 'j3', 'j5']);
    for (const id of ['j1', 'j2', 'j3']) {
      expect(store.markRunning(id, 2000, 0)).toBe(true);
      store.finish(id, {
        status: id === 'j2' ? 'error' : 'success',
        finishedAt: 2000 + Number(id.slice(1)) * 100,
        outputs: { '1': { text: [id] } },
        messages: [['execution_start', { prompt_id: id }]],
        error: null,
      });
    }
    expect(store.markRunning('j1', 1, 0)).toBe(false);
    expect(store.cancel('j5', 3000)).toBe(true);
    // Without an offset: the last max_items, oldest first.
    expect(store.history(2).map((j) => j.id)).toEqual(['j2', 'j3']);
    expect(store.history(1, 0).map((j) => j.id)).toEqual(['j1']);
    expect(store.history().map((j) => j.id)).toEqual(['j1', 'j2', 'j3']);
    const failed = store.query({ statuses: ['error'], order: 'asc' });
    expect(failed).toMatchObject({ total: 1, jobs: [{ id: 'j2', status: 'error' }] });
    const slow = store.query({ sortBy: 'execution_duration', order: 'desc', limit: 1 });
    expect(slow.jobs[0].id).toBe('j3');
    expect(slow.total).toBe(5);
    expect(store.counters()).toEqual({ seq: 5, number: 5 });
    store.trimHistory(2);
    expect(store.history().map((j) => j.id)).toEqual(['j2', 'j3']);
    store.close();

    const again = new JobStore(file);
    expect(again.get('j3')).toMatchObject({ status: 'success', outputs: { '1': { text: ['j3'] } } });
    expect(again.withStatus('pending').map((j) => j.id)).toEqual(['j4']);
    expect(again.get('j5')!.status).toBe('cancelled');
    again.deleteFinished(['j3']);
    again.deleteFinished(['j4']); // pending jobs are not history: kept
    expect(again.has('j3')).toBe(false);
    expect(again.has('j4')).toBe(true);
    again.clearHistory();
    expect(again.history()).toEqual([]);
    again.close();
  });
});
