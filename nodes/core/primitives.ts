import { defineNode } from '../../server/engine/define-node';

export const IntNode = defineNode({
  type: 'Int',
  displayName: 'Integer',
  category: 'utils/primitives',
  description: 'A whole number, to feed several inputs from one widget.',
  inputs: { value: { type: 'INT', default: 0, min: -(2 ** 53 - 1), max: 2 ** 53 - 1 } },
  outputs: { value: { type: 'INT' } },
  run: ({ value }) => ({ value }),
});

export const FloatNode = defineNode({
  type: 'Float',
  category: 'utils/primitives',
  description: 'A decimal number, to feed several inputs from one widget.',
  inputs: { value: { type: 'FLOAT', default: 0, step: 0.01 } },
  outputs: { value: { type: 'FLOAT' } },
  run: ({ value }) => ({ value }),
});

export const StringNode = defineNode({
  type: 'String',
  displayName: 'Text',
  category: 'utils/primitives',
  description: 'A piece of text (prompts, questions).',
  inputs: { text: { type: 'STRING', default: '', multiline: true } },
  outputs: { text: { type: 'STRING' } },
  run: ({ text }) => ({ text }),
});

export const BooleanNode = defineNode({
  type: 'Boolean',
  category: 'utils/primitives',
  description: 'A true/false switch.',
  inputs: { value: { type: 'BOOLEAN', default: false } },
  outputs: { value: { type: 'BOOLEAN' } },
  run: ({ value }) => ({ value }),
});

const INT_OPS = ['add', 'subtract', 'multiply', 'divide', 'modulo', 'power', 'min', 'max'] as const;

function applyOp(op: string, a: number, b: number): number {
  switch (op) {
    case 'add':
      return a + b;
    case 'subtract':
      return a - b;
    case 'multiply':
      return a * b;
    case 'divide':
      if (b === 0) throw new Error("input 'b': division by zero");
      return a / b;
    case 'modulo':
      if (b === 0) throw new Error("input 'b': modulo by zero");
      return a % b;
    case 'power':
      return a ** b;
    case 'min':
      return Math.min(a, b);
    case 'max':
      return Math.max(a, b);
    default:
      throw new Error(`input 'op': unknown operation ${op}`);
  }
}

export const IntMath = defineNode({
  type: 'IntMath',
  displayName: 'Integer Math',
  category: 'utils/math',
  description: 'a (op) b on whole numbers; division rounds toward zero.',
  inputs: {
    a: { type: 'INT', default: 0, min: -(2 ** 53 - 1), max: 2 ** 53 - 1 },
    b: { type: 'INT', default: 0, min: -(2 ** 53 - 1), max: 2 ** 53 - 1 },
    op: { type: 'COMBO', choices: INT_OPS, default: 'add' },
  },
  outputs: { value: { type: 'INT' } },
  run: ({ a, b, op }) => ({ value: Math.trunc(applyOp(op, a, b)) }),
});

export const FloatMath = defineNode({
  type: 'FloatMath',
  displayName: 'Float Math',
  category: 'utils/math',
  description: 'a (op) b on decimal numbers.',
  inputs: {
    a: { type: 'FLOAT', default: 0 },
    b: { type: 'FLOAT', default: 0 },
    op: { type: 'COMBO', choices: INT_OPS, default: 'add' },
  },
  outputs: { value: { type: 'FLOAT' } },
  run: ({ a, b, op }) => ({ value: applyOp(op, a, b) }),
});

export const ToString = defineNode({
  type: 'ToString',
  displayName: 'Number to Text',
  category: 'utils/text',
  description: 'Formats a number as text (fixed decimals when decimals ≥ 0).',
  inputs: {
    value: { type: 'INT,FLOAT', forceInput: true },
    decimals: { type: 'INT', default: -1, min: -1, max: 20 },
  },
  outputs: { text: { type: 'STRING' } },
  run: ({ value, decimals }) => {
    const n = Number(value);
    return { text: decimals >= 0 ? n.toFixed(decimals) : String(n) };
  },
});

export const TextConcat = defineNode({
  type: 'TextConcat',
  displayName: 'Concatenate Text',
  category: 'utils/text',
  description: 'Joins two pieces of text with a separator.',
  inputs: {
    a: { type: 'STRING', default: '' },
    b: { type: 'STRING', default: '' },
    separator: { type: 'STRING', default: ' ' },
  },
  outputs: { text: { type: 'STRING' } },
  run: ({ a, b, separator }) => ({ text: a && b ? a + separator + b : a + b }),
});

export const TextReplace = defineNode({
  type: 'TextReplace',
  displayName: 'Replace Text',
  category: 'utils/text',
  description: 'Replaces every occurrence of a substring.',
  inputs: {
    text: { type: 'STRING', default: '' },
    find: { type: 'STRING', default: '' },
    replace: { type: 'STRING', default: '' },
  },
  outputs: { text: { type: 'STRING' } },
  run: ({ text, find, replace }) => ({ text: find ? text.split(find).join(replace) : text }),
});
