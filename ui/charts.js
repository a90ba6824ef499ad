// Line charts in inline SVG, built with DOM calls (no library, no innerHTML): one per metric, x =
// PPO update, y = the metric, an optional dashed reference line (the KL target). Redrawn whole on
// every change; a run has at most a few thousand updates, which SVG draws in a millisecond or two.
import { num } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 360;
const HEIGHT = 150;
const MARGIN = { left: 64, right: 10, top: 10, bottom: 22 };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export class LineChart {
  /**
   * @param {string} metric key of docs/metrics.md (the chart's `data-metric`)
   * @param {string} title what people read above it
   */
  constructor(metric, title) {
    this.metric = metric;
    this.figure = document.createElement('figure');
    this.figure.className = 'chart';
    this.figure.dataset.metric = metric;
    const caption = document.createElement('figcaption');
    this.titleNode = document.createElement('span');
    this.titleNode.textContent = title;
    this.latestNode = document.createElement('span');
    this.latestNode.className = 'latest';
    caption.append(this.titleNode, this.latestNode);
    this.svg = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': title });
    this.figure.append(caption, this.svg);
  }

  /**
   * Draws `points` ([update, value], sorted by update) and, when given, a reference line at `ref`.
   * @param {Array<[number, number]>} points
   * @param {number | null} [ref]
   */
  draw(points, ref = null) {
    const finite = points.filter(([, y]) => Number.isFinite(y));
    this.figure.dataset.points = String(finite.length);
    this.latestNode.textContent = finite.length ? num(finite[finite.length - 1][1]) : '';
    const children = [];
    const plotW = WIDTH - MARGIN.left - MARGIN.right;
    const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    children.push(svg('rect', { class: 'plot', x: MARGIN.left, y: MARGIN.top, width: plotW, height: plotH }));
    if (finite.length === 0) {
      children.push(svg('text', { class: 'empty', x: MARGIN.left + plotW / 2, y: MARGIN.top + plotH / 2, 'text-anchor': 'middle' }, 'no updates yet'));
      this.svg.replaceChildren(...children);
      return;
    }
    const xs = finite.map(([x]) => x);
    const ys = finite.map(([, y]) => y);
    if (ref !== null && Number.isFinite(ref)) ys.push(ref);
    let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
    if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
    const pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
    const sx = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
    const sy = (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;
    for (const y of [y0, (y0 + y1) / 2, y1]) {
      children.push(svg('line', { class: 'grid', x1: MARGIN.left, x2: MARGIN.left + plotW, y1: sy(y), y2: sy(y) }));
      children.push(svg('text', { class: 'tick', x: MARGIN.left - 4, y: sy(y) + 4, 'text-anchor': 'end' }, num(y)));
    }
    children.push(svg('text', { class: 'tick', x: sx(x0), y: HEIGHT - 6, 'text-anchor': 'start' }, String(Math.round(x0))));
    children.push(svg('text', { class: 'tick', x: sx(x1), y: HEIGHT - 6, 'text-anchor': 'end' }, String(Math.round(x1))));
    children.push(svg('text', { class: 'tick', x: MARGIN.left + plotW / 2, y: HEIGHT - 6, 'text-anchor': 'middle' }, 'update'));
    if (ref !== null && Number.isFinite(ref)) {
      children.push(svg('line', { class: 'ref', x1: MARGIN.left, x2: MARGIN.left + plotW, y1: sy(ref), y2: sy(ref) }));
      children.push(svg('text', { class: 'ref-label', x: MARGIN.left + plotW - 4, y: sy(ref) - 4, 'text-anchor': 'end' }, `target ${num(ref)}`));
    }
    children.push(svg('polyline', { class: 'series', points: finite.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ') }));
    const [lx, ly] = finite[finite.length - 1];
    children.push(svg('circle', { class: 'last', cx: sx(lx), cy: sy(ly), r: 3 }));
    this.svg.replaceChildren(...children);
  }
}
