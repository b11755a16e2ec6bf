import * as S from './schemas';

/**
 * The API, described by hand (OpenAPI 3.0). Request bodies reuse the schemas the routes enforce. Every path
 * is also served under /api (ComfyUI serves both; its current frontend uses /api).
 */

type Obj = Record<string, unknown>;

const ref = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Obj, description = 'OK'): Obj => ({
  description,
  content: { 'application/json': { schema } },
});
const body = (schema: Obj, required = true): Obj => ({
  required,
  content: { 'application/json': { schema } },
});
const err = (description: string): Obj => json(ref('Error'), description);
const ok = { description: 'OK (empty body)' };
const idParam = (name: string, description: string): Obj => ({
  name,
  in: 'path',
  required: true,
  schema: { type: 'string' },
  description,
});
const query = (name: string, schema: Obj, description: string): Obj => ({
  name,
  in: 'query',
  schema,
  description,
});

const paths: Obj = {
  '/prompt': {
    get: {
      summary: 'Queue summary',
      tags: ['queue'],
      responses: {
        200: json({
          type: 'object',
          properties: { exec_info: { type: 'object', properties: { queue_remaining: { type: 'integer' } } } },
        }),
      },
    },
    post: {
      summary: 'Queue a workflow (ComfyUI compatible)',
      description:
        'Validates the graph and queues it. On success `node_errors` may still list outputs that failed validation and were dropped. Events for the job go to the WebSocket client named by `client_id`.',
      tags: ['queue'],
      requestBody: body(S.PromptRequest as unknown as Obj),
      responses: {
        200: json(ref('PromptQueued')),
        400: json(ref('PromptError'), 'Invalid prompt: ComfyUI-shaped `error` and `node_errors`'),
      },
    },
  },
  '/queue': {
    get: {
      summary: 'Running and pending jobs',
      tags: ['queue'],
      responses: {
        200: json({
          type: 'object',
          properties: {
            queue_running: { type: 'array', items: ref('QueueItem') },
            queue_pending: { type: 'array', items: ref('QueueItem') },
          },
        }),
      },
    },
    post: {
      summary: 'Clear the pending queue and/or delete pending jobs',
      tags: ['queue'],
      requestBody: body(S.ClearDeleteRequest as unknown as Obj),
      responses: { 200: ok, 400: err('Invalid body') },
    },
  },
  '/queue/reorder': {
    post: {
      summary: 'Put pending jobs at the head of the queue, in the given order',
      tags: ['queue'],
      requestBody: body(S.ReorderRequest as unknown as Obj),
      responses: {
        200: json({
          type: 'object',
          properties: { queue_pending: { type: 'array', items: ref('QueueItem') } },
        }),
        404: err('Unknown job'),
        409: err('A job is not pending'),
      },
    },
  },
  '/interrupt': {
    post: {
      summary: 'Interrupt the running job (or only the given one)',
      description:
        'Cooperative first (the node sees its abort signal); a worker that has not stopped after the grace period is killed and restarted, and the job ends as interrupted.',
      tags: ['queue'],
      requestBody: body(S.InterruptRequest as unknown as Obj, false),
      responses: {
        200: json({
          type: 'object',
          properties: { interrupted: { type: 'array', items: { type: 'string' } } },
        }),
      },
    },
  },
  '/free': {
    post: {
      summary: 'Free the workers’ caches / unload models (applied between jobs)',
      tags: ['queue'],
      requestBody: body(S.FreeRequest as unknown as Obj, false),
      responses: { 200: ok },
    },
  },
  '/history': {
    get: {
      summary: 'Finished jobs, oldest first (the last max_items when no offset is given)',
      tags: ['history'],
      parameters: [
        query('max_items', { type: 'integer', minimum: 0 }, 'How many entries'),
        query('offset', { type: 'integer', minimum: -1 }, 'Start index'),
      ],
      responses: { 200: json({ type: 'object', additionalProperties: ref('HistoryEntry') }) },
    },
    post: {
      summary: 'Clear the history and/or delete entries',
      tags: ['history'],
      requestBody: body(S.ClearDeleteRequest as unknown as Obj),
      responses: { 200: ok },
    },
  },
  '/history/{prompt_id}': {
    get: {
      summary: 'One finished job ({} when unknown or not finished)',
      tags: ['history'],
      parameters: [idParam('prompt_id', 'Job id')],
      responses: { 200: json({ type: 'object', additionalProperties: ref('HistoryEntry') }) },
    },
  },
  '/jobs': {
    get: {
      summary: 'Jobs across queue and history, filtered, sorted and paged',
      tags: ['jobs'],
      parameters: [
        query(
          'status',
          { type: 'string' },
          'Comma list of pending, in_progress, completed, failed, cancelled',
        ),
        query('sort_by', { type: 'string', enum: ['created_at', 'execution_duration'] }, 'Sort key'),
        query('sort_order', { type: 'string', enum: ['asc', 'desc'] }, 'Sort order (default desc)'),
        query('limit', { type: 'integer', minimum: 1, maximum: 10000 }, 'Page size'),
        query('offset', { type: 'integer', minimum: 0 }, 'Page start'),
      ],
      responses: {
        200: json({
          type: 'object',
          properties: {
            jobs: { type: 'array', items: ref('Job') },
            pagination: {
              type: 'object',
              properties: {
                offset: { type: 'integer' },
                limit: { type: 'integer', nullable: true },
                total: { type: 'integer' },
                has_more: { type: 'boolean' },
              },
            },
          },
        }),
        400: err('Bad filter'),
      },
    },
  },
  '/jobs/cancel': {
    post: {
      summary: 'Cancel several jobs (pending: removed; running: interrupted)',
      tags: ['jobs'],
      requestBody: body(S.JobsCancelRequest as unknown as Obj),
      responses: {
        200: json({
          type: 'object',
          properties: { cancelled: { type: 'array', items: { type: 'string' } } },
        }),
      },
    },
  },
  '/jobs/{id}': {
    get: {
      summary: 'One job with its outputs, status messages and workflow',
      tags: ['jobs'],
      parameters: [idParam('id', 'Job id')],
      responses: { 200: json(ref('Job')), 404: err('Unknown job') },
    },
  },
  '/jobs/{id}/cancel': {
    post: {
      summary: 'Cancel one job (idempotent)',
      tags: ['jobs'],
      parameters: [idParam('id', 'Job id')],
      responses: {
        200: json({ type: 'object', properties: { cancelled: { type: 'boolean' } } }),
        404: err('Unknown job'),
      },
    },
  },
  '/jobs/{id}/priority': {
    post: {
      summary: 'Change the priority of a pending job',
      tags: ['jobs'],
      parameters: [idParam('id', 'Job id')],
      requestBody: body(S.PriorityRequest as unknown as Obj),
      responses: { 200: json(ref('Job')), 404: err('Unknown job'), 409: err('The job is not pending') },
    },
  },
  '/object_info': {
    get: {
      summary: 'Every node type (ComfyUI V1 shape)',
      tags: ['nodes'],
      responses: { 200: json({ type: 'object', additionalProperties: ref('NodeInfo') }) },
    },
  },
  '/object_info/{type}': {
    get: {
      summary: 'One node type ({} when unknown)',
      tags: ['nodes'],
      parameters: [idParam('type', 'Node type')],
      responses: { 200: json({ type: 'object', additionalProperties: ref('NodeInfo') }) },
    },
  },
  '/view': {
    get: {
      summary: 'Download an output, input or temp file',
      description:
        'Confined to its folder: absolute paths, `..` and symbolic links leading out are refused. Types a browser could execute are sent as attachments.',
      tags: ['files'],
      parameters: [
        { ...query('filename', { type: 'string' }, 'File name'), required: true },
        query('type', { type: 'string', enum: ['output', 'input', 'temp'] }, 'Folder (default output)'),
        query('subfolder', { type: 'string' }, 'Sub-folder inside it'),
      ],
      responses: {
        200: {
          description: 'The file',
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        },
        400: err('Bad path'),
        403: err('Path leaves its folder'),
        404: err('No such file'),
      },
    },
  },
  '/upload/image': {
    post: {
      summary: 'Upload an image into input/ (or temp/, output/)',
      description:
        'The content must be the image type its name claims (PNG, JPEG, WebP, GIF, BMP; checked by signature). A different file with the same name gets a " (n)" suffix unless overwrite is set; the same file keeps its name.',
      tags: ['files'],
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['image'],
              properties: {
                image: { type: 'string', format: 'binary' },
                type: { type: 'string', enum: ['input', 'temp', 'output'] },
                subfolder: { type: 'string' },
                overwrite: { type: 'string', enum: ['true', 'false', '1', '0'] },
              },
            },
          },
        },
      },
      responses: {
        200: json({
          type: 'object',
          properties: { name: { type: 'string' }, subfolder: { type: 'string' }, type: { type: 'string' } },
        }),
        400: err('Bad upload'),
        413: err('Too large'),
        415: err('Not the image type it claims'),
      },
    },
  },
  '/models': {
    get: {
      summary: 'Model folders',
      tags: ['models'],
      responses: { 200: json({ type: 'array', items: { type: 'string' } }) },
    },
  },
  '/models/{folder}': {
    get: {
      summary: 'Files in a model folder',
      tags: ['models'],
      parameters: [idParam('folder', 'Folder')],
      responses: { 200: json({ type: 'array', items: { type: 'string' } }), 404: err('Unknown folder') },
    },
  },
  '/system_stats': {
    get: {
      summary: 'System, devices, tensor runtime and workers',
      tags: ['system'],
      responses: {
        200: json({
          type: 'object',
          properties: {
            system: { type: 'object' },
            devices: { type: 'array', items: { type: 'object' } },
            runtime: { type: 'object', nullable: true },
            workers: { type: 'array', items: { type: 'object' } },
          },
        }),
      },
    },
  },
  '/features': {
    get: {
      summary: 'Server feature flags (also sent over the WebSocket in reply to a client’s feature_flags)',
      tags: ['system'],
      responses: {
        200: json({
          type: 'object',
          properties: {
            supports_preview_metadata: { type: 'boolean' },
            max_upload_size: { type: 'integer' },
          },
        }),
      },
    },
  },
  '/plugins': {
    get: {
      summary: 'Loaded node packs and plugins',
      tags: ['system'],
      responses: { 200: json({ type: 'object' }) },
    },
  },
  '/extensions': {
    get: {
      summary: 'Editor extension scripts of plugins',
      tags: ['system'],
      responses: { 200: json({ type: 'array', items: { type: 'string' } }) },
    },
  },
  '/embeddings': {
    get: {
      summary: 'Textual-inversion embeddings (none; ComfyUI compatibility)',
      tags: ['system'],
      responses: { 200: json({ type: 'array', items: { type: 'string' } }) },
    },
  },
  '/workflows': {
    get: {
      summary: 'Saved workflows',
      tags: ['workflows'],
      responses: {
        200: json({
          type: 'array',
          items: {
            type: 'object',
            properties: { name: { type: 'string' }, size: { type: 'integer' }, modified: { type: 'number' } },
          },
        }),
      },
    },
  },
  '/workflows/{name}': {
    parameters: [idParam('name', "Workflow name; may contain '/' (e.g. examples/arithmetic), no '.json'")],
    get: {
      summary: 'Read a saved workflow',
      tags: ['workflows'],
      responses: { 200: json(S.WorkflowDocument as unknown as Obj), 404: err('Unknown workflow') },
    },
    put: {
      summary: 'Save a workflow (API or editor format)',
      tags: ['workflows'],
      requestBody: body(S.WorkflowDocument as unknown as Obj),
      responses: {
        200: json({ type: 'object' }, 'Replaced'),
        201: json({ type: 'object' }, 'Created'),
        400: err('Not a workflow or a bad name'),
      },
    },
    delete: {
      summary: 'Delete a saved workflow',
      tags: ['workflows'],
      responses: { 200: json({ type: 'object' }), 404: err('Unknown workflow') },
    },
  },
  '/workflows/{name}/run': {
    post: {
      summary: 'Run a saved workflow with input overrides',
      description: 'Overrides are keyed "<node id or title>.<input>". Otherwise answers like POST /prompt.',
      tags: ['workflows'],
      parameters: [idParam('name', 'Workflow name')],
      requestBody: body(S.WorkflowRunRequest as unknown as Obj, false),
      responses: {
        200: json(ref('PromptQueued')),
        400: json(ref('PromptError')),
        404: err('Unknown workflow'),
      },
    },
  },
  '/openapi.json': {
    get: { summary: 'This document', tags: ['system'], responses: { 200: json({ type: 'object' }) } },
  },
  '/ws': {
    get: {
      summary: 'WebSocket (upgrade): events of jobs',
      description: [
        'Connect to /ws?clientId=<id> and pass the same id as client_id when queueing. JSON frames are {type, data}:',
        'status, execution_start, execution_cached, executing (node null = the job finished and its history is written), progress,',
        'progress_state, executed, execution_success, execution_error, execution_interrupted, and ours: ddit.loop, ddit.* node messages.',
        'Binary frames (big-endian u32 header): type 1 = [1][format 1 JPEG / 2 PNG][image];',
        'type 4 = [4][metadata length][metadata JSON {node_id, prompt_id, display_node_id, real_node_id, image_type}][image],',
        'sent instead of type 1 to clients whose first message is {"type":"feature_flags","data":{"supports_preview_metadata":true}}.',
      ].join(' '),
      tags: ['websocket'],
      parameters: [
        query(
          'clientId',
          { type: 'string' },
          'Client id (minted when absent; sent back in the first status)',
        ),
      ],
      responses: { 101: { description: 'Switching protocols' } },
    },
  },
};

