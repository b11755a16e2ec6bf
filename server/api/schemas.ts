/**
 * JSON Schemas of every request body. The routes check bodies against them (ajv) and /openapi.json
 * publishes the same objects, so the documentation cannot drift from what is enforced.
 */

const id = { type: 'string', minLength: 1, maxLength: 128 } as const;
const idList = { type: 'array', items: id, maxItems: 10000 } as const;

const queueOptions = {
  client_id: {
    type: 'string',
    maxLength: 256,
    description: 'WebSocket clientId that receives this job’s events',
  },
  prompt_id: {
    type: 'string',
    pattern: '^[A-Za-z0-9._:-]{1,128}$',
    description: 'Job id to use; minted (UUID) when absent',
  },
  number: { type: 'number', description: 'Queue priority: lower runs first' },
  front: { type: 'boolean', description: 'Queue ahead of everything already pending' },
  extra_data: {
    type: 'object',
    description: 'Passed to nodes (extra_pnginfo.workflow, loop: {iterations})',
    additionalProperties: true,
  },
  partial_execution_targets: {
    type: 'array',
    items: { type: 'string' },
    description: 'Only these output nodes (and what they need) run',
  },
  webhook: {
    type: 'string',
    maxLength: 2048,
    description:
      'URL that receives the result as JSON when the job ends (host must be allowed by the server)',
  },
} as const;

export const PromptRequest = {
  type: 'object',
  properties: {
    prompt: {
      type: 'object',
      description: 'API-format graph {id: {class_type, inputs}}; an editor (litegraph) workflow is converted',
    },
    ...queueOptions,
  },
  // ComfyUI clients send extra keys (auth tokens, frontend fields): accepted and ignored.
  additionalProperties: true,
} as const;

export const ClearDeleteRequest = {
  type: 'object',
  properties: {
    clear: { type: 'boolean' },
    delete: { ...idList, description: 'prompt ids' },
  },
  additionalProperties: false,
} as const;

export const InterruptRequest = {
  type: 'object',
  properties: { prompt_id: { ...id, description: 'Only interrupt this prompt, if it is the one running' } },
  additionalProperties: false,
} as const;

export const FreeRequest = {
  type: 'object',
  properties: { unload_models: { type: 'boolean' }, free_memory: { type: 'boolean' } },
  additionalProperties: false,
} as const;

export const JobsCancelRequest = {
  type: 'object',
  properties: { job_ids: { ...idList, minItems: 1 } },
  required: ['job_ids'],
  additionalProperties: false,
} as const;

export const PriorityRequest = {
  type: 'object',
  properties: {
    number: { type: 'number', description: 'New priority number (lower runs first)' },
    front: { type: 'boolean', const: true, description: 'Move ahead of every pending job' },
    back: { type: 'boolean', const: true, description: 'Move behind every pending job' },
  },
  oneOf: [{ required: ['number'] }, { required: ['front'] }, { required: ['back'] }],
  additionalProperties: false,
} as const;

export const ReorderRequest = {
  type: 'object',
  properties: {
    prompt_ids: { ...idList, minItems: 1, description: 'Pending jobs to put first, in this order' },
  },
  required: ['prompt_ids'],
  additionalProperties: false,
} as const;

export const WorkflowRunRequest = {
  type: 'object',
  properties: {
    overrides: {
      type: 'object',
      description: 'Input overrides {"<node id or title>.<input>": value}',
      additionalProperties: true,
    },
    ...queueOptions,
  },
  additionalProperties: false,
} as const;

export const WorkflowDocument = {
  type: 'object',
  description: 'A workflow in API format ({id: {class_type, inputs}}) or editor (litegraph) format',
} as const;
