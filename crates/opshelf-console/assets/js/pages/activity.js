// Activity: the console's audit stream (who changed what). Flag changes also appear in the
// flags event log with their diffs.
import { html, useData, Async, Section, fmtTime } from '../ui.js';
import { api } from '../api.js';

function Activity() {
  const state = useData(() => api('/console/api/audit'), [], 10000);
  return html`<h1>Activity</h1>
    <${Section} title="Changes made through the console">
      <${Async} state=${state} isEmpty=${(d) => !d.entries.length} empty="Nothing recorded yet.">${(d) => html`<div class="table-wrap" tabindex="0"><table>
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">On</th><th scope="col">Detail</th></tr></thead>
        <tbody>${d.entries.map((e) => html`<tr><td><small>${fmtTime(e.time_ms)}</small></td><th scope="row">${e.user}</th><td><code>${e.action}</code></td>
          <td><code>${e.target}</code></td><td><small>${e.detail === null ? '' : JSON.stringify(e.detail)}</small></td></tr>`)}</tbody>
      </table></div>`}<//>
    <//>`;
}

export default { id: 'activity', title: 'Activity', component: Activity };
