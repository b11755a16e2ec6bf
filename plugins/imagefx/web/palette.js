/* global window */
// Editor extension of ddit-pack-imagefx: draws the colours an imagefx.ShowPalette node received as swatches
// on the node itself. Written against the editor's extension hook (docs/writing-a-node-pack.md):
//   window.dditEditor.registerExtension({ name, nodeCreated(node), onExecuted(node, output) })
// where `node` is the litegraph node and `output` the node's UI output (here {palette, weights, text}).
// It is a classic script with no imports, so the editor may load it with <script> or import().
(function () {
  const NODE_TYPE = 'imagefx.ShowPalette';
  const STRIP = 36; // height of the swatch strip, in canvas pixels
  const MARGIN = 8;

  function drawSwatches(node, ctx) {
    const palette = node.imagefxPalette;
    if (!palette || palette.colors.length === 0) return;
    const width = node.size[0] - 2 * MARGIN;
    const top = node.size[1] - STRIP - MARGIN;
    let x = MARGIN;
    palette.colors.forEach(function (color, i) {
      const w =
        i === palette.colors.length - 1 ? MARGIN + width - x : Math.max(1, palette.weights[i] * width);
      ctx.fillStyle = color;
      ctx.fillRect(x, top, w, STRIP);
      x += w;
    });
    ctx.strokeStyle = '#0008';
    ctx.strokeRect(MARGIN, top, width, STRIP);
  }

  const extension = {
    name: 'imagefx.palette',
    nodeCreated: function (node) {
      if (node.type !== NODE_TYPE) return;
      const previous = node.onDrawForeground;
      node.onDrawForeground = function (ctx) {
        if (previous) previous.apply(this, arguments);
        drawSwatches(this, ctx);
      };
    },
    onExecuted: function (node, output) {
      if (node.type !== NODE_TYPE || !output || !Array.isArray(output.palette)) return;
      const colors = output.palette;
      const weights = Array.isArray(output.weights) ? output.weights : colors.map(() => 1 / colors.length);
      node.imagefxPalette = { colors: colors, weights: weights };
      node.size[1] = Math.max(node.size[1], (node.computeSize ? node.computeSize()[1] : 60) + STRIP + MARGIN);
      if (node.setDirtyCanvas) node.setDirtyCanvas(true, true);
    },
  };

  if (window.dditEditor && typeof window.dditEditor.registerExtension === 'function') {
    window.dditEditor.registerExtension(extension);
  } else {
    console.warn('imagefx: window.dditEditor.registerExtension is missing; palette swatches are off');
  }
})();
