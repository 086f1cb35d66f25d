// A time-series chart (uPlot, loaded as a classic script: window.uPlot), sized to its box,
// with a text summary for screen readers.
import { html, useEffect, useRef } from './ui.js';

const COLORS = ['#1d4ed8', '#b91c1c', '#047857', '#a16207'];

// `times` in ms; `series` = [{label, values}].
export function Chart({ title, times, series, height = 180, summary }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const el = box.current;
    if (!el || !window.uPlot || times.length < 2) return undefined;
    const data = [times.map((t) => t / 1000), ...series.map((s) => s.values)];
    const opts = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2 }))],
      axes: [{ stroke: '#334155' }, { stroke: '#334155' }],
    };
    if (plot.current) plot.current.destroy();
    plot.current = new window.uPlot(opts, data, el);
    const ro = new ResizeObserver(() => {
      if (plot.current) plot.current.setSize({ width: Math.max(200, el.clientWidth), height });
    });
    ro.observe(el);
    return () => { ro.disconnect(); if (plot.current) { plot.current.destroy(); plot.current = null; } };
  }, [times, series, height]);
  const text = summary || (series.length && times.length
    ? series.map((s) => `${s.label}: ${s.values[s.values.length - 1]}`).join(', ')
    : 'no data yet');
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    ${times.length < 2
      ? html`<p class="state empty">Not enough samples yet for a trend (one every 5 s).</p>`
      : html`<div ref=${box} class="chart-box" role="img" aria-label=${`${title}: ${text}`}></div>`}
  </figure>`;
}

// A tiny inline trend for a metric card.
export function Spark({ points, label }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || !window.uPlot || points.length < 2) return undefined;
    const u = new window.uPlot({
      width: 120, height: 32, legend: { show: false }, cursor: { show: false },
      axes: [{ show: false }, { show: false }], scales: { x: { time: false } },
      series: [{}, { stroke: '#1d4ed8', width: 1.5 }],
    }, [points.map((p, i) => i), points.map((p) => p[1])], el);
    return () => u.destroy();
  }, [points]);
  if (points.length < 2) return html`<span class="muted">no trend yet</span>`;
  return html`<span ref=${ref} class="spark" role="img" aria-label=${`trend of ${label}: ${points.length} points, last ${points[points.length - 1][1]}`}></span>`;
}