const components: Obj = {
  securitySchemes: {
    bearer: {
      type: 'http',
      scheme: 'bearer',
      description: 'Required when the server was started with a token',
    },
    queryToken: { type: 'apiKey', in: 'query', name: 'token' },
  },
  schemas: {
    ErrorObject: {
      type: 'object',
      properties: {
        type: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'string' },
        extra_info: { type: 'object' },
      },
    },
    Error: { type: 'object', properties: { error: ref('ErrorObject') } },
    PromptQueued: {
      type: 'object',
      properties: {
        prompt_id: { type: 'string' },
        number: { type: 'number' },
        node_errors: { type: 'object', additionalProperties: ref('NodeError') },
      },
    },
    PromptError: {
      type: 'object',
      properties: {
        error: ref('ErrorObject'),
        node_errors: { type: 'object', additionalProperties: ref('NodeError') },
      },
    },
    NodeError: {
      type: 'object',
      properties: {
        class_type: { type: 'string' },
        dependent_outputs: { type: 'array', items: { type: 'string' } },
        errors: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              type: {
                type: 'string',
                description:
                  'required_input_missing, bad_linked_input, return_type_mismatch, invalid_input_type, value_smaller_than_min, value_bigger_than_max, value_not_in_list, custom_validation_failed, dependency_cycle',
              },
              message: { type: 'string' },
              details: { type: 'string' },
              extra_info: { type: 'object' },
            },
          },
        },
      },
    },
    QueueItem: {
      type: 'array',
      description: '[number, prompt_id, prompt, extra_data, outputs_to_execute]',
      items: {},
    },
    HistoryEntry: {
      type: 'object',
      properties: {
        prompt: ref('QueueItem'),
        outputs: {
          type: 'object',
          description: 'UI output per node: {images: [{filename, subfolder, type}], text: [...]}',
        },
        status: {
          type: 'object',
          properties: {
            status_str: { type: 'string', enum: ['success', 'error'] },
            completed: { type: 'boolean' },
            messages: { type: 'array', items: { type: 'array', items: {} } },
          },
        },
        meta: { type: 'object' },
      },
    },
    Job: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        status: { type: 'string', enum: ['pending', 'in_progress', 'completed', 'failed', 'cancelled'] },
        state: {
          type: 'string',
          enum: ['pending', 'running', 'success', 'error', 'interrupted', 'cancelled'],
        },
        create_time: { type: 'integer' },
        execution_start_time: { type: 'integer', nullable: true },
        execution_end_time: { type: 'integer', nullable: true },
        execution_duration: { type: 'number', nullable: true },
        error_message: { type: 'string', nullable: true },
        outputs_count: { type: 'integer' },
        preview_output: { type: 'object', nullable: true },
        number: { type: 'number' },
        queue_position: { type: 'integer' },
        workflow_name: { type: 'string', nullable: true },
        webhook_status: { type: 'string', nullable: true },
      },
    },
    NodeInfo: {
      type: 'object',
      description:
        'ComfyUI V1 node definition: input {required, optional}, input_order, output, output_name, category, output_node…',
    },
  },
};

export function openApiDocument(version: string): Obj {
  return {
    openapi: '3.0.3',
    info: {
      title: 'ddit-studio API',
      version,
      description:
        'ComfyUI-compatible workflow API (every path is also served under /api), plus a persistent job history, queue priority, completion webhooks, a saved-workflow library and token authentication.',
    },
    servers: [{ url: '/' }, { url: '/api' }],
    security: [{}, { bearer: [] }, { queryToken: [] }],
    tags: ['queue', 'history', 'jobs', 'nodes', 'files', 'models', 'workflows', 'system', 'websocket'].map(
      (name) => ({ name }),
    ),
    paths,
    components,
  };
}
