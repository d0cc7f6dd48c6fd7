// jsdom lacks a few browser globals that @lumino/dragdrop touches when it loads.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {};
}
